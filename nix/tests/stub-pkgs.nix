# The few packages and helpers of nixpkgs the lpbake modules use, for evaluating them without
# nixpkgs (nix/tests/eval.nix): packages are store paths that are never built, and
# `formats.toml` has nixpkgs' value type but writes nothing (the parity check compares the
# settings themselves, not the generated file).
{ lib }:
let
  package = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  tomlValue = with lib.types; nullOr (oneOf [ bool int float str path (attrsOf tomlValue) (listOf tomlValue) ]) // {
    description = "TOML value";
  };
in
{
  livepeer = package "livepeer";
  lpwatch = package "lpwatch";
  go-ethereum = package "go-ethereum" // { geth = package "geth"; };
  formats.toml = { }: {
    type = lib.types.attrsOf tomlValue;
    generate = name: _value: "/nix/store/00000000000000000000000000000000-${name}";
  };
}
