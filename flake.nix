# lpbake as a flake: the NixOS modules (services.livepeer, services.lpwatch, lpbake.appliance),
# the Rust tools, livepeer from lpbake.lock's pin, a NixOS Amazon image of the repository's
# appliance, and VM tests. The pieces live in nix/ and modules/; README.md, "NixOS", says how
# to use them.
{
  description = "lpbake: reproducible Livepeer node appliances, and NixOS modules for Livepeer nodes";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forSystems = f: lib.genAttrs systems (system: f (nixpkgs.legacyPackages.${system}.extend self.overlays.default));
    in
    {
      overlays.default = import ./nix/overlay.nix;

      # The modules, with this flake's packages as defaults: no overlay needed. (modules/ alone
      # takes pkgs.livepeer and pkgs.lpwatch, e.g. from overlays.default.)
      nixosModules.default = { lib, pkgs, ... }:
        let ours = self.packages.${pkgs.stdenv.hostPlatform.system} or { }; in
        {
          imports = [ ./modules ];
          services.lpwatch.package = lib.mkIf (ours ? lpwatch) (lib.mkDefault ours.lpwatch);
          services.livepeer.package = lib.mkIf (ours ? livepeer) (lib.mkDefault ours.livepeer);
        };

      packages = forSystems (pkgs: {
        inherit (pkgs) lpbake lpwatch;
        default = pkgs.lpbake;
      } // lib.optionalAttrs (lib.meta.availableOn pkgs.stdenv.hostPlatform pkgs.livepeer) {
        inherit (pkgs) livepeer;
      } // lib.optionalAttrs (pkgs.stdenv.hostPlatform.system == "x86_64-linux") {
        ami = self.nixosConfigurations.ami.config.system.build.amazonImage;
      });

      nixosConfigurations.ami = import ./nix/ami.nix { inherit nixpkgs self; };

      checks = forSystems (pkgs: {
        inherit (pkgs) lpbake lpwatch;
      } // lib.optionalAttrs (pkgs.stdenv.hostPlatform.system == "x86_64-linux")
        (import ./nix/tests { inherit nixpkgs self pkgs; }));
    };
}
