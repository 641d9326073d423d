# lpbake or lpwatch (pname), built from this workspace by nixpkgs' rustPlatform
# (`nix build .#lpbake`, `.#lpwatch`), with the crates Cargo.lock pins. The workspace's tests
# need a Docker engine, a registry and qemu (`make test`); they do not run in the Nix sandbox.
{ lib, rustPlatform, pname }:
let
  workspace = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  inherit pname;
  inherit (workspace.workspace.package) version;
  src = lib.fileset.toSource {
    root = ../.;
    # Every workspace member (cargo reads them all) and nothing else.
    fileset = lib.fileset.unions ([ ../Cargo.toml ../Cargo.lock ] ++ map (m: ../. + "/${m}") workspace.workspace.members);
  };
  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [ "--package" pname ];
  doCheck = false;
  meta = {
    description = {
      lpbake = "Reproducible Livepeer node appliances: OCI images, an AMI-ready disk, a compose testnet";
      lpwatch = "Livepeer node watchdog: health, metrics, reward and balance watch, RPC failover";
    }.${pname};
    license = lib.licenses.asl20;
    mainProgram = pname;
    platforms = lib.platforms.linux;
  };
}
