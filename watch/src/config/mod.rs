//! The configuration lpwatch runs with: the validated [`Config`] every other module reads, and
//! the ways to get one. The job is split by stage: `file` reads the TOML file as written
//! (strict; it, and each file it names, through the bounded reader), `resolve` applies flags
//! and environment, fills defaults and validates, `describe` prints the effective configuration
//! for `--check-config`.

mod describe;
mod file;
mod resolve;

pub use file::{toml_error, MAX_CONFIG_BYTES};
pub use lpbake_net::network::Contracts;
pub use lpbake_net::secret::{url_file, SecretUrl};

use crate::abi::Address;
use crate::checks::CheckName;
use crate::share::geo::CellSize;
use crate::share::set::Extra;
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file names itself and the fix.
    #[error("config file {0}")]
    Read(#[from] lpbake_rules::read::ReadError),
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Values given on the command line or in `LPWATCH_*` variables; each wins over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub network: Option<String>,
    pub chain_id: Option<u64>,
    pub http_listen: Option<String>,
    pub rpc_listen: Option<String>,
    pub livepeer_cli: Option<String>,
    pub orchestrator: Option<String>,
    pub check_interval: Option<String>,
    /// `LPWATCH_RPC_UPSTREAMS`: comma-separated URLs (environment only: URLs often hold API keys).
    pub upstreams: Option<String>,
}

/// One JSON-RPC upstream. `name` is its label, the only way it is ever shown (logs, `/healthz`,
/// metrics, error bodies): configured, or derived from the host (`upstream-N` without one).
#[derive(Clone, Debug)]
pub struct UpstreamCfg {
    pub name: String,
    pub url: SecretUrl,
}

/// The livepeer node lpwatch watches.
#[derive(Clone, Debug)]
pub struct LivepeerCfg {
    pub cli_url: reqwest::Url,
    pub orchestrator: Option<Address>,
    pub min_transcoders: u64,
    pub relay_metrics: bool,
}

/// The RPC failover pool and proxy.
#[derive(Clone, Debug)]
pub struct RpcCfg {
    pub upstreams: Vec<UpstreamCfg>,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    pub request_timeout: Duration,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
    pub max_concurrent: usize,
}

/// The check loop and its thresholds.
#[derive(Clone, Debug)]
pub struct ChecksCfg {
    pub interval: Duration,
    pub timeout: Duration,
    pub critical: BTreeSet<CheckName>,
    pub reward_grace: Duration,
    pub min_eth_balance: u128,
    pub warn_eth_balance: Option<u128>,
    pub max_head_age: Duration,
}

/// What `[share]` shares (see [`crate::share`]); `None` without a `[share]` table.
#[derive(Clone, Debug)]
pub struct ShareCfg {
    /// The operator's MaxMind-format database (GeoLite2 or DB-IP lite).
    pub mmdb: PathBuf,
    pub cell: CellSize,
    /// The fewest distinct gateway addresses a named cell may show (k): thinner cells are merged.
    pub min_gateways: usize,
    /// livepeer's service port: connections to it are gateways.
    pub service_port: u16,
    /// Peers in these networks are not counted (by default the ones that are not globally
    /// routable: loopback, private, link-local, CGNAT, ULA: the operator's own transcoders).
    pub ignore: Vec<IpNet>,
    pub extras: Vec<Extra>,
    /// Where shares go (a remote-write URL, shown redacted: it may hold a token); `None`: nothing
    /// is sent.
    pub endpoint: Option<SecretUrl>,
    pub interval: Duration,
    /// Shares not sent yet, and the most bytes they may take there.
    pub queue_dir: PathBuf,
    pub queue_max_bytes: u64,
    /// lpwatch's reporting key (created if missing) and, beside it (`.delegation`), the
    /// orchestrator account's signed delegation of it.
    pub key_file: PathBuf,
}

/// Everything lpwatch needs to run, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub network: String,
    /// `None` for `offchain`: no chain checks, no proxy.
    pub chain_id: Option<u64>,
    pub http_listen: SocketAddr,
    pub rpc_listen: Option<SocketAddr>,
    pub livepeer: LivepeerCfg,
    pub contracts: Option<Contracts>,
    pub rpc: RpcCfg,
    pub checks: ChecksCfg,
    pub share: Option<ShareCfg>,
}

impl Config {
    /// Reads `path` (if any), applies `ov`, fills defaults and validates.
    pub fn load(path: Option<&Path>, ov: &Overrides) -> Result<Config, ConfigError> {
        let file = match path {
            None => file::FileConfig::default(),
            Some(p) => file::read(p)?,
        };
        resolve::resolve(file, ov)
    }

    /// Parses config text (for tests).
    pub fn from_toml(text: &str, ov: &Overrides) -> Result<Config, ConfigError> {
        resolve::resolve(file::parse(text, Path::new("<text>"))?, ov)
    }

    /// The chain checks run (anything but `offchain`).
    pub fn on_chain(&self) -> bool {
        self.chain_id.is_some()
    }
}
