# VM test: lpwatch's /healthz turns unhealthy (503) when livepeer is stopped, and healthy again
# once it is back.
{ self }:
{
  name = "lpbake-lpwatch-unhealthy";
  nodes.node = {
    imports = [ self.nixosModules.default ];
    services.livepeer = { enable = true; role = "orchestrator-transcoder"; network = "offchain"; serviceAddr = "node:8935"; };
    services.lpwatch.enable = true;
  };
  testScript = ''
    healthz = "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:7936/healthz"
    node.wait_for_unit("lpwatch.service")
    node.wait_until_succeeds(f"test $({healthz}) = 200", timeout=60)
    node.succeed("systemctl stop livepeer.service")
    node.wait_until_succeeds(f"test $({healthz}) = 503", timeout=60)
    node.succeed("systemctl start livepeer.service")
    node.wait_until_succeeds(f"test $({healthz}) = 200", timeout=60)
  '';
}
