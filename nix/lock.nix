# The livepeer release tarball pinned in lpbake.lock, as `fetchurl` arguments: the URL of
# images/livepeer.toml's source and the sha256 the lock records for it (`lpbake lock` writes
# it). Null when the lock pins none (the committed lock, until `lpbake lock` has run where the
# release can be downloaded): the flake then uses nixpkgs' own livepeer.
{ lock ? ../lpbake.lock, spec ? ../images/livepeer.toml }:
let
  url = (builtins.fromTOML (builtins.readFile spec)).component.source.url;
  lockFile = builtins.fromTOML (builtins.readFile lock);
  pins = builtins.filter (p: p.url == url) (lockFile.file or [ ]);
in
if lockFile.version != 1 then throw "${toString lock}: lock version ${toString lockFile.version}; this reader knows version 1 (regenerate it with `lpbake lock`)"
else if pins == [ ] then null
else { inherit url; inherit ((builtins.head pins)) sha256; }
