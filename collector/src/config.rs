//! The collector's configuration: one TOML file, strict like lpwatch's own, with the RPC URL
//! kept out of it when it holds an API key (`rpc_url_file`); both read, as lpwatch's, through the
//! bounded reader. Every error names the key.

use crate::abi::Address;
use crate::config::{self, Contracts, SecretUrl};
use crate::network;
use crate::units::Dur;
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
    registered_for: Option<Dur>,
}

/// What `lpwatch collect` runs with, validated.
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
    /// How long an orchestrator's on-chain standing is trusted before it is read again.
    pub registered_for: Duration,
}

/// Reads and checks the config file at `path`.
pub fn load(path: &Path) -> Result<CollectCfg, String> {
    let text = lpbake_rules::read::text(path, config::MAX_CONFIG_BYTES).map_err(|e| e.to_string())?;
    let f: File =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), config::toml_error(&text, &e)))?;
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
        (None, Some(file)) => config::url_file(file).map_err(|e| bad("rpc_url_file", e.to_string()))?,
        _ => return Err(bad("rpc_url", "set exactly one of rpc_url and rpc_url_file".into())),
    };
    // The URL is never quoted back: it may hold an API key.
    let rpc = reqwest::Url::parse(&rpc_text).map_err(|e| bad("rpc_url", format!("not a URL ({e})")))?;
    Ok(CollectCfg {
        listen,
        forward,
        query,
        chain_id,
        rpc: SecretUrl::new(rpc),
        contracts,
        window: f.window.map_or(Duration::from_secs(300), |d| d.0),
        max_body_bytes: f.max_body_bytes.unwrap_or(256 << 10),
        registered_for: f.registered_for.map_or(Duration::from_secs(600), |d| d.0),
    })
}
