# Parity setting "split O/T", the orchestrator, as a NixOS configuration: the same node as
# orchestrator.toml beside it.
{
  services.livepeer = {
    enable = true;
    role = "orchestrator";
    network = "arbitrum-one-mainnet";
    serviceAddr = "orch.example.org:8935";
    pricePerUnit = 1200;
    pixelsPerUnit = 1;
    maxSessions = "auto";
    reward = true;
    ethAcctAddr = "0x00000000000000000000000000000000000000a1";
  };
  services.lpwatch = {
    enable = true;
    interval = "10s";
    upstreams = [
      { name = "alchemy"; urlFile = "/var/lib/livepeer/credentials/rpc-alchemy"; }
      { name = "infura"; urlFile = "/var/lib/livepeer/credentials/rpc-infura"; }
    ];
    share = {
      enable = true;
      endpoint = "https://collector.example.org/api/v1/write";
      cell = "country";
      extras = [ "transcoders" "success_rate" ];
    };
  };
  lpbake.appliance = {
    enable = true;
    volumes.data = "orch-data";
    ssh.allow = [ "203.0.113.0/24" "2001:db8::/32" ];
  };
}
