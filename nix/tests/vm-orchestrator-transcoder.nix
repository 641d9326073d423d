# VM test: an orchestrator-transcoder appliance (services.livepeer + services.lpwatch +
# lpbake.appliance, off chain) boots, gets its data volume by label, and runs: units up, the
# open-file limit in force, lpwatch healthy; seen from a second node the firewall lets 8935
# through and keeps the CLI (7935) and lpwatch (7936) closed.
{ self }:
{
  name = "lpbake-orchestrator-transcoder";
  nodes.orch = { config, ... }: {
    imports = [ self.nixosModules.default ];
    virtualisation.emptyDiskImages = [ 512 ];
    # The VM's qemu module replaces fileSystems with these: the appliance's volumes go here.
    virtualisation.fileSystems = config.lpbake.appliance.volumeMounts;
    services.livepeer = { enable = true; role = "orchestrator-transcoder"; network = "offchain"; serviceAddr = "orch:8935"; };
    services.lpwatch.enable = true;
    lpbake.appliance.enable = true;
  };
  nodes.client = { pkgs, ... }: { environment.systemPackages = [ pkgs.netcat ]; };
  testScript = ''
    start_all()
    # The data volume shows up while the machine boots, like an EBS volume attached late: it is
    # found by its label and mounted (nofail, 90 s device timeout), then livepeer starts.
    orch.wait_until_succeeds("test -b /dev/vdb", timeout=60)
    orch.succeed("mkfs.ext4 -q -L lp-data /dev/vdb")
    # Under emulation the boot may outlast the device timeout, failing the first start: start
    # again once udev has seen the label (a no-op when it is already up).
    orch.succeed("udevadm settle && systemctl start livepeer.service")
    orch.wait_for_unit("var-lib-livepeer.mount")
    orch.wait_for_unit("livepeer.service")
    orch.wait_for_unit("lpwatch.service")
    orch.wait_until_succeeds("curl -sf http://127.0.0.1:7936/healthz", timeout=60)
    orch.succeed("grep -E '^Max open files +65536 +65536' /proc/$(systemctl show -P MainPID livepeer)/limits")
    orch.succeed("test \"$(stat -c %U:%a /var/lib/livepeer/data)\" = livepeer:700")
    orch.fail("ss -Htln | grep -v -E '127\\.0\\.0\\.1:|\\[::1\\]:' | grep -E ':(7935|7936|7937) '")
    client.wait_for_unit("multi-user.target")
    client.wait_until_succeeds("nc -z -w 2 orch 8935", timeout=60)
    client.fail("nc -z -w 2 orch 7935")
    client.fail("nc -z -w 2 orch 7936")
    client.fail("nc -z -w 2 orch 7937")
  '';
}
