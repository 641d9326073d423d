# `nix build .#ami`: a NixOS Amazon image (a VHD and nix-support/image-info.json, nixpkgs'
# amazon-image module) of the repository's appliance: nix/tests/nodes/orchestrator-transcoder.nix
# is images/appliance.toml as a NixOS configuration (the parity test keeps the two the same).
# Its data volume (label lp-data) carries the node's identity and credentials, as on lpbake's
# own disk image.
{ nixpkgs, self }:
nixpkgs.lib.nixosSystem {
  modules = [
    "${nixpkgs}/nixos/maintainers/scripts/ec2/amazon-image.nix"
    self.nixosModules.default
    ./tests/nodes/orchestrator-transcoder.nix
    ({ config, ... }: {
      nixpkgs.hostPlatform = "x86_64-linux";
      nixpkgs.overlays = [ self.overlays.default ];
      system.stateVersion = config.system.nixos.release;
      virtualisation.diskSize = "auto";
    })
  ];
}
