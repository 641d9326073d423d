# livepeer from the release tarball lpbake.lock pins (nix/lock.nix gives `pin`): upstream's
# linux-amd64 build, its ELF interpreter and libraries pointed at nixpkgs' by autoPatchelfHook.
{ lib, stdenv, fetchurl, autoPatchelfHook, pin, version }:
stdenv.mkDerivation {
  pname = "livepeer";
  inherit version;
  src = fetchurl pin;
  sourceRoot = "livepeer-linux-amd64";
  nativeBuildInputs = [ autoPatchelfHook ];
  buildInputs = [ stdenv.cc.cc.lib ];
  installPhase = ''
    runHook preInstall
    install -D -m 0755 -t $out/bin livepeer livepeer_cli
    runHook postInstall
  '';
  meta = {
    description = "Livepeer node (go-livepeer release build)";
    homepage = "https://github.com/livepeer/go-livepeer";
    license = lib.licenses.mit;
    mainProgram = "livepeer";
    platforms = [ "x86_64-linux" ];
    sourceProvenance = [ lib.sourceTypes.binaryNativeCode ];
  };
}
