# VM test: an orchestrator and a standalone transcoder on two nodes, sharing orchSecret as a
# systemd credential; the orchestrator counts the transcoder in its /status.
{ self }:
{
  name = "lpbake-remote-transcoder";
  defaults = { pkgs, ... }: {
    imports = [ self.nixosModules.default ];
    # A test secret: in the store is fine here, never on a real node (use agenix or sops-nix).
    services.livepeer.orchSecretFile = "${pkgs.writeText "orch-secret" "vm-test-secret"}";
    services.livepeer.openFirewall = true;
    environment.systemPackages = [ pkgs.jq ];
  };
  nodes.orch = {
    services.livepeer = { enable = true; role = "orchestrator"; network = "offchain"; serviceAddr = "orch:8935"; };
  };
  nodes.transcoder = {
    services.livepeer = { enable = true; role = "transcoder"; orchAddr = [ "orch:8935" ]; };
  };
  testScript = ''
    start_all()
    orch.wait_for_unit("livepeer.service")
    transcoder.wait_for_unit("livepeer.service")
    orch.wait_until_succeeds(
        "curl -sf http://127.0.0.1:7935/status | jq -e '.RegisteredTranscodersNumber == 1'", timeout=120
    )
    # The secret reaches livepeer as a credential file, never on its command line.
    transcoder.fail("grep -a vm-test-secret /proc/$(systemctl show -P MainPID livepeer)/cmdline")
    transcoder.succeed("grep -a -- /run/credentials/livepeer.service/orch-secret /proc/$(systemctl show -P MainPID livepeer)/cmdline")
  '';
}
