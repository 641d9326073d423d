# `nix flake check` on x86_64-linux: the VM tests (nixpkgs' runNixOSTest: real NixOS nodes
# under qemu) and `stubs-agree`, which evaluates every parity node with the real NixOS options
# and checks that everything the CI evaluation with nix/tests/options.nix sees is there, the
# same (NixOS adds its own users, mounts, sysctls and PATH: those extras are allowed).
{ nixpkgs, self, pkgs }:
let
  inherit (nixpkgs) lib;
  test = file: pkgs.testers.runNixOSTest (import file { inherit self; });
  parity = import ./parity.nix { inherit lib; };
  nodes = [ "orchestrator-transcoder" "orchestrator" "transcoder" "gateway" ];
  withStubs = node: (lib.evalModules {
    modules = [ ./options.nix ../../modules node { _module.args.pkgs = import ./stub-pkgs.nix { inherit lib; }; } ];
  }).config;
  onNixOS = node: (lib.nixosSystem {
    modules = [
      self.nixosModules.default
      node
      {
        nixpkgs.hostPlatform = pkgs.stdenv.hostPlatform.system;
        nixpkgs.overlays = [ self.overlays.default ];
        system.stateVersion = lib.trivial.release;
        boot.loader.grub.enable = false;
        fileSystems."/" = { device = "/dev/vda"; fsType = "ext4"; };
      }
    ];
  }).config;
  # Leaves of `want` that `have` lacks or holds otherwise, by attribute path.
  missing = path: want: have:
    if builtins.isAttrs want && builtins.isAttrs have then
      lib.concatMap (k: if have ? ${k} then missing (path ++ [ k ]) want.${k} have.${k} else [ "${lib.showAttrPath (path ++ [ k ])}: not set on NixOS" ])
        (builtins.attrNames want)
    else lib.optional (want != have) "${lib.showAttrPath path}: ${builtins.toJSON want} here, ${builtins.toJSON have} on NixOS";
  disagreements = lib.concatMap
    (n: let f = ./nodes/${n}.nix; in map (d: "${n}: ${d}") (missing [ ] (parity.fromConfig (withStubs f)) (parity.fromConfig (onNixOS f))))
    nodes;
in
{
  vm-orchestrator-transcoder = test ./vm-orchestrator-transcoder.nix;
  vm-remote-transcoder = test ./vm-remote-transcoder.nix;
  vm-lpwatch-unhealthy = test ./vm-lpwatch.nix;
  stubs-agree =
    if disagreements == [ ] then pkgs.runCommand "lpbake-stubs-agree" { } "touch $out"
    else throw "nix/tests/options.nix and NixOS disagree:\n${lib.concatStringsSep "\n" disagreements}";
}
