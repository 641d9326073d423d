# Parity setting "gateway", as a NixOS configuration: the same node as gateway.toml beside it.
{
  services.livepeer = {
    enable = true;
    role = "gateway";
    orchAddr = [ "orch-a.example.org:8935" "orch-b.example.org:8935" ];
    maxPricePerUnit = 2000;
    transcodingOptions = "P240p30fps16x9,P360p30fps16x9";
  };
  services.lpwatch = {
    enable = true;
    minEthBalance = "0.05";
    upstreams = [{ name = "public"; url = "https://arb1.arbitrum.io/rpc"; }];
  };
  lpbake.appliance.enable = true;
}
