//! Listen addresses as the real node fills and binds them: the starter's `defaultAddr` and Go's `net.Listen`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};

/// The starter's `defaultAddr`: empty gives `host:port`, `:p` gives `host:p`, a bare host gets `:port`.
pub fn default_addr(addr: &str, host: &str, port: &str) -> String {
    if addr.is_empty() {
        format!("{host}:{port}")
    } else if addr.starts_with(':') {
        format!("{host}{addr}")
    } else if !addr.contains(':') {
        format!("{addr}:{port}")
    } else {
        addr.to_string()
    }
}

/// Splits `host:port` (host may be `[v6]` or empty) at the last colon.
pub fn split_host_port(addr: &str) -> (&str, &str) {
    match addr.rfind(':') {
        Some(at) => (addr[..at].trim_start_matches('[').trim_end_matches(']'), &addr[at + 1..]),
        None => (addr, ""),
    }
}

/// Binds like Go's `net.Listen("tcp", addr)`: an empty host means every interface (dual-stack when possible).
/// Errors are worded like Go's: `listen tcp ADDR: bind: address already in use`.
pub fn listen(addr: &str) -> Result<TcpListener, String> {
    let (host, port) = split_host_port(addr);
    let port: u16 =
        if port.is_empty() { 0 } else { port.parse().map_err(|_| format!("listen tcp {addr}: unknown port"))? };
    let candidates: Vec<SocketAddr> = if host.is_empty() {
        vec![(Ipv6Addr::UNSPECIFIED, port).into(), (Ipv4Addr::UNSPECIFIED, port).into()]
    } else {
        (host, port).to_socket_addrs().map_err(|e| format!("listen tcp {addr}: lookup {host}: {e}"))?.collect()
    };
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address");
    for candidate in candidates {
        match TcpListener::bind(candidate) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(format!("listen tcp {addr}: bind: address already in use"))
            }
            Err(e) => last = e,
        }
    }
    Err(format!("listen tcp {addr}: bind: {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_like_the_starter() {
        assert_eq!(default_addr("", "127.0.0.1", "7935"), "127.0.0.1:7935");
        assert_eq!(default_addr(":9000", "127.0.0.1", "7935"), "127.0.0.1:9000");
        assert_eq!(default_addr(":9000", "", "8935"), ":9000");
        assert_eq!(default_addr("0.0.0.0", "127.0.0.1", "1935"), "0.0.0.0:1935");
        assert_eq!(default_addr("10.0.0.1:1", "127.0.0.1", "1935"), "10.0.0.1:1");
    }

    #[test]
    fn host_port() {
        assert_eq!(split_host_port(":8935"), ("", "8935"));
        assert_eq!(split_host_port("[::1]:7935"), ("::1", "7935"));
        assert_eq!(split_host_port("example.com:1"), ("example.com", "1"));
    }

    #[test]
    fn busy_port_is_reported_like_go() {
        let held = listen("127.0.0.1:0").unwrap();
        let addr = format!("127.0.0.1:{}", held.local_addr().unwrap().port());
        assert_eq!(listen(&addr).unwrap_err(), format!("listen tcp {addr}: bind: address already in use"));
    }
}
