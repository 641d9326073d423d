# Parity setting "split O/T", the transcoder, as a NixOS configuration: the same node as
# transcoder.toml beside it.
{
  services.livepeer = {
    enable = true;
    role = "transcoder";
    orchAddr = [ "orch.example.org:8935" ];
    maxSessions = 8;
    monitor = false;
  };
  services.lpwatch.enable = true;
  lpbake.appliance = {
    enable = true;
    chrony.servers = [ "169.254.169.123" "time.example.org" ];
    journald = { systemMaxUse = "4G"; systemKeepFree = "1G"; maxRetention = "2weeks"; };
  };
}
