# Declarations of the NixOS options the lpbake modules set, with nixpkgs' types and merge rules,
# so the modules evaluate with `lib.evalModules` and nixpkgs' `lib` alone (nixpkgs itself
# cannot be downloaded where CI runs). Only what the modules use is here: a module that sets
# anything else fails to evaluate ("The option ... does not exist"). On a machine with
# nixpkgs, `nix flake check` (check `stubs-agree`) evaluates the same nodes with the real
# NixOS options and checks that they give the same parity view.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  opt = type: default: mkOption { inherit type default; };
  strs = opt (types.listOf types.str) [ ];
  # nixpkgs' systemd `unitOption`: lists from several definitions concatenate; scalars must agree.
  unitOption = types.mkOptionType {
    name = "systemd option";
    merge = loc: defs:
      let defs' = lib.filterOverrides defs; in
      if lib.any (d: lib.isList d.value) defs' then lib.concatMap (d: lib.toList d.value) defs'
      else lib.mergeEqualOption loc defs';
  };
  service = types.submodule {
    options = {
      enable = opt types.bool true;
      description = opt types.str "";
      wantedBy = strs;
      after = strs;
      wants = strs;
      before = strs;
      requires = strs;
      restartTriggers = opt (types.listOf types.unspecified) [ ];
      environment = opt (types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]))) { };
      unitConfig = opt (types.attrsOf unitOption) { };
      serviceConfig = opt (types.attrsOf unitOption) { };
    };
  };
  gethInstance = types.submodule {
    options = {
      enable = opt types.bool false;
      port = opt types.port 30303;
      http = {
        enable = opt types.bool false;
        address = opt types.str "127.0.0.1";
        port = opt types.port 8545;
        apis = opt (types.nullOr (types.listOf types.str)) null;
      };
      authrpc.address = opt types.str "127.0.0.1";
      extraArgs = strs;
    };
  };
in
{
  options = {
    assertions = opt (types.listOf types.unspecified) [ ];
    warnings = strs;

    systemd.services = opt (types.attrsOf service) { };

    users.users = opt (types.attrsOf (types.submodule {
      options = {
        isSystemUser = opt types.bool false;
        uid = opt (types.nullOr types.int) null;
        group = opt types.str "";
        description = opt types.str "";
        home = opt types.str "/var/empty";
      };
    })) { };
    users.groups = opt (types.attrsOf (types.submodule { options.gid = opt (types.nullOr types.int) null; })) { };

    environment.etc = opt (types.attrsOf (types.submodule { options.source = opt types.path null; })) { };

    networking.firewall = {
      enable = opt types.bool true;
      allowedTCPPorts = opt (types.listOf types.port) [ ];
      allowedUDPPorts = opt (types.listOf types.port) [ ];
      extraInputRules = opt types.lines "";
    };
    networking.nftables.enable = opt types.bool false;
    services.openssh.openFirewall = opt types.bool true;

    services.chrony = {
      enable = opt types.bool false;
      servers = strs;
      initstepslew.enabled = opt types.bool true;
      enableRTCTrimming = opt types.bool true;
      extraConfig = opt types.lines "";
    };

    services.journald = {
      storage = opt types.str "persistent";
      forwardToSyslog = opt types.bool false;
      extraConfig = opt types.lines "";
    };

    fileSystems = opt (types.attrsOf (types.submodule {
      options = {
        device = opt (types.nullOr types.nonEmptyStr) null;
        fsType = opt types.nonEmptyStr "auto";
        options = opt (types.nonEmptyListOf types.nonEmptyStr) [ "defaults" ];
      };
    })) { };

    security.pam.loginLimits = opt (types.listOf (types.submodule {
      options = {
        domain = mkOption { type = types.str; };
        type = mkOption { type = types.enum [ "-" "hard" "soft" ]; };
        item = mkOption { type = types.enum [ "core" "data" "fsize" "memlock" "nofile" "rss" "stack" "cpu" "nproc" "as" "maxlogins" "maxsyslogins" "priority" "locks" "sigpending" "msgqueue" "nice" "rtprio" ]; };
        value = mkOption { type = types.oneOf [ types.str types.int ]; };
      };
    })) [ ];

    boot.kernel.sysctl = opt (types.attrsOf (types.nullOr (types.oneOf [ types.bool types.str types.int ]))) { };

    services.geth = opt (types.attrsOf gethInstance) { };
  };
}
