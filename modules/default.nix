# The lpbake NixOS modules, all three: `imports = [ lpbake.nixosModules.default ];` declares
# services.livepeer, services.lpwatch and lpbake.appliance, each off until enabled.
{
  imports = [ ./livepeer.nix ./lpwatch.nix ./appliance.nix ];
}
