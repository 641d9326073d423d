# Evaluates one node setting with the lpbake modules, nixpkgs' `lib` and the option
# declarations of nix/tests/options.nix (no nixpkgs needed), and checks it against
# `lpbake render --json` for the same node:
#
#   nix-instantiate --eval --strict --json nix/tests/eval.nix \
#     --arg lib 'import ../shared/vendor/nixpkgs-lib/lib' --arg node ./nix/tests/nodes/gateway.nix \
#     --arg render /tmp/gateway.json [--arg extraModules '[ ... ]']
#
# gives { differences = [ "path: lpbake renders X, the modules give Y", ... ]; warnings = [ ... ]; }.
# A failed assertion of the modules is an evaluation error with its message, as on NixOS.
{ lib, node, render, extraModules ? [ ] }:
let
  evaluated = lib.evalModules {
    modules = [
      ./options.nix
      ../../modules
      node
      { _module.args.pkgs = import ./stub-pkgs.nix { inherit lib; }; }
    ] ++ extraModules;
  };
  inherit (evaluated) config;
  failed = builtins.filter (a: !a.assertion) config.assertions;
  parity = import ./parity.nix { inherit lib; };
in
if failed != [ ] then throw "Failed assertions:\n${lib.concatMapStringsSep "\n" (a: "- ${a.message}") failed}"
else {
  differences = parity.compare (lib.importJSON render) config;
  inherit (config) warnings;
}
