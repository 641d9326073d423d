//! The one URL policy: which schemes and hosts lpbake speaks to, and which URLs may be recorded
//! in an output. Every decision is made on the parsed URL (its host, never a string prefix), so
//! `http://127.0.0.1.example/` and `http://127.0.0.1@example.org/` are remote hosts, as they are.
//! Two rules for what is recorded: [`source`] (a spec's source URLs, kept in the lock, the image
//! history and the SBOM) and [`baked`] (URLs the appliance writes into the node's `/etc`). Used
//! by source fetches, registry pulls, `lpbake push` and the appliance's spec. A refusal never
//! quotes the URL: whatever part of it is refused may be a secret.

use url::Url;

pub use lpbake_rules::host::is_loopback;

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

/// The longest host label or path segment a baked URL may hold. Every hosted RPC provider's key
/// is longer (Alchemy 32, Infura 32 hex, QuickNode 40 hex, a UUID 36), and a key-less endpoint's
/// names are shorter (`arb1.arbitrum.io/rpc`, `arbitrum-one.publicnode.com`).
pub const MAX_BAKED_PART: usize = 20;

/// Checks a source URL of the spec: a scheme lpbake fetches, to a host it may use that scheme
/// with, and no user info, no query and no fragment (where credentials go), since it is
/// recorded in the lock, the image history and the SBOM.
pub fn source(text: &str) -> Result<(Url, Transport), Refusal> {
    let url = parse(text)?;
    nothing_but_a_path(&url, SOURCE_FIX)?;
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

const SOURCE_FIX: &str = "remove it from the URL: lpbake records source URLs in the lock, the image history and the SBOM; a file that needs credentials goes into a --mirror DIR, and a registry's credentials into the Docker credential store";

/// Checks a URL the appliance bakes into a file of the node (an RPC upstream, a share
/// endpoint): https, or http to a loopback host (judged by the parsed host); no user info,
/// query or fragment; and no host label or path segment longer than [`MAX_BAKED_PART`]
/// characters. A URL holding anything else (every hosted provider's key is longer) goes
/// through a credential file. `fix` is the caller's (every refusal carries it): where such a
/// URL goes instead.
pub fn baked(text: &str, fix: &str) -> Result<Url, Refusal> {
    let url = parse(text)?;
    nothing_but_a_path(&url, fix)?;
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Refusal::new(
                "plain http:// is baked only to a loopback host (127.0.0.0/8, ::1, localhost); use https://",
                fix,
            ))
        }
        other => return Err(Refusal::new(format!("the scheme `{other}:` is not https://"), fix)),
    }
    let long = |part: &str| part.chars().count() > MAX_BAKED_PART;
    if let Some(url::Host::Domain(host)) = url.host() {
        if let Some(label) = host.split('.').find(|l| long(l)) {
            return Err(Refusal::new(
                format!(
                    "a label of the URL's host has {} characters (more than {MAX_BAKED_PART}), the shape of an API key",
                    label.chars().count()
                ),
                fix,
            ));
        }
    }
    if let Some(segment) = url.path_segments().into_iter().flatten().find(|s| long(s)) {
        return Err(Refusal::new(
            format!(
                "a segment of the URL's path has {} characters (more than {MAX_BAKED_PART}), the shape of an API key",
                segment.chars().count()
            ),
            fix,
        ));
    }
    Ok(url)
}

/// Parses `text` without quoting it back: it may hold a secret.
fn parse(text: &str) -> Result<Url, Refusal> {
    Url::parse(text).map_err(|e| Refusal::new(format!("not an absolute URL ({e})"), "write an absolute https:// URL"))
}

/// Refuses user info, a query and a fragment, naming only which one.
fn nothing_but_a_path(url: &Url, fix: &str) -> Result<(), Refusal> {
    let part = if !url.username().is_empty() || url.password().is_some() {
        "user info (`user:password@`)"
    } else if url.query().is_some() {
        "a query (`?...`)"
    } else if url.fragment().is_some() {
        "a fragment (`#...`)"
    } else {
        return Ok(());
    };
    Err(Refusal::new(format!("the URL has {part}, where credentials go"), fix))
}

/// How an error names a URL that may carry a credential: scheme, host, port and path, never its
/// user info, query or fragment (nor a URL that does not parse).
pub fn shown(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(a URL that does not parse)".into(),
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
    fn source_urls_have_no_user_info_query_or_fragment() {
        for bad in [
            "https://user:token@example.org/a.tar.gz",
            "https://user@example.org/a.tar.gz",
            "https://example.org/a.tar.gz?access_token=abc",
            "https://example.org/a.tar.gz?X-Amz-Signature=abc",
            "https://example.org/a.tar.gz?apiKey=abc",
            "https://example.org/a.tar.gz?download=1",
            "https://example.org/a.tar.gz?",
            "https://example.org/a.tar.gz#abc",
            "https://example.org/a.tar.gz#",
        ] {
            let r = source(bad).unwrap_err();
            assert!(r.fix.contains("credentials"), "{bad}: {r:?}");
            assert!(!r.msg.contains("abc") && !r.msg.contains("token@"), "the refusal repeats the secret: {r:?}");
        }
    }

    #[test]
    fn a_url_that_does_not_parse_is_not_quoted() {
        for bad in ["https://user:s3cret@[::1", "s3cret", "https://s3cret:99999/"] {
            let r = source(bad).unwrap_err();
            assert!(!r.msg.contains("s3cret"), "{r:?}");
            let r = baked(bad, "x").unwrap_err();
            assert!(!r.msg.contains("s3cret"), "{r:?}");
        }
    }

    const FIX: &str = "use a credential file";

    fn accepted(url: &str) {
        assert_eq!(baked(url, FIX).map(|u| u.to_string()), Ok(url.to_string()));
    }

    /// Refused with the caller's fix, naming what, never repeating `key`.
    fn refused(url: &str, key: &str, what: &str) {
        let r = baked(url, FIX).unwrap_err();
        assert!(r.msg.contains(what) && r.fix == FIX, "{url}: {r:?}");
        assert!(!r.msg.contains(key) && !r.fix.contains(key), "the refusal repeats the key: {r:?}");
    }

    #[test]
    fn arbitrum_foundations_endpoint_is_baked() {
        accepted("https://arb1.arbitrum.io/rpc");
    }

    #[test]
    fn publicnode_endpoint_is_baked() {
        accepted("https://arbitrum-one.publicnode.com/");
    }

    #[test]
    fn ankr_public_endpoint_is_baked() {
        accepted("https://rpc.ankr.com/arbitrum");
    }

    #[test]
    fn onerpc_endpoint_is_baked() {
        accepted("https://1rpc.io/arb");
    }

    #[test]
    fn loopback_http_is_baked_and_remote_http_is_not() {
        accepted("http://127.0.0.1:8545/");
        accepted("http://[::1]:8545/");
        refused("http://rpc.example.org/", "rpc.example.org", "loopback");
        refused("http://127.0.0.1.example.org/", "example", "loopback");
        refused("ftp://127.0.0.1/", "127", "scheme");
    }

    #[test]
    fn alchemy_key_is_refused() {
        let key = "aBcD3fGh1jKlMn0pQrStUvWxYz012345";
        refused(&format!("https://arb-mainnet.g.alchemy.com/v2/{key}"), key, "path has 32 characters");
    }

    #[test]
    fn infura_key_is_refused() {
        let key = "0123456789abcdef0123456789abcdef";
        refused(&format!("https://arbitrum-mainnet.infura.io/v3/{key}"), key, "path has 32 characters");
    }

    #[test]
    fn quicknode_key_is_refused() {
        let key = "0123456789abcdef0123456789abcdef01234567";
        refused(&format!("https://a-b.arbitrum-mainnet.quiknode.pro/{key}/"), key, "path has 40 characters");
    }

    #[test]
    fn uuid_path_is_refused() {
        let key = "123e4567-e89b-12d3-a456-426614174000";
        refused(&format!("https://rpc.example.org/{key}"), key, "path has 36 characters");
    }

    #[test]
    fn all_letters_key_is_refused() {
        let key = "abcdefghijklmnopqrstuvwx";
        refused(&format!("https://rpc.example.org/arb/{key}"), key, "path has 24 characters");
    }

    #[test]
    fn a_key_in_the_host_is_refused() {
        let key = "k3yk3yk3yk3yk3yk3yk3yk";
        refused(&format!("https://{key}.rpc.example.org/"), key, "host has 22 characters");
    }

    #[test]
    fn credentials_in_a_baked_url_are_refused() {
        refused("https://me:s3cret@rpc.example.org/", "s3cret", "user info");
        refused("https://rpc.example.org/?apikey=s3cret", "s3cret", "a query");
        refused("https://rpc.example.org/#s3cret", "s3cret", "a fragment");
    }

    /// Hosts and paths of generated labels and segments: a URL is baked exactly when every
    /// label and segment has at most 20 characters; a refusal never repeats the long part.
    #[test]
    fn generated_urls_are_baked_exactly_when_every_part_is_short() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let part = "[a-z0-9][a-z0-9_~-]{0,30}";
        let url = (
            proptest::collection::vec(part, 1..4),
            proptest::collection::vec("[A-Za-z0-9._~-]{1,40}", 0..4),
            proptest::bool::ANY,
        );
        let mut runner = TestRunner::new(Config { cases: 128, failure_persistence: None, ..Config::default() });
        runner
            .run(&url, |(labels, segments, http)| {
                let labels: Vec<String> = labels.iter().map(|l| l.replace('_', "-").replace('~', "x")).collect();
                let segments: Vec<&String> = segments.iter().filter(|s| *s != "." && *s != "..").collect();
                let host = format!("{}.example", labels.join("."));
                let text =
                    format!("https://{host}/{}", segments.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("/"));
                let short = labels.iter().chain(segments.iter().copied()).all(|p| p.len() <= MAX_BAKED_PART);
                match baked(&text, FIX) {
                    Ok(_) => prop_assert!(short, "baked a long part: {}", text),
                    Err(r) => {
                        prop_assert!(!short, "refused {}: {:?}", text, r);
                        for long in labels.iter().chain(segments.iter().copied()).filter(|p| p.len() > MAX_BAKED_PART) {
                            prop_assert!(!r.msg.contains(long.as_str()), "{:?}", r);
                        }
                    }
                }
                // The same host over plain http is refused: it is not this machine.
                if http {
                    prop_assert!(baked(&text.replacen("https", "http", 1), FIX).is_err());
                }
                // Anything after `?`, `#` or before `@` is refused, and not repeated.
                for with in
                    [format!("{text}?k=SECRET"), format!("{text}#SECRET"), text.replacen("://", "://u:SECRET@", 1)]
                {
                    let r = baked(&with, FIX).unwrap_err();
                    prop_assert!(!r.msg.contains("SECRET"), "{:?}", r);
                    let r = source(&with).unwrap_err();
                    prop_assert!(!r.msg.contains("SECRET"), "{:?}", r);
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
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

    #[test]
    fn a_url_is_shown_without_its_credentials() {
        assert_eq!(shown("https://u:s3cret@h.example/a/b.tar?token=s3cret#s3cret"), "https://h.example/a/b.tar");
        assert!(!shown("ht tp://s3cret").contains("s3cret"));
    }
}
