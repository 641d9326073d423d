//! A free loopback port for a test server, never one this process was given before: the kernel
//! may hand out a port again as soon as the probing socket closes, so two ports picked in a row
//! (two listen addresses of one config) could be the same. Included by path into each crate's
//! tests (`#[path = ".../tests/support/free_port.rs"]`), so that every test picks ports one way.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// A port on 127.0.0.1 that was free a moment ago and that this process was not given before.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free port on 127.0.0.1");
        if GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port) {
            return port;
        }
    }
    panic!("no new free port on 127.0.0.1 in 1000 tries")
}
