# The sandbox of every service the lpbake modules run: the systemd directives of lpbake's own
# units (builder/src/render/hardening.rs), as `serviceConfig` attributes. The parity test
# (builder/tests/nix.rs) checks that both say the same. The services are Go and Rust programs
# that need the network, their own state directory and nothing else.
#
#   loopbackOnly  the service talks to this machine only: every other IP address is denied
#   resources     it raises its own resource limits, so `@resources` system calls stay allowed
#   netlink       it reads socket statistics over netlink (sock_diag), so AF_NETLINK stays allowed
#   nvidia        it uses NVIDIA GPUs (a list of indices): their device nodes are allowed, and
#                 CUDA's JIT needs writable executable memory and the driver's /proc files
{ loopbackOnly ? false, resources ? false, netlink ? false, nvidia ? [ ] }:
let
  gpu = nvidia != [ ];
in
{
  AmbientCapabilities = "";
  CapabilityBoundingSet = "";
  DevicePolicy = "closed";
  KeyringMode = "private";
  LockPersonality = true;
  MemoryDenyWriteExecute = !gpu;
  NoNewPrivileges = true;
  PrivateDevices = !gpu;
  PrivateMounts = true;
  PrivateTmp = true;
  PrivateUsers = true;
  ProcSubset = if gpu then "all" else "pid";
  ProtectClock = true;
  ProtectControlGroups = true;
  ProtectHome = true;
  ProtectHostname = true;
  ProtectKernelLogs = true;
  ProtectKernelModules = true;
  ProtectKernelTunables = true;
  ProtectProc = "invisible";
  ProtectSystem = "strict";
  RemoveIPC = true;
  RestrictAddressFamilies = if netlink then "AF_INET AF_INET6 AF_NETLINK AF_UNIX" else "AF_INET AF_INET6 AF_UNIX";
  RestrictNamespaces = true;
  RestrictRealtime = true;
  RestrictSUIDSGID = true;
  SystemCallArchitectures = "native";
  SystemCallErrorNumber = "EPERM";
  SystemCallFilter = [ "@system-service" (if resources then "~@privileged" else "~@privileged @resources") ];
  UMask = "0077";
}
// (if loopbackOnly then { IPAddressAllow = "localhost"; IPAddressDeny = "any"; } else { })
// (if gpu then {
  DeviceAllow = [ "/dev/nvidiactl rw" "/dev/nvidia-uvm rw" "/dev/nvidia-uvm-tools rw" ]
    ++ map (i: "/dev/nvidia${toString i} rw") nvidia;
} else { })
