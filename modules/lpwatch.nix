# services.lpwatch: lpbake's node watchdog beside services.livepeer, as the unit and config file
# lpbake bakes (builder/src/render/node.rs and lpwatch.rs): /healthz and /metrics on
# 127.0.0.1:7936, the JSON-RPC failover proxy livepeer uses as -ethUrl on 127.0.0.1:7937, the
# systemd watchdog. An upstream whose URL holds an API key is a file (urlFile), passed as a
# systemd credential: never in the store, the config file or a command line. The opt-in share
# (services.lpwatch.share, lpbake's [lpwatch.share]) keeps its queue and reporting key in
# /var/lib/livepeer/lpwatch, out of reach of livepeer's keystore and secrets.
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
  } // lib.optionalAttrs share.enable {
    share = dropNulls {
      mmdb = share.geoDatabase;
      inherit (share) cell interval endpoint;
      min_gateways = share.minGateways;
      service_port = 8935;
      extras = lib.sort lib.lessThan (lib.unique share.extras);
      queue_dir = "${shareState}/share-queue";
      key_file = "${shareState}/share-key";
    };
  };
  # A URL in the store is world-readable, so a URL baked there holds nothing secret, by the rule
  # of lpbake's urls::baked: https, or http to a loopback host; no user info, query or fragment;
  # no host label or path segment longer than 20 characters (every hosted provider's key is
  # longer). Any other URL is a file (urlFile).
  bakedUrl = url:
    let
      m = builtins.match "(https?)://([^/?#@]*)(/[^?#]*)?" url;
      hostPort = builtins.match "(\\[[^]]*]|[^:]*)(:[0-9]+)?" (builtins.elemAt m 1);
      host = lib.toLower (builtins.head hostPort);
      path = let p = builtins.elemAt m 2; in if p == null then "" else p;
      loopback = builtins.match "127\\.[0-9]+\\.[0-9]+\\.[0-9]+|localhost|\\[::1]" host != null;
      labels = if lib.hasPrefix "[" host then [ ] else lib.splitString "." host;
      short = part: builtins.stringLength part <= 20;
    in
    m != null && hostPort != null && host != ""
    && (builtins.head m == "https" || loopback)
    && builtins.all short (labels ++ lib.splitString "/" path);
  bakedRule = "https, or http to a loopback host; no user info, query or fragment; no host label or path segment over 20 characters";
  loopbackUrl = url: builtins.match "https?://(127\\.[0-9.]+|localhost|\\[::1])(:[0-9]+)?(/.*)?" url != null;
  loopbackOnly = builtins.all (u: u.url != null && loopbackUrl u.url) upstreams;
  checkNames = [ "livepeer" "reward" "eth_balance" "chain_head" "chain_id" "rpc" ];
  share = cfg.share;
  shareState = "/var/lib/livepeer/lpwatch";
  # The share's interval in seconds ("90s", "2m"), checked below to be from 1 s to under 5 min.
  seconds = d: let m = builtins.match "([0-9]+)(s|m)" d; in
    lib.toInt (builtins.head m) * (if builtins.elemAt m 1 == "m" then 60 else 1);
  pushes = share.enable && share.endpoint != null;
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

    share = {
      enable = mkEnableOption ''
        the opt-in shared network metrics: sessions, and gateways, streams and transcoded pixels
        per geo cell (no address, no stream), pushed signed to a community collector or left on
        /metrics for your own Prometheus (`lpwatch share --dry-run` prints what a push sends).
        Needs an orchestrator and a MaxMind-format geo database you provide'';

      endpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "https://collector.example.org/api/v1/write";
        description = ''
          The collector's remote-write URL (https, nothing secret in it: pushes are signed by a
          reporting key your orchestrator account delegates once). Null: nothing is pushed and
          the share stays on lpwatch's /metrics.
        '';
      };

      cell = mkOption {
        type = types.strMatching "(1|2|3|5|6|9|10|15|18|30|45|90)deg|country|continent";
        default = "5deg";
        description = "The geo cell gateways are counted in: squares of N degrees (N divides 90), or a country or continent.";
      };

      minGateways = mkOption {
        type = types.ints.positive;
        default = 3;
        description = "k, at least 3 (the floor no configuration lowers): a cell with fewer distinct gateways (one per /24, /64 or geo-database network) is merged into its continent, then into \"other\".";
      };

      extras = mkOption {
        type = types.listOf (types.enum [ "success_rate" "transcoders" ]);
        default = [ ];
        description = "Optional series shared besides the minimal set, each named.";
      };

      interval = mkOption {
        type = types.strMatching "[0-9]+(s|m)";
        default = "2m";
        description = "How often a push is sent: from 1s to under 5m (Prometheus's lookback).";
      };

      geoDatabase = mkOption {
        type = types.str;
        default = "/var/lib/livepeer/geo/GeoLite2-City.mmdb";
        description = "The MaxMind-format database (GeoLite2 or DB-IP lite City) lpwatch looks addresses up in, readable by lpwatch.";
      };
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
      assertion = u.url == null || bakedUrl u.url;
      message = "services.lpwatch.upstreams: `${u.name}`'s url is not one that may be baked into the store (${bakedRule}); put it in a file and set urlFile.";
    }) cfg.upstreams
    ++ [{
      assertion = lib.allUnique (map credentialName keyed);
      message = "services.lpwatch.upstreams: two urlFiles have the same file name; each becomes a credential of that name.";
    }]
    ++ lib.optionals share.enable [
      {
        assertion = lp.role == "orchestrator" || lp.role == "orchestrator-transcoder";
        message = "services.lpwatch.share: a ${lp.role} has no service port for gateways to connect to; share from the orchestrator.";
      }
      {
        assertion = share.endpoint == null || bakedUrl share.endpoint;
        message = "services.lpwatch.share.endpoint: the URL is not one that may be baked into the store (${bakedRule}); pushes are signed: no token is needed.";
      }
      {
        assertion = share.endpoint == null || lp.network != "offchain";
        message = "services.lpwatch.share.endpoint: pushes are signed under the orchestrator account's delegation, which an offchain node has not; remove the endpoint.";
      }
      {
        # lpbake_rules::disclosure::K_FLOOR, which lpwatch and lpbake apply too.
        assertion = share.minGateways >= 3;
        message = "services.lpwatch.share.minGateways = ${toString share.minGateways}: must be at least 3 (the floor no configuration lowers: a cell of fewer gateways would name them).";
      }
      {
        assertion = seconds share.interval >= 1 && seconds share.interval < 300;
        message = "services.lpwatch.share.interval = \"${share.interval}\": use a duration from 1s to under 5m.";
      }
    ];
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
      # Off chain, or with loopback upstreams only, lpwatch talks to this machine only, unless it
      # pushes shares; the share reads the service port's byte counts over sock_diag netlink.
      serviceConfig = import ./hardening.nix { loopbackOnly = loopbackOnly && !pushes; netlink = share.enable; } // {
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
      } // lib.optionalAttrs share.enable {
        # The queue and the reporting key (the node's delegated identity) in their own directory;
        # livepeer's secrets and keystore beside it stay out of reach.
        StateDirectory = lib.removePrefix "/var/lib/" shareState;
        StateDirectoryMode = "0700";
        InaccessiblePaths = [ "-/var/lib/livepeer/credentials" "-${lp.dataDir}" ];
      };
    };
  };
}
