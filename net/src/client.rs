//! The one way lpwatch and the collector build their HTTP clients (to livepeer's CLI API, the RPC
//! upstreams, a collector, Prometheus):
//! no redirects, the program's own user agent, idle connections kept 30 s, and the system's TLS roots
//! loaded only when one of the client's URLs is https. Loading them reads some 300 files and
//! parses every root: 20 ms on a laptop, seconds at boot under emulation, for clients that
//! often talk plain HTTP on loopback only.

use std::time::Duration;

/// A client builder for requests to `urls` (and only those: without an https URL among them,
/// the client trusts no TLS server), saying it is `agent` (the program and its version).
pub fn builder<'a>(agent: &str, urls: impl IntoIterator<Item = &'a reqwest::Url>) -> reqwest::ClientBuilder {
    let b = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent);
    if urls.into_iter().any(|u| u.scheme() == "https") {
        b
    } else {
        b.tls_certs_only([])
    }
}
