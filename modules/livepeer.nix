# services.livepeer: a Livepeer node (orchestrator, transcoder or gateway) under systemd, as the
# unit lpbake bakes into its disk image (builder/src/render/node.rs): the same command line,
# credentials, limits and sandbox; the parity test (builder/tests/nix.rs) checks it. Secrets
# reach livepeer only as systemd credentials (LoadCredential=): files it reads under
# /run/credentials/livepeer.service/, never a command line or the environment. The CLI API
# listens on loopback only, and no option can open it.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkPackageOption mkIf types optional optionals optionalAttrs;
  cfg = config.services.livepeer;
  unit = "livepeer.service";
  isOrchestrator = builtins.elem cfg.role [ "orchestrator-transcoder" "orchestrator" ];
  # Every role but a standalone transcoder signs tickets or transactions: it has a network.
  usesChain = cfg.role != "transcoder";
  onChain = usesChain && cfg.network != "offchain";
  needsOrchSecret = builtins.elem cfg.role [ "orchestrator" "transcoder" ];
  credential = name: "/run/credentials/${unit}/${name}";
  credentials = optionalAttrs onChain { eth-password = cfg.passwordFile; }
    // optionalAttrs needsOrchSecret { orch-secret = cfg.orchSecretFile; };
  opt = flag: value: optionals (value != null) [ flag (toString value) ];
  defaultKeystore = "${cfg.dataDir}/keystore";
  roleFlags = {
    orchestrator-transcoder = [ "-orchestrator" "-transcoder" ];
    orchestrator = [ "-orchestrator" ];
    transcoder = [ "-transcoder" ];
    gateway = [ "-gateway" ];
  }.${cfg.role};
  # In the order lpbake renders it, so the two command lines compare word for word.
  args = roleFlags
    ++ optionals usesChain [ "-network" cfg.network ]
    ++ [ "-cliAddr" cfg.cliAddr "-dataDir" cfg.dataDir ]
    ++ optionals onChain ([ "-ethUrl" cfg.ethUrl "-ethPassword" (credential "eth-password") ]
      ++ opt "-ethAcctAddr" cfg.ethAcctAddr)
    ++ optionals needsOrchSecret [ "-orchSecret" (credential "orch-secret") ]
    ++ optionals isOrchestrator (opt "-serviceAddr" cfg.serviceAddr
      ++ opt "-pricePerUnit" cfg.pricePerUnit ++ opt "-pixelsPerUnit" cfg.pixelsPerUnit)
    ++ optionals (cfg.role == "transcoder") (opt "-orchAddr" orchAddr)
    ++ optionals (cfg.role == "gateway") (opt "-orchAddr" orchAddr
      ++ opt "-maxPricePerUnit" cfg.maxPricePerUnit
      ++ [ "-httpAddr" "0.0.0.0:${toString gatewayPorts.http}" "-rtmpAddr" "0.0.0.0:${toString gatewayPorts.rtmp}" ])
    ++ opt "-maxSessions" cfg.maxSessions
    ++ opt "-transcodingOptions" cfg.transcodingOptions
    ++ optional (cfg.reward != null) "-reward=${lib.boolToString cfg.reward}"
    ++ optional cfg.monitor "-monitor"
    ++ optionals (cfg.nvidia != [ ]) [ "-nvidia" (lib.concatMapStringsSep "," toString cfg.nvidia) ]
    ++ optionals (cfg.keystoreDir != defaultKeystore) [ "-ethKeystorePath" cfg.keystoreDir ]
    ++ cfg.extraArgs;
  orchAddr = if cfg.orchAddr == [ ] then null else lib.concatStringsSep "," cfg.orchAddr;
  gatewayPorts = { http = 9935; rtmp = 1935; };
  openPorts =
    if isOrchestrator then [ 8935 ]
    else if cfg.role == "gateway" then [ 1935 9935 ]
    else [ ];
  # The host of HOST:PORT ([v6]:PORT included), judged after parsing, never by prefix.
  hostOf = addr: let m = builtins.match "(.*):[0-9]+" addr; in if m == null then null else builtins.head m;
  loopback = addr: let h = hostOf addr; in
    h != null && (h == "localhost" || h == "[::1]" || builtins.match "127\\.[0-9]+\\.[0-9]+\\.[0-9]+" h != null);
  # Flags the typed options own: set through extraArgs they would bypass the credentials or
  # the loopback-only CLI API.
  ownedFlags = [ "-cliAddr" "-ethPassword" "-orchSecret" "-dataDir" "-ethUrl" "-network" ];
  ownedIn = builtins.filter (a: builtins.any (f: a == f || lib.hasPrefix "${f}=" a) ownedFlags) cfg.extraArgs;
  # One ExecStart= word as lpbake writes it (builder/src/render/units.rs): `%` and `$` doubled
  # so systemd takes them literally, then double-quoted unless plain.
  escape = w:
    let e = builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] w; in
    if builtins.match "[^[:space:]\"'\\\\;]+" e != null then e else builtins.toJSON e;
in
{
  options.services.livepeer = {
    enable = mkEnableOption "a Livepeer node (go-livepeer) under systemd";

    package = mkPackageOption pkgs "livepeer" { };

    role = mkOption {
      type = types.enum [ "orchestrator-transcoder" "orchestrator" "transcoder" "gateway" ];
      default = "orchestrator-transcoder";
      description = ''
        What the node does: `orchestrator-transcoder` takes work on 8935/tcp and transcodes it
        itself; `orchestrator` takes work and hands it to remote transcoders (shared
        orchSecret); `transcoder` is a standalone transcoder of a remote orchestrator (needs
        orchAddr and orchSecretFile); `gateway` sends streams to orchestrators (RTMP 1935/tcp
        and HTTP 9935/tcp).
      '';
    };

    network = mkOption {
      type = types.str;
      default = "arbitrum-one-mainnet";
      description = ''
        livepeer's `-network`: `arbitrum-one-mainnet` for production, `offchain` for tests (no
        chain: no keys, no RPC). A standalone transcoder has no network and ignores it.
      '';
    };

    ethUrl = mkOption {
      type = types.nullOr types.str;
      default = if config.services.lpwatch.enable then "http://${config.services.lpwatch.settings.listen.rpc}" else null;
      defaultText = lib.literalExpression ''"http://127.0.0.1:7937" (lpwatch's failover proxy) when services.lpwatch is enabled'';
      description = ''
        livepeer's `-ethUrl`, the Arbitrum JSON-RPC endpoint. With services.lpwatch it is
        lpwatch's failover proxy, which spreads requests over services.lpwatch.upstreams; keep
        a URL with an API key out of here (it would be world-readable in the store and on the
        command line) and give it to lpwatch as an upstream's urlFile instead.
      '';
    };

    dataDir = mkOption {
      type = types.str;
      default = "/var/lib/livepeer/data";
      description = "livepeer's `-dataDir` (under /var/lib: systemd creates it, owned by the livepeer user, mode 0700).";
    };

    keystoreDir = mkOption {
      type = types.str;
      default = defaultKeystore;
      defaultText = lib.literalExpression ''"''${dataDir}/keystore"'';
      description = ''
        The keystore of the node's account (`-ethKeystorePath` when not the default). On a
        fresh node `lpwatch keystore-init` creates the account here, encrypted with the
        password credential, before livepeer first starts; an existing account is left alone.
      '';
    };

    passwordFile = mkOption {
      type = types.str;
      default = "/var/lib/livepeer/credentials/eth-password";
      description = ''
        The keystore password, a file readable by root only (e.g. from agenix or sops-nix).
        livepeer reads it as the credential `eth-password`; it is never in the store.
      '';
    };

    orchSecretFile = mkOption {
      type = types.str;
      default = "/var/lib/livepeer/credentials/orch-secret";
      description = ''
        The secret an orchestrator and its remote transcoders share (roles orchestrator and
        transcoder), a file readable by root only; passed as the credential `orch-secret`.
      '';
    };

    cliAddr = mkOption {
      type = types.str;
      default = "127.0.0.1:7935";
      description = "The CLI API's HOST:PORT. It controls the node's funds: only a loopback address is accepted.";
    };

    serviceAddr = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "orch.example.org:8935";
      description = "`-serviceAddr`: the public HOST:PORT an orchestrator advertises. Null: the address registered on chain.";
    };

    orchAddr = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "orch.example.org:8935" ];
      description = "`-orchAddr`: the orchestrators (HOST:PORT) a transcoder works for or a gateway sends to.";
    };

    pricePerUnit = mkOption {
      type = types.nullOr (types.either types.ints.unsigned types.str);
      default = null;
      description = "`-pricePerUnit`: wei per pixelsPerUnit pixels (mandatory for an on-chain orchestrator).";
    };

    pixelsPerUnit = mkOption {
      type = types.nullOr (types.either types.ints.positive types.str);
      default = null;
      description = "`-pixelsPerUnit`.";
    };

    maxPricePerUnit = mkOption {
      type = types.nullOr (types.either types.ints.unsigned types.str);
      default = null;
      description = "`-maxPricePerUnit` (gateway only): the most it pays.";
    };

    maxSessions = mkOption {
      type = types.nullOr (types.either types.ints.positive (types.enum [ "auto" ]));
      default = null;
      description = "`-maxSessions`: concurrent sessions, or `auto` to let livepeer measure its capacity.";
    };

    transcodingOptions = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "P240p30fps16x9,P360p30fps16x9";
      description = "`-transcodingOptions`: profiles, or a file naming them (gateway).";
    };

    ethAcctAddr = mkOption {
      type = types.nullOr (types.strMatching "0x[0-9a-fA-F]{40}");
      default = null;
      description = "`-ethAcctAddr`: the account to use from the keystore.";
    };

    reward = mkOption {
      type = types.nullOr types.bool;
      default = null;
      description = "`-reward`: whether the orchestrator calls reward() each round. Null: livepeer decides from its registration.";
    };

    lightKdf = mkOption {
      type = types.bool;
      default = false;
      description = "Encrypt the account that keystore-init creates with geth's light scrypt instead of the standard one.";
    };

    monitor = mkOption {
      type = types.bool;
      default = true;
      description = "`-monitor`: Prometheus /metrics on the CLI port (loopback), relayed by lpwatch.";
    };

    nvidia = mkOption {
      type = types.listOf types.ints.unsigned;
      default = [ ];
      example = [ 0 1 ];
      description = ''
        NVIDIA GPUs to transcode on (`-nvidia 0,1`). Their device nodes are allowed in the
        sandbox. The driver itself is the host's (hardware.nvidia).
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the role's public ports: 8935/tcp for an orchestrator, 1935/tcp and 9935/tcp for a gateway. Never the CLI port.";
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = ''
        Further livepeer flags, appended. Flags the options above own (${lib.concatStringsSep ", " ownedFlags})
        are refused here.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = loopback cfg.cliAddr;
        message = "services.livepeer.cliAddr = \"${cfg.cliAddr}\": the CLI API controls the node's funds; use a loopback address such as 127.0.0.1:7935.";
      }
      {
        assertion = lib.hasPrefix "/var/lib/" cfg.dataDir;
        message = "services.livepeer.dataDir = \"${cfg.dataDir}\": it must be under /var/lib/ (systemd's StateDirectory= creates it).";
      }
      {
        assertion = ownedIn == [ ];
        message = "services.livepeer.extraArgs sets ${lib.concatStringsSep " " ownedIn}: use the option of that name instead.";
      }
      {
        assertion = !onChain || cfg.ethUrl != null;
        message = "services.livepeer: an on-chain ${cfg.role} needs services.livepeer.ethUrl, or services.lpwatch.enable = true for its failover proxy.";
      }
      {
        assertion = !(isOrchestrator && onChain) || cfg.pricePerUnit != null;
        message = "services.livepeer: an on-chain orchestrator must set services.livepeer.pricePerUnit (wei per pixelsPerUnit pixels).";
      }
      {
        assertion = cfg.role != "transcoder" || cfg.orchAddr != [ ];
        message = "services.livepeer.role = \"transcoder\" needs services.livepeer.orchAddr (its orchestrator).";
      }
    ];

    users.users.livepeer = {
      isSystemUser = true;
      # Fixed ids, as on lpbake's disk image: files on a data volume moved to another host keep their owner.
      uid = 935;
      group = "livepeer";
      description = "Livepeer node";
      home = cfg.dataDir;
    };
    users.groups.livepeer.gid = 935;

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall openPorts;

    systemd.services.livepeer = {
      description = "Livepeer node (${cfg.role} on ${cfg.network})";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ] ++ optional config.services.lpwatch.enable "lpwatch.service";
      wants = [ "network-online.target" ] ++ optional config.services.lpwatch.enable "lpwatch.service";
      environment.HOME = cfg.dataDir;
      unitConfig.StartLimitIntervalSec = 0;
      serviceConfig = import ./hardening.nix { inherit (cfg) nvidia; } // {
        Type = "exec";
        User = "livepeer";
        Group = "livepeer";
        ExecStart = lib.concatMapStringsSep " " escape ([ "${cfg.package}/bin/livepeer" ] ++ args);
        WorkingDirectory = cfg.dataDir;
        StateDirectory = lib.removePrefix "/var/lib/" cfg.dataDir;
        StateDirectoryMode = "0700";
        LoadCredential = lib.mapAttrsToList (name: file: "${name}:${file}") credentials;
        Restart = "always";
        RestartSec = 1;
        TimeoutStopSec = 30;
        LimitNOFILE = 65536;
      } // optionalAttrs onChain {
        # livepeer v0.9.1 encrypts a key it creates with the -ethPassword *path* when that names
        # a file (and then cannot unlock it): the account is made first, with the file's contents.
        ExecStartPre = lib.concatStringsSep " " ([
          "${config.services.lpwatch.package}/bin/lpwatch" "keystore-init"
          "--keystore" cfg.keystoreDir "--password-file" (credential "eth-password")
        ] ++ optional cfg.lightKdf "--light-kdf");
      };
    };
  };
}
