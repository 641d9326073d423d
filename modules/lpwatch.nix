# services.lpwatch: lpbake's node watchdog beside services.livepeer, as the unit and config file
# lpbake bakes (builder/src/render/node.rs and lpwatch.rs): /healthz and /metrics on
# 127.0.0.1:7936, the JSON-RPC failover proxy livepeer uses as -ethUrl on 127.0.0.1:7937, the
# systemd watchdog. An upstream whose URL holds an API key is a file (urlFile), passed as a
# systemd credential: never in the store, the config file or a command line.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkPackageOption mkIf types;
  cfg = config.services.lpwatch;
  lp = config.services.livepeer;
  unit = "lpwatch.service";
  toml = pkgs.formats.toml { };
  # What lpwatch watches comes from the livepeer node beside it: a standalone transcoder, or a
  # node off chain, has no chain to watch and no upstream to proxy.
  onChain = lp.role != "transcoder" && lp.network != "offchain";
  upstreams = if onChain then cfg.upstreams else [ ];
  keyed = builtins.filter (u: u.urlFile != null) upstreams;
  # A credential is named after its file: rpc-primary for /var/lib/livepeer/credentials/rpc-primary.
  credentialName = u: baseNameOf u.urlFile;
  # The roles' defaults, as lpbake's: a transcoder only has livepeer to watch; a gateway calls no reward().
  defaultCritical =
    if lp.role == "transcoder" then [ "livepeer" ]
    else if lp.role == "gateway" && onChain then [ "livepeer" "eth_balance" "chain_head" "chain_id" ]
    else null;
  critical = if cfg.critical != null then cfg.critical else defaultCritical;
  dropNulls = lib.filterAttrs (_: v: v != null);
  generated = {
    network = if onChain then lp.network else "offchain";
    listen = { http = "127.0.0.1:7936"; rpc = "127.0.0.1:7937"; };
    livepeer.cli_url = "http://${lp.cliAddr}";
    rpc.upstream = map (u: dropNulls {
      inherit (u) name url;
      url_file = if u.urlFile == null then null else "/run/credentials/${unit}/${credentialName u}";
    }) upstreams;
    checks = dropNulls { inherit (cfg) interval; inherit critical; min_eth_balance = cfg.minEthBalance; };
  };
  # A URL in the store is world-readable: one with user info or a query (where keys go) is refused.
  keyLike = url: builtins.match "[a-z]+://[^/]*@.*" url != null || lib.hasInfix "?" url;
  loopbackUrl = url: builtins.match "https?://(127\\.[0-9.]+|localhost|\\[::1])(:[0-9]+)?(/.*)?" url != null;
  loopbackOnly = builtins.all (u: u.url != null && loopbackUrl u.url) upstreams;
  checkNames = [ "livepeer" "reward" "eth_balance" "chain_head" "chain_id" "rpc" ];
in
{
  options.services.lpwatch = {
    enable = mkEnableOption "lpwatch, the Livepeer node watchdog (health, metrics, reward and balance watch, RPC failover)";

    package = mkPackageOption pkgs "lpwatch" { };

    upstreams = mkOption {
      description = ''
        JSON-RPC upstreams of the failover proxy, tried in this order. Each has a `name` and
        either a key-less `url` or a `urlFile` holding the URL (with its API key), readable by
        root only. Used only when livepeer is on chain.
      '';
      default = [ ];
      example = lib.literalExpression ''
        [ { name = "primary"; urlFile = "/var/lib/livepeer/credentials/rpc-primary"; }
          { name = "public"; url = "https://arb1.arbitrum.io/rpc"; } ]
      '';
      type = types.listOf (types.submodule {
        options = {
          name = mkOption { type = types.strMatching "[a-z0-9][a-z0-9_-]*"; description = "The upstream's name in metrics and logs."; };
          url = mkOption { type = types.nullOr types.str; default = null; description = "A URL without a key (it is world-readable in the store)."; };
          urlFile = mkOption { type = types.nullOr types.str; default = null; description = "A file holding the URL, for one with an API key."; };
        };
      });
    };

    interval = mkOption {
      type = types.strMatching "[0-9]+(ms|s|m)";
      default = "5s";
      description = "How often every check runs.";
    };

    critical = mkOption {
      type = types.nullOr (types.listOf (types.enum checkNames));
      default = null;
      description = ''
        Checks that make /healthz fail (${lib.concatStringsSep ", " checkNames}). Null: the
        default for livepeer's role (a transcoder: livepeer only; a gateway: no reward).
      '';
    };

    minEthBalance = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "0.02";
      description = "ETH below which eth_balance fails (gas for reward() and ticket redemption).";
    };

    credentials = mkOption {
      type = types.attrsOf types.str;
      internal = true;
      default = { };
      description = "The unit's credentials (name -> file), from the upstreams' urlFiles, for the modules beside this one.";
    };

    settings = mkOption {
      type = toml.type;
      default = { };
      description = ''
        lpwatch's config file (/etc/lpwatch/lpwatch.toml, see `lpwatch --help`), generated
        from the options above and from services.livepeer; set a key here to override it.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = map (u: {
      assertion = (u.url == null) != (u.urlFile == null);
      message = "services.lpwatch.upstreams: `${u.name}` needs exactly one of url and urlFile.";
    }) cfg.upstreams
    ++ map (u: {
      assertion = u.url == null || !keyLike u.url;
      message = "services.lpwatch.upstreams: `${u.name}`'s url has user info or a query, where API keys go; put it in a file and set urlFile.";
    }) cfg.upstreams
    ++ [{
      assertion = lib.allUnique (map credentialName keyed);
      message = "services.lpwatch.upstreams: two urlFiles have the same file name; each becomes a credential of that name.";
    }];
    warnings = lib.optional (cfg.upstreams != [ ] && !onChain)
      "services.lpwatch.upstreams are not used: services.livepeer is off chain or a standalone transcoder.";

    services.lpwatch.settings = lib.mapAttrsRecursive (_: lib.mkDefault) generated;
    services.lpwatch.credentials = lib.listToAttrs (map (u: lib.nameValuePair (credentialName u) u.urlFile) keyed);

    environment.etc."lpwatch/lpwatch.toml".source = toml.generate "lpwatch.toml" cfg.settings;

    users.users.lpwatch = {
      isSystemUser = true;
      uid = 936;
      group = "lpwatch";
      description = "lpwatch, the Livepeer node watchdog";
      home = "/nonexistent";
    };
    users.groups.lpwatch.gid = 936;

    systemd.services.lpwatch = {
      description = "lpwatch: health, metrics and JSON-RPC failover for livepeer";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      restartTriggers = [ config.environment.etc."lpwatch/lpwatch.toml".source ];
      unitConfig.StartLimitIntervalSec = 0;
      serviceConfig = import ./hardening.nix { inherit loopbackOnly; } // {
        # READY=1 once serving; WATCHDOG=1 only while the check loop keeps up.
        Type = "notify";
        NotifyAccess = "main";
        WatchdogSec = 60;
        User = "lpwatch";
        Group = "lpwatch";
        ExecStart = "${cfg.package}/bin/lpwatch --config /etc/lpwatch/lpwatch.toml";
        LoadCredential = lib.mapAttrsToList (name: file: "${name}:${file}") cfg.credentials;
        Restart = "always";
        RestartSec = 1;
        TimeoutStopSec = 10;
        LimitNOFILE = 65536;
      };
    };
  };
}
