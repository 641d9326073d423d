//! The one URL policy: which schemes and hosts lpbake speaks to, and which URLs may be recorded
//! in an output. Every decision is made on the parsed URL (its host, never a string prefix), so
//! `http://127.0.0.1.example/` and `http://127.0.0.1@example.org/` are remote hosts, as they are.
//! Used by source fetches, registry pulls and `lpbake push`.

use std::net::IpAddr;
use url::Url;

/// How lpbake may reach a source URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `https://` to any host.
    Https,
    /// `http://` to this machine (127.0.0.0/8, ::1, localhost) only.
    LoopbackHttp,
    /// `file://` on this machine.
    File,
}

/// Why a URL is refused; `fix` says what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub msg: String,
    pub fix: String,
}

impl Refusal {
    fn new(msg: impl Into<String>, fix: impl Into<String>) -> Self {
        Refusal { msg: msg.into(), fix: fix.into() }
    }
}

/// Query parameter names that carry credentials (matched case-insensitively, as substrings).
const SECRET_QUERY_KEYS: &[&str] =
    &["token", "secret", "password", "passwd", "key", "sig", "credential", "auth", "session"];

/// Checks a source URL of the spec: a scheme lpbake fetches, to a host it may use that scheme
/// with, and no credentials (user info or a credential-like query parameter), which would be
/// recorded in the image history, the SBOM and the lock.
pub fn source(text: &str) -> Result<(Url, Transport), Refusal> {
    let url = Url::parse(text)
        .map_err(|e| Refusal::new(format!("`{text}` is not a URL: {e}"), "write an absolute https:// URL"))?;
    refuse_credentials(&url)?;
    let transport = match url.scheme() {
        "https" if url.host().is_some() => Transport::Https,
        "http" if is_loopback(&url) => Transport::LoopbackHttp,
        "http" => {
            return Err(Refusal::new(
                format!(
                "plain http to {} is refused: only loopback hosts (127.0.0.0/8, ::1, localhost) are fetched over http",
                host_of(&url)
            ),
                "use the https:// URL of the upstream file",
            ))
        }
        "file" => Transport::File,
        other => {
            return Err(Refusal::new(
                format!("the scheme `{other}:` is not fetched"),
                "use an https:// URL (or file:// for a file on this machine)",
            ))
        }
    };
    Ok((url, transport))
}

fn refuse_credentials(url: &Url) -> Result<(), Refusal> {
    const FIX: &str = "remove the credentials from the URL: lpbake records source URLs in the lock, the image history and the SBOM; give credentials to the registry through the Docker credential store instead";
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::new(
            format!("the URL of {} carries user credentials (`user:password@`)", host_of(url)),
            FIX,
        ));
    }
    for (key, _) in url.query_pairs() {
        let lower = key.to_ascii_lowercase();
        if SECRET_QUERY_KEYS.iter().any(|s| lower.contains(s)) {
            return Err(Refusal::new(
                format!(
                    "the URL of {} carries the query parameter `{key}`, which looks like a credential",
                    host_of(url)
                ),
                FIX,
            ));
        }
    }
    Ok(())
}

/// Whether the URL's parsed host is this machine: 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Whether a registry authority (`host[:port]`, as in an image reference) is this machine.
/// Anything that is not a plain authority (user info, a path) is not loopback.
pub fn is_loopback_registry(registry: &str) -> bool {
    match Url::parse(&format!("http://{registry}/")) {
        Ok(url) => {
            url.username().is_empty()
                && url.password().is_none()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && is_loopback(&url)
        }
        Err(_) => false,
    }
}

/// The scheme spoken to a registry: plain http for a loopback registry, https for all others.
pub fn registry_scheme(registry: &str) -> &'static str {
    if is_loopback_registry(registry) {
        "http"
    } else {
        "https"
    }
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or("(no host)").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        assert_eq!(source("https://example.org/a.tar.gz").unwrap().1, Transport::Https);
        for ok in [
            "http://127.0.0.1:8080/a",
            "http://127.1.2.3/a",
            "http://localhost/a",
            "http://LOCALHOST:1/a",
            "http://[::1]:9/a",
        ] {
            assert_eq!(source(ok).unwrap().1, Transport::LoopbackHttp, "{ok}");
        }
        assert_eq!(source("file:///srv/a.tar.gz").unwrap().1, Transport::File);
    }

    #[test]
    fn look_alike_hosts_are_remote() {
        for bad in [
            "http://127.0.0.1.example/a",
            "http://localhost.example.org/a",
            "http://127.0.0.1@example.org/a",
            "http://[::2]/a",
            "http://10.0.0.1/a",
            "ftp://127.0.0.1/a",
            "gopher://localhost/a",
        ] {
            assert!(source(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn credentials_in_urls_are_refused() {
        for bad in [
            "https://user:token@example.org/a.tar.gz",
            "https://user@example.org/a.tar.gz",
            "https://example.org/a.tar.gz?access_token=abc",
            "https://example.org/a.tar.gz?X-Amz-Signature=abc",
            "https://example.org/a.tar.gz?apiKey=abc",
        ] {
            let r = source(bad).unwrap_err();
            assert!(r.fix.contains("credential"), "{bad}: {r:?}");
            assert!(
                !r.msg.contains("abc") && !r.msg.contains("token@"),
                "the refusal must not repeat the secret: {r:?}"
            );
        }
        assert!(source("https://example.org/a.tar.gz?download=1").is_ok());
    }

    #[test]
    fn registries_are_judged_by_parsed_host() {
        for loopback in ["127.0.0.1:5000", "localhost", "localhost:5000", "[::1]", "[::1]:5000", "127.0.0.2:5000"] {
            assert!(is_loopback_registry(loopback), "{loopback}");
            assert_eq!(registry_scheme(loopback), "http");
        }
        for remote in
            ["example.com", "localhost.example.com:5000", "127.0.0.1.nip.io:5000", "127.0.0.1@evil:5000", "[::2]:5000"]
        {
            assert!(!is_loopback_registry(remote), "{remote}");
            assert_eq!(registry_scheme(remote), "https");
        }
    }
}
