//! The sandbox every baked service runs in: systemd directives chosen so that
//! `systemd-analyze security` scores each unit at or below 2.0 (the tests measure it). The
//! services are Go and Rust programs that need the network, their own state directory and
//! nothing else: no capabilities, no devices, no privileged system calls, no writable system.

use std::collections::BTreeMap;

/// The hardening directives of a service; a key with several values becomes several lines.
/// AF_UNIX stays allowed: the notify socket and name resolution need it.
pub fn directives() -> BTreeMap<String, Vec<String>> {
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
    set("RestrictAddressFamilies", &["AF_INET AF_INET6 AF_UNIX"]);
    set("RestrictNamespaces", &["yes"]);
    set("RestrictRealtime", &["yes"]);
    set("RestrictSUIDSGID", &["yes"]);
    set("SystemCallArchitectures", &["native"]);
    set("SystemCallErrorNumber", &["EPERM"]);
    set("SystemCallFilter", &["@system-service", "~@privileged @resources"]);
    set("UMask", &["0077"]);
    d
}
