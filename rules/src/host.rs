//! Which host a URL reaches, judged by its parsed host (never a string prefix): the loopback
//! rule lpbake applies to what it fetches and bakes, and lpwatch to where it pushes shares.

use std::net::IpAddr;
use url::{Host, Url};

/// Whether the URL's parsed host is this machine: 127.0.0.0/8, ::1 or `localhost`. So
/// `http://127.0.0.1.example/` and `http://127.0.0.1@example.org/` are remote hosts, as they are.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_by_parsed_host() {
        for yes in ["http://127.0.0.1:1/", "http://127.1.2.3/", "http://LOCALHOST/", "http://[::1]/", "http://127.1/"] {
            assert!(is_loopback(&Url::parse(yes).unwrap()), "{yes}");
        }
        for no in ["http://127.0.0.1.example/", "http://127.0.0.1@example.org/", "http://[::2]/", "file:///x"] {
            assert!(!is_loopback(&Url::parse(no).unwrap()), "{no}");
        }
    }
}
