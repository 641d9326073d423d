# The parity check: the node `lpbake render --json` describes and the node a NixOS
# configuration with the lpbake modules runs, each brought to one view, and every difference
# between the two as a readable line (none: they are at parity). Compared, per service the
# modules own (livepeer.service, lpwatch.service): the command line (programs by name, since
# their paths differ), the environment, every [Unit] and [Service] directive (credentials,
# limits, sandbox, restart, mounts); and for the host: users and their ids, open ports and who
# reaches ssh, volumes by label, chrony servers, journald, sysctl, login limits, lpwatch's settings.
# Left out by design: Description= texts, and geth (the modules use nixpkgs' own services.geth,
# whose unit, user and data directory are its own).
{ lib }:
let
  inherit (lib) mapAttrs filterAttrs hasPrefix splitString concatStringsSep;
  owned = [ "livepeer" "lpwatch" ];
  # A directive's values as lpbake renders them: a list of strings, yes/no for booleans.
  words = v: map (w: if builtins.isBool w then (if w then "yes" else "no") else toString w) (lib.toList v);
  directives = attrs: filterAttrs (_: v: v != [ ]) (mapAttrs (_: words) attrs);
  # Programs by name: /usr/local/bin/livepeer on the disk image, /nix/store/...-livepeer/bin/livepeer on NixOS.
  program = w: if hasPrefix "/" w && builtins.elem (baseNameOf w) owned then baseNameOf w else w;
  command = line: concatStringsSep " " (map program (splitString " " line));
  withCommands = d: d // lib.optionalAttrs (d ? ExecStartPre) { ExecStartPre = map command d.ExecStartPre; };
  byLines = text: builtins.filter (l: l != "") (splitString "\n" text);
  keyValues = text: builtins.listToAttrs (map (l: let m = builtins.match "([^=]+)=(.*)" l; in
    if m == null then lib.nameValuePair "unparsed line" l else lib.nameValuePair (builtins.elemAt m 0) (builtins.elemAt m 1)) (byLines text));
  sshRule = l: builtins.match "ip6? saddr \\{ (.*) } tcp dport 22 accept" l;
  sorted = l: lib.sort lib.lessThan (lib.unique l);
in
rec {
  # From `lpbake render --json` (builder/src/render/mod.rs documents its shape).
  fromRender = node: {
    services = mapAttrs
      (_: u: {
        argv = map program u.argv;
        environment = u.service.env;
        unit = directives (u.unit // { RequiresMountsFor = u.requires_mounts; });
        service = withCommands (directives (u.settings // u.hardening // u.limits // {
          User = u.user;
          Group = u.group;
          WorkingDirectory = if u.service.workdir == null then [ ] else u.service.workdir;
          LoadCredential = lib.mapAttrsToList (name: c: "${name}:${c.source}") u.credentials;
        }));
      })
      (filterAttrs (n: _: builtins.elem n (map (o: "${o}.service") owned)) node.services);
    users = mapAttrs (_: u: { inherit (u) uid gid description home; }) (filterAttrs (n: _: builtins.elem n owned) node.users);
    firewall = {
      enabled = true;
      ssh_open_to_all = false;
      tcp = node.firewall.tcp;
      udp = node.firewall.udp;
      ssh_allow = node.firewall.ssh_allow;
      other_rules = [ ];
    };
    volumes = mapAttrs (_: v: { inherit (v) label options; }) node.volumes;
    chrony = node.chrony.servers;
    inherit (node) journald sysctl;
    login_limits = node.login_limits;
    lpwatch = node.lpwatch_config;
  };

  # From an evaluated NixOS configuration (the modules evaluated with nix/tests/options.nix
  # here, or a real nixosSystem in `nix flake check`).
  fromConfig = config:
    let
      fw = config.networking.firewall;
      rules = byLines fw.extraInputRules;
      labelled = filterAttrs (_: fs: fs.device != null && hasPrefix "/dev/disk/by-label/" fs.device) config.fileSystems;
    in
    {
      services = lib.mapAttrs'
        (n: s: lib.nameValuePair "${n}.service" {
          argv = map program (splitString " " s.serviceConfig.ExecStart);
          environment = filterAttrs (n: v: v != null && n != "PATH") s.environment;
          unit = directives (s.unitConfig // { After = s.after; Wants = s.wants; });
          service = withCommands (directives (removeAttrs s.serviceConfig [ "ExecStart" ]));
        })
        (filterAttrs (n: s: builtins.elem n owned && s.enable) config.systemd.services);
      users = mapAttrs
        (_: u: { inherit (u) uid description home; gid = config.users.groups.${u.group}.gid; })
        (filterAttrs (n: _: builtins.elem n owned) config.users.users);
      firewall = {
        enabled = fw.enable && config.networking.nftables.enable;
        ssh_open_to_all = config.services.openssh.openFirewall;
        tcp = sorted fw.allowedTCPPorts;
        udp = sorted fw.allowedUDPPorts;
        ssh_allow = sorted (lib.concatMap (l: let m = sshRule l; in if m == null then [ ] else splitString ", " (builtins.head m)) rules);
        other_rules = builtins.filter (l: sshRule l == null) rules;
      };
      volumes = mapAttrs (_: fs: { label = lib.removePrefix "/dev/disk/by-label/" fs.device; inherit (fs) options; }) labelled;
      chrony = if config.services.chrony.enable then config.services.chrony.servers else [ ];
      journald = {
        Storage = config.services.journald.storage;
        ForwardToSyslog = if config.services.journald.forwardToSyslog then "yes" else "no";
      } // keyValues config.services.journald.extraConfig;
      sysctl = mapAttrs (_: toString) config.boot.kernel.sysctl;
      login_limits = map (l: { inherit (l) domain type item; value = toString l.value; })
        (builtins.filter (l: builtins.elem l.domain owned) config.security.pam.loginLimits);
      lpwatch = config.services.lpwatch.settings;
    };

  # Every difference between two views, one line each, by attribute path.
  differences = path: a: b:
    let where = lib.showAttrPath path; in
    if builtins.isAttrs a && builtins.isAttrs b then
      lib.concatMap
        (k:
          if !(a ? ${k}) then [ "${lib.showAttrPath (path ++ [ k ])}: lpbake renders nothing, the modules give ${builtins.toJSON b.${k}}" ]
          else if !(b ? ${k}) then [ "${lib.showAttrPath (path ++ [ k ])}: lpbake renders ${builtins.toJSON a.${k}}, the modules give nothing" ]
          else differences (path ++ [ k ]) a.${k} b.${k})
        (sorted (builtins.attrNames a ++ builtins.attrNames b))
    else if a == b then [ ]
    else [ "${where}: lpbake renders ${builtins.toJSON a}, the modules give ${builtins.toJSON b}" ];

  # The check itself: the render's JSON against an evaluated configuration.
  compare = render: config: differences [ ] (fromRender render) (fromConfig config);
}
