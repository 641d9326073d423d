//! A free loopback port for a test server, below the kernel's ephemeral range and never one this
//! process was given before. A port the kernel hands out for `bind(:0)` comes from the ephemeral
//! range, so any outgoing connection (a client, Prometheus's remote write) may take it as its
//! local port before the server binds it, and the server then fails with "address in use". Two
//! ports picked in a row (two listen addresses of one config) must also differ. Included by path
//! into each crate's tests (`#[path = ".../tests/support/free_port.rs"]`), so that every test
//! picks ports one way.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// The lowest port picked: above the well-known and most registered servers' ports.
const LOWEST: u16 = 20000;

/// A port on 127.0.0.1 below the ephemeral range, free a moment ago, that this process was not
/// given before. The search starts at an offset from the process id, so that test processes
/// running at once mostly pick different ports.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|low| *low > LOWEST + 1000)
        .unwrap_or(32768);
    let span = u32::from(ephemeral_low - LOWEST);
    let start = std::process::id().wrapping_mul(7919) % span;
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    for i in 0..span {
        let port = LOWEST + ((start + i) % span) as u16;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 between {LOWEST} and {ephemeral_low}")
}
