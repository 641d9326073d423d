# Parity setting "orchestrator+transcoder": the node of the repository's images/appliance.toml,
# as a NixOS configuration.
{
  services.livepeer = {
    enable = true;
    role = "orchestrator-transcoder";
    network = "arbitrum-one-mainnet";
    pricePerUnit = 1000;
    pixelsPerUnit = 1;
    maxSessions = 10;
  };
  services.lpwatch = {
    enable = true;
    upstreams = [
      { name = "primary"; urlFile = "/var/lib/livepeer/credentials/rpc-primary"; }
      { name = "public"; url = "https://arb1.arbitrum.io/rpc"; }
    ];
    critical = [ "livepeer" "reward" "eth_balance" "chain_head" "chain_id" ];
    minEthBalance = "0.02";
  };
  lpbake.appliance = {
    enable = true;
    ssh.allow = [ "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" ];
    chrony.servers = [ "169.254.169.123" "0.pool.ntp.org" "1.pool.ntp.org" "2.pool.ntp.org" ];
  };
}
