//! The collector's configuration: one TOML file, strict like lpwatch's own, with the RPC URL
//! kept out of it when it holds an API key (`rpc_url_file`); both read, as lpwatch's, through the
//! bounded reader. Every error names the key.

use crate::limits::Rate;
use lpbake_keystore::Address;
use lpbake_net::network::{self, Contracts};
use lpbake_net::secret::{self, SecretUrl};
use lpbake_rules::units::Dur;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    forward: String,
    query: Option<String>,
    network: Option<String>,
    chain_id: Option<u64>,
    rpc_url: Option<String>,
    rpc_url_file: Option<PathBuf>,
    rounds_manager: Option<String>,
    bonding_manager: Option<String>,
    window: Option<Dur>,
    max_body_bytes: Option<usize>,
    refresh: Option<Dur>,
    max_pushes_per_source: Option<RateFile>,
    max_pushes_per_account: Option<RateFile>,
    publish_every: Option<Dur>,
}

/// `{ burst = N, per_second = R }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateFile {
    burst: u32,
    per_second: f64,
}

/// What the collector runs with, validated.
#[derive(Clone, Debug)]
pub struct CollectCfg {
    pub listen: SocketAddr,
    /// The Prometheus remote-write receiver accepted samples go to.
    pub forward: reqwest::Url,
    /// That Prometheus's HTTP API, for the public aggregates (by default the forward URL's origin).
    pub query: reqwest::Url,
    pub chain_id: u64,
    pub rpc: SecretUrl,
    pub contracts: Contracts,
    /// How far a push's timestamp may be from the collector's clock.
    pub window: Duration,
    pub max_body_bytes: usize,
    /// How often the active set (the BondingManager's transcoder pool, active this round) is
    /// read again; it is also read at once when the round changes. Older than 3 times this, it
    /// is no longer trusted (pushes get 503 until the chain answers again).
    pub refresh: Duration,
    /// Token bucket per source address (IPv4) or /64 (IPv6).
    pub per_source: Rate,
    /// Token bucket per orchestrator account.
    pub per_account: Rate,
    /// How often the public aggregates are computed, at instants aligned to it; between them
    /// `/api/cells` answers the last ones.
    pub publish_every: Duration,
}

/// Reads and checks the config file at `path`.
pub fn load(path: &Path) -> Result<CollectCfg, String> {
    let text = lpbake_rules::read::text(path, lpbake_rules::read::MAX_CONFIG_BYTES).map_err(|e| e.to_string())?;
    let f: File = toml::from_str(&text)
        .map_err(|e| format!("{}: {}", path.display(), lpbake_rules::redact::toml_error_line(&text, &e)))?;
    let bad = |key: &str, why: String| format!("{}: {key}: {why}", path.display());
    let listen = f.listen.as_deref().unwrap_or("127.0.0.1:9201");
    let listen = listen.parse().map_err(|_| bad("listen", format!("{listen:?} is not IP:port")))?;
    let forward = reqwest::Url::parse(&f.forward).map_err(|e| bad("forward", e.to_string()))?;
    let query = match &f.query {
        Some(q) => reqwest::Url::parse(q).map_err(|e| bad("query", e.to_string()))?,
        None => forward.join("/").map_err(|e| bad("forward", e.to_string()))?,
    };
    let known = f.network.as_deref().map(|n| {
        network::known(n).ok_or_else(|| bad("network", format!("{n:?} is not known: set chain_id and the contracts")))
    });
    let known = known.transpose()?;
    let chain_id =
        f.chain_id.or(known.map(|k| k.chain_id)).ok_or_else(|| bad("chain_id", "missing (or set network)".into()))?;
    let address = |key: &str, given: Option<String>, default: Option<&str>| -> Result<Address, String> {
        let text = given.as_deref().or(default).ok_or_else(|| bad(key, "missing (or set network)".into()))?;
        text.parse().map_err(|e: String| bad(key, e))
    };
    let contracts = Contracts {
        rounds_manager: address("rounds_manager", f.rounds_manager, known.map(|k| k.rounds_manager))?,
        bonding_manager: address("bonding_manager", f.bonding_manager, known.map(|k| k.bonding_manager))?,
    };
    let rpc_text = match (f.rpc_url, &f.rpc_url_file) {
        (Some(url), None) => url,
        (None, Some(file)) => secret::url_file(file).map_err(|e| bad("rpc_url_file", e.to_string()))?,
        _ => return Err(bad("rpc_url", "set exactly one of rpc_url and rpc_url_file".into())),
    };
    // The URL is never quoted back: it may hold an API key.
    let rpc = reqwest::Url::parse(&rpc_text).map_err(|e| bad("rpc_url", format!("not a URL ({e})")))?;
    let rate = |key: &str, given: Option<RateFile>, default: Rate| match given {
        None => Ok(default),
        Some(r) => Rate { burst: r.burst, per_second: r.per_second }.checked().map_err(|e| bad(key, e)),
    };
    let per_source = rate("max_pushes_per_source", f.max_pushes_per_source, Rate::PER_SOURCE)?;
    let per_account = rate("max_pushes_per_account", f.max_pushes_per_account, Rate::PER_ACCOUNT)?;
    let refresh = f.refresh.map_or(Duration::from_secs(600), |d| d.0);
    if refresh.is_zero() {
        return Err(bad("refresh", "must be longer than 0".into()));
    }
    let publish_every = f.publish_every.map_or(Duration::from_secs(60), |d| d.0);
    if publish_every < Duration::from_secs(1) {
        return Err(bad("publish_every", "must be at least 1s (60s is the default)".into()));
    }
    Ok(CollectCfg {
        listen,
        forward,
        query,
        chain_id,
        rpc: SecretUrl::new(rpc),
        contracts,
        window: f.window.map_or(Duration::from_secs(300), |d| d.0),
        max_body_bytes: f.max_body_bytes.unwrap_or(256 << 10),
        refresh,
        per_source,
        per_account,
        publish_every,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "forward = \"http://127.0.0.1:9090/api/v1/write\"\nnetwork = \"arbitrum-one-mainnet\"\nrpc_url = \"https://rpc.example/v2/s3cr3t\"\n";

    fn load_text(text: &str) -> Result<CollectCfg, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collect.toml");
        std::fs::write(&path, text).unwrap();
        load(&path)
    }

    #[test]
    fn refresh_and_rate_limits_have_defaults_and_can_be_set() {
        let cfg = load_text(BASE).unwrap();
        assert_eq!(cfg.refresh, Duration::from_secs(600));
        assert_eq!((cfg.per_source, cfg.per_account), (Rate::PER_SOURCE, Rate::PER_ACCOUNT));
        let cfg = load_text(&format!(
            "{BASE}refresh = \"1m\"\nmax_pushes_per_source = {{ burst = 5, per_second = 2 }}\n\
             max_pushes_per_account = {{ burst = 2, per_second = 0.5 }}\n"
        ))
        .unwrap();
        assert_eq!(cfg.refresh, Duration::from_secs(60));
        assert_eq!(cfg.per_source, Rate { burst: 5, per_second: 2.0 });
        assert_eq!(cfg.per_account, Rate { burst: 2, per_second: 0.5 });
        for (bad, key) in [
            ("max_pushes_per_account = { burst = 0, per_second = 1 }", "max_pushes_per_account"),
            ("max_pushes_per_source = { burst = 1, per_second = 0 }", "max_pushes_per_source"),
            ("refresh = \"0s\"", "refresh"),
            ("registered_for = \"10m\"", "registered_for"),
        ] {
            let e = load_text(&format!("{BASE}{bad}\n")).unwrap_err();
            assert!(e.contains(key), "{e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }
}
