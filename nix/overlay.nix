# The flake's overlay: lpbake and lpwatch from this workspace, and livepeer from the release
# lpbake.lock pins when it pins one (nix/lock.nix), else nixpkgs' own livepeer.
final: prev:
let
  pin = import ./lock.nix { };
  spec = builtins.fromTOML (builtins.readFile ../images/livepeer.toml);
in
{
  lpbake = final.callPackage ./package.nix { pname = "lpbake"; };
  lpwatch = final.callPackage ./package.nix { pname = "lpwatch"; };
}
// prev.lib.optionalAttrs (pin != null) {
  livepeer = final.callPackage ./livepeer.nix { inherit pin; inherit (spec.component) version; };
}
