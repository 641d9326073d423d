# lpbake.appliance: the host around services.livepeer that lpbake bakes into its disk image
# (builder/src/render/node.rs, system.rs, firewall.rs): volumes mounted by label, an inbound
# default-drop nftables firewall with ssh only from given networks, chrony, journald size caps,
# socket buffers for video, open-file limits, and optionally a local geth through nixpkgs' own
# services.geth. Off by default: on a host of your own, services.livepeer and services.lpwatch
# work without it.
{ config, lib, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf mkDefault types;
  cfg = config.lpbake.appliance;
  dataMount = "/var/lib/livepeer";
  # nixpkgs' geth runs with DynamicUser=: its state lives under /var/lib/private.
  gethMount = "/var/lib/private/goethereum";
  volume = label: {
    device = "/dev/disk/by-label/${label}";
    fsType = "ext4";
    # nofail: the boot goes on without the volume, and the services that need it do not start
    # (their status says why); an attached EBS volume may show up late.
    options = [ "nofail" "x-systemd.device-timeout=90s" "noatime" "nodev" "nosuid" "noexec" ];
  };
  # A unit whose state or secrets are on a volume requires it, and fails before creating
  # anything when it is not mounted.
  onVolume = mount: {
    RequiresMountsFor = [ mount ];
    AssertPathIsMountPoint = [ mount ];
  };
  # lpwatch needs the data volume for its upstreams' key files and the share's state.
  lpwatchReadsData = config.services.lpwatch.share.enable
    || builtins.any (lib.hasPrefix "${dataMount}/") (builtins.attrValues config.services.lpwatch.credentials);
  v4 = builtins.filter (n: !lib.hasInfix ":" n) cfg.ssh.allow;
  v6 = builtins.filter (n: lib.hasInfix ":" n) cfg.ssh.allow;
  sshRule = family: nets: lib.optionalString (nets != [ ])
    "${family} saddr { ${lib.concatStringsSep ", " nets} } tcp dport 22 accept\n";
in
{
  options.lpbake.appliance = {
    enable = mkEnableOption "the lpbake appliance host settings (volumes, firewall, chrony, journald, sysctl, limits)";

    volumes = {
      data = mkOption {
        type = types.strMatching ".{1,16}";
        default = "lp-data";
        description = "ext4 label of the data volume (credentials/ and livepeer's data/), mounted at ${dataMount}.";
      };
      geth = mkOption {
        type = types.strMatching ".{1,16}";
        default = "lp-geth";
        description = "ext4 label of the geth volume (with geth.enable), mounted at ${gethMount}.";
      };
    };

    ssh.allow = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "10.0.0.0/8" "2001:db8::/32" ];
      description = "Networks (CIDRs, IPv4 and IPv6) that may reach ssh on 22/tcp. Empty: ssh is closed from outside.";
    };

    chrony.servers = mkOption {
      type = types.listOf types.str;
      default = [ "0.pool.ntp.org" "1.pool.ntp.org" "2.pool.ntp.org" "3.pool.ntp.org" ];
      description = "NTP servers. On EC2 put Amazon Time Sync (169.254.169.123) first.";
    };

    journald = {
      systemMaxUse = mkOption { type = types.str; default = "1G"; description = "journald SystemMaxUse=."; };
      systemKeepFree = mkOption { type = types.str; default = "2G"; description = "journald SystemKeepFree=."; };
      maxRetention = mkOption { type = types.str; default = "1month"; description = "journald MaxRetentionSec=."; };
    };

    volumeMounts = mkOption {
      type = types.attrsOf types.attrs;
      internal = true;
      default = { ${dataMount} = volume cfg.volumes.data; } // lib.optionalAttrs cfg.geth.enable { ${gethMount} = volume cfg.volumes.geth; };
      description = ''
        The volumes' `fileSystems` entries, the value of fileSystems. Here for NixOS VM tests,
        whose qemu-vm module replaces fileSystems with virtualisation.fileSystems: a test puts
        these there.
      '';
    };

    geth.enable = mkEnableOption ''
      a local geth (nixpkgs' services.geth, instance `lpbake`) on its own volume, with 30303
      tcp+udp open. It runs Ethereum mainnet (chain 1), so it is never an upstream of lpwatch, and
      a node on an on-chain network (Arbitrum One, chain 42161) may not enable it
    '';
  };

  config = mkIf cfg.enable (lib.mkMerge [
    {
      fileSystems = cfg.volumeMounts;
      # Conditions on the attributes themselves: a disabled service must not appear at all.
      systemd.services.livepeer = mkIf config.services.livepeer.enable {
        unitConfig = onVolume dataMount;
        # The secrets' own files are root's; livepeer reads only its credentials.
        serviceConfig.InaccessiblePaths = [ "-${dataMount}/credentials" ];
      };
      systemd.services.lpwatch = mkIf (config.services.lpwatch.enable && lpwatchReadsData) { unitConfig = onVolume dataMount; };
      services.livepeer.openFirewall = mkDefault true;

      networking.nftables.enable = true;
      networking.firewall.enable = true;
      # ssh is open to the networks in ssh.allow only, never to everyone.
      services.openssh.openFirewall = false;
      networking.firewall.extraInputRules = sshRule "ip" v4 + sshRule "ip6" v6;

      services.chrony = {
        enable = true;
        inherit (cfg.chrony) servers;
        # Step the clock at boot when it is more than 1 s off (first 3 updates), then slew; the
        # kernel keeps the RTC in sync (which excludes chrony's own RTC trimming).
        initstepslew.enabled = false;
        enableRTCTrimming = false;
        extraConfig = ''
          makestep 1 3
          rtcsync
        '';
      };

      services.journald = {
        storage = "persistent";
        forwardToSyslog = false;
        extraConfig = ''
          Compress=yes
          SystemMaxUse=${cfg.journald.systemMaxUse}
          SystemKeepFree=${cfg.journald.systemKeepFree}
          MaxRetentionSec=${cfg.journald.maxRetention}
        '';
      };

      # Socket buffers and queues for video segments.
      boot.kernel.sysctl = {
        "net.core.netdev_max_backlog" = 16384;
        "net.core.rmem_default" = 1048576;
        "net.core.rmem_max" = 16777216;
        "net.core.somaxconn" = 4096;
        "net.core.wmem_default" = 1048576;
        "net.core.wmem_max" = 16777216;
        "net.ipv4.tcp_max_syn_backlog" = 8192;
        "net.ipv4.tcp_mtu_probing" = 1;
        "net.ipv4.tcp_rmem" = "4096 1048576 16777216";
        "net.ipv4.tcp_slow_start_after_idle" = 0;
        "net.ipv4.tcp_wmem" = "4096 1048576 16777216";
      };

      # The unit sets LimitNOFILE= itself; this covers login sessions of the user (livepeer_cli).
      security.pam.loginLimits = map (type: { domain = "livepeer"; inherit type; item = "nofile"; value = "65536"; }) [ "soft" "hard" ];
    }
    (mkIf cfg.geth.enable {
      services.geth.lpbake = {
        enable = true;
        http = { enable = true; address = "127.0.0.1"; port = 8545; apis = [ "eth" "net" "web3" ]; };
        authrpc.address = "127.0.0.1";
      };
      systemd.services.geth-lpbake.unitConfig = onVolume gethMount;
      networking.firewall.allowedTCPPorts = [ 30303 ];
      networking.firewall.allowedUDPPorts = [ 30303 ];
      assertions = [{
        assertion = !config.services.livepeer.enable || config.services.livepeer.network == "offchain";
        message = "lpbake.appliance.geth runs Ethereum mainnet (chain 1), which cannot serve livepeer on ${config.services.livepeer.network}: set geth.enable = false and give lpwatch an RPC upstream of that network (a urlFile)";
      }];
    })
  ]);
}
