//! The sandbox every baked service runs in: systemd directives chosen so that
//! `systemd-analyze security` scores each unit at or below 2.0 (the tests measure it). The
//! services are Go and Rust programs that need the network, their own state directory and
//! nothing else: no capabilities, no devices, no privileged system calls, no writable system.

use std::collections::BTreeMap;

/// What one service needs beyond the common sandbox.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// Talks to this machine only: every other IP address is denied to it.
    pub loopback_only: bool,
    /// Raises its own resource limits (geth raises its open-file limit and exits when it
    /// cannot), so `@resources` system calls stay allowed.
    pub resources: bool,
    /// Reads socket statistics over netlink (sock_diag), so AF_NETLINK stays allowed.
    pub netlink: bool,
}

/// The hardening directives of a service; a key with several values becomes several lines.
/// AF_UNIX stays allowed: the notify socket and name resolution need it.
pub fn directives(needs: Needs) -> BTreeMap<String, Vec<String>> {
    let mut d: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut set = |k: &str, v: &[&str]| {
        d.insert(k.to_string(), v.iter().map(|s| s.to_string()).collect());
    };
    set("AmbientCapabilities", &[""]);
    set("CapabilityBoundingSet", &[""]);
    set("DevicePolicy", &["closed"]);
    set("KeyringMode", &["private"]);
    set("LockPersonality", &["yes"]);
    set("MemoryDenyWriteExecute", &["yes"]);
    set("NoNewPrivileges", &["yes"]);
    set("PrivateDevices", &["yes"]);
    set("PrivateMounts", &["yes"]);
    set("PrivateTmp", &["yes"]);
    set("PrivateUsers", &["yes"]);
    set("ProcSubset", &["pid"]);
    set("ProtectClock", &["yes"]);
    set("ProtectControlGroups", &["yes"]);
    set("ProtectHome", &["yes"]);
    set("ProtectHostname", &["yes"]);
    set("ProtectKernelLogs", &["yes"]);
    set("ProtectKernelModules", &["yes"]);
    set("ProtectKernelTunables", &["yes"]);
    set("ProtectProc", &["invisible"]);
    set("ProtectSystem", &["strict"]);
    set("RemoveIPC", &["yes"]);
    let families = if needs.netlink { "AF_INET AF_INET6 AF_NETLINK AF_UNIX" } else { "AF_INET AF_INET6 AF_UNIX" };
    set("RestrictAddressFamilies", &[families]);
    set("RestrictNamespaces", &["yes"]);
    set("RestrictRealtime", &["yes"]);
    set("RestrictSUIDSGID", &["yes"]);
    set("SystemCallArchitectures", &["native"]);
    set("SystemCallErrorNumber", &["EPERM"]);
    let deny = if needs.resources { "~@privileged" } else { "~@privileged @resources" };
    set("SystemCallFilter", &["@system-service", deny]);
    set("UMask", &["0077"]);
    if needs.loopback_only {
        set("IPAddressAllow", &["localhost"]);
        set("IPAddressDeny", &["any"]);
    }
    d
}
