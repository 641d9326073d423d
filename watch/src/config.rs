//! The configuration: one TOML file (unknown keys are errors), overridden by flags and `LPWATCH_*`
//! environment variables, resolved into one validated [`Config`] with every default filled in.

use crate::abi::Address;
use crate::network;
use crate::units::{format_duration, Dur, Eth};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The names of the checks, as they appear in `/healthz`, metrics labels and `checks.critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckName {
    Livepeer,
    Reward,
    EthBalance,
    ChainHead,
    ChainId,
    Rpc,
}

impl CheckName {
    pub const ALL: [CheckName; 6] = [
        CheckName::Livepeer,
        CheckName::Reward,
        CheckName::EthBalance,
        CheckName::ChainHead,
        CheckName::ChainId,
        CheckName::Rpc,
    ];

    /// Critical by default: all but `rpc` (one upstream down while another carries the load is
    /// worth a metric, not pulling the node out of a load balancer).
    pub const DEFAULT_CRITICAL: [CheckName; 5] =
        [CheckName::Livepeer, CheckName::Reward, CheckName::EthBalance, CheckName::ChainHead, CheckName::ChainId];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Livepeer => "livepeer",
            CheckName::Reward => "reward",
            CheckName::EthBalance => "eth_balance",
            CheckName::ChainHead => "chain_head",
            CheckName::ChainId => "chain_id",
            CheckName::Rpc => "rpc",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|c| c.as_str()).collect();
            format!("unknown check {s:?} in checks.critical; known: {}", names.join(", "))
        })
    }
}

// ---- the file, as written --------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    network: Option<String>,
    chain_id: Option<u64>,
    #[serde(default)]
    listen: ListenFile,
    #[serde(default)]
    livepeer: LivepeerFile,
    #[serde(default)]
    contracts: ContractsFile,
    #[serde(default)]
    rpc: RpcFile,
    #[serde(default)]
    checks: ChecksFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenFile {
    http: Option<String>,
    rpc: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LivepeerFile {
    cli_url: Option<String>,
    orchestrator_address: Option<String>,
    min_transcoders: Option<u64>,
    relay_metrics: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractsFile {
    rounds_manager: Option<String>,
    bonding_manager: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RpcFile {
    #[serde(default)]
    upstream: Vec<UpstreamFile>,
    probe_interval: Option<Dur>,
    probe_timeout: Option<Dur>,
    request_timeout: Option<Dur>,
    max_request_bytes: Option<usize>,
    max_response_bytes: Option<usize>,
    max_concurrent: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamFile {
    name: Option<String>,
    url: Option<String>,
    url_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChecksFile {
    interval: Option<Dur>,
    timeout: Option<Dur>,
    critical: Option<Vec<String>>,
    reward_grace: Option<Dur>,
    min_eth_balance: Option<Eth>,
    warn_eth_balance: Option<Eth>,
    max_head_age: Option<Dur>,
}

// ---- overrides from flags and environment ----------------------------------------------------

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

// ---- the resolved configuration --------------------------------------------------------------

/// Where the Livepeer protocol contracts live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contracts {
    pub rounds_manager: Address,
    pub bonding_manager: Address,
}

/// One JSON-RPC upstream. `url` may hold an API key: never log or export it, use `name`.
#[derive(Clone, Debug)]
pub struct UpstreamCfg {
    pub name: String,
    pub url: reqwest::Url,
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
}

pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:7936";
pub const DEFAULT_RPC_LISTEN: &str = "127.0.0.1:7937";
pub const DEFAULT_CLI_URL: &str = "http://127.0.0.1:7935";

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

fn parse_addr(what: &str, s: &str) -> Result<Address, ConfigError> {
    s.parse().map_err(|e| invalid(format!("{what}: {e}")))
}

fn parse_listen(what: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| invalid(format!("{what}: {s:?} is not an IP:port address, e.g. \"127.0.0.1:7936\"")))
}

fn parse_url(what: &str, s: &str) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(s.trim())
        .map_err(|e| invalid(format!("{what}: not a URL ({e}); e.g. \"http://127.0.0.1:8545\"")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid(format!("{what}: only http:// and https:// URLs are supported (got {}://)", url.scheme())));
    }
    if url.host_str().is_none() {
        return Err(invalid(format!("{what}: URL has no host")));
    }
    Ok(url)
}

/// The part of a URL that is safe to print: scheme, host and port, never path or credentials.
pub fn redact(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

impl Config {
    /// Reads `path` (if any), applies `ov`, fills defaults and validates.
    pub fn load(path: Option<&Path>, ov: &Overrides) -> Result<Config, ConfigError> {
        let file = match path {
            None => FileConfig::default(),
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.to_path_buf(), source })?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError::Parse { path: p.to_path_buf(), message: e.to_string() })?
            }
        };
        Self::resolve(file, ov)
    }

    /// Parses config text (for tests and `--check-config`).
    pub fn from_toml(text: &str, ov: &Overrides) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: PathBuf::from("<text>"), message: e.to_string() })?;
        Self::resolve(file, ov)
    }

    fn resolve(f: FileConfig, ov: &Overrides) -> Result<Config, ConfigError> {
        let network = ov.network.clone().or(f.network).unwrap_or_else(|| "arbitrum-one-mainnet".into());
        let known = network::known(&network);
        let offchain = network == network::OFFCHAIN;
        let chain_id = match (ov.chain_id.or(f.chain_id), known) {
            _ if offchain => None,
            (Some(id), Some(k)) if id != k.chain_id => {
                return Err(invalid(format!("chain_id {id} contradicts network {network:?} (chain id {})", k.chain_id)))
            }
            (Some(id), _) => Some(id),
            (None, Some(k)) => Some(k.chain_id),
            (None, None) => {
                return Err(invalid(format!(
                    "network {network:?} is not one lpwatch knows: set chain_id (and [contracts]), \
                     or use \"arbitrum-one-mainnet\" or \"offchain\""
                )))
            }
        };

        let http_listen = parse_listen(
            "listen.http",
            ov.http_listen.as_deref().or(f.listen.http.as_deref()).unwrap_or(DEFAULT_HTTP_LISTEN),
        )?;
        let rpc_text = ov.rpc_listen.clone().or(f.listen.rpc).unwrap_or_else(|| DEFAULT_RPC_LISTEN.into());
        let rpc_listen = match rpc_text.trim() {
            _ if offchain => None,
            "" | "off" => None,
            s => Some(parse_listen("listen.rpc", s)?),
        };

        let cli_url = parse_url(
            "livepeer.cli_url",
            ov.livepeer_cli.as_deref().or(f.livepeer.cli_url.as_deref()).unwrap_or(DEFAULT_CLI_URL),
        )?;
        let orchestrator = match ov.orchestrator.as_deref().or(f.livepeer.orchestrator_address.as_deref()) {
            Some(s) if !s.trim().is_empty() => Some(parse_addr("livepeer.orchestrator_address", s)?),
            _ => None,
        };
        let livepeer = LivepeerCfg {
            cli_url,
            orchestrator,
            min_transcoders: f.livepeer.min_transcoders.unwrap_or(1),
            relay_metrics: f.livepeer.relay_metrics.unwrap_or(true),
        };

        let contracts = match (f.contracts.rounds_manager, f.contracts.bonding_manager, known) {
            (Some(r), Some(b), _) => Some(Contracts {
                rounds_manager: parse_addr("contracts.rounds_manager", &r)?,
                bonding_manager: parse_addr("contracts.bonding_manager", &b)?,
            }),
            (None, None, Some(k)) if !offchain => Some(Contracts {
                rounds_manager: parse_addr("built-in RoundsManager", k.rounds_manager)?,
                bonding_manager: parse_addr("built-in BondingManager", k.bonding_manager)?,
            }),
            (None, None, _) => None,
            _ => return Err(invalid("[contracts] needs both rounds_manager and bonding_manager, or neither")),
        };

        let upstreams = resolve_upstreams(f.rpc.upstream, ov.upstreams.as_deref())?;
        if !offchain && upstreams.is_empty() {
            return Err(invalid(
                "no RPC upstream: add [[rpc.upstream]] url = \"...\" (or url_file) to the config \
                 file, or set LPWATCH_RPC_UPSTREAMS=url1,url2",
            ));
        }
        let rpc = RpcCfg {
            upstreams,
            probe_interval: f.rpc.probe_interval.map_or(Duration::from_secs(5), |d| d.0),
            probe_timeout: f.rpc.probe_timeout.map_or(Duration::from_secs(3), |d| d.0),
            request_timeout: f.rpc.request_timeout.map_or(Duration::from_secs(30), |d| d.0),
            max_request_bytes: f.rpc.max_request_bytes.unwrap_or(1 << 20),
            max_response_bytes: f.rpc.max_response_bytes.unwrap_or(16 << 20),
            max_concurrent: f.rpc.max_concurrent.unwrap_or(64),
        };

        let interval = match &ov.check_interval {
            Some(s) => crate::units::parse_duration(s).map_err(|e| invalid(format!("--check-interval: {e}")))?,
            None => f.checks.interval.map_or(Duration::from_secs(15), |d| d.0),
        };
        let critical = match f.checks.critical {
            Some(list) => {
                list.iter().map(|s| CheckName::parse(s)).collect::<Result<BTreeSet<_>, _>>().map_err(invalid)?
            }
            None => CheckName::DEFAULT_CRITICAL.into_iter().collect(),
        };
        let checks = ChecksCfg {
            interval,
            timeout: f.checks.timeout.map_or(Duration::from_secs(5), |d| d.0),
            critical,
            reward_grace: f.checks.reward_grace.map_or(Duration::from_secs(7200), |d| d.0),
            min_eth_balance: f.checks.min_eth_balance.map_or(10_000_000_000_000_000, |e| e.0),
            warn_eth_balance: f.checks.warn_eth_balance.map(|e| e.0),
            max_head_age: f.checks.max_head_age.map_or(Duration::from_secs(120), |d| d.0),
        };

        let cfg = Config { network, chain_id, http_listen, rpc_listen, livepeer, contracts, rpc, checks };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let nonzero = [
            ("checks.interval", self.checks.interval),
            ("checks.timeout", self.checks.timeout),
            ("checks.max_head_age", self.checks.max_head_age),
            ("rpc.probe_interval", self.rpc.probe_interval),
            ("rpc.probe_timeout", self.rpc.probe_timeout),
            ("rpc.request_timeout", self.rpc.request_timeout),
        ];
        for (name, d) in nonzero {
            if d.is_zero() {
                return Err(invalid(format!("{name} must be above zero")));
            }
        }
        if self.rpc.max_concurrent == 0 || self.rpc.max_request_bytes < 1024 {
            return Err(invalid("rpc.max_concurrent must be at least 1 and rpc.max_request_bytes at least 1024"));
        }
        if self.rpc.max_response_bytes < 1024 {
            return Err(invalid("rpc.max_response_bytes must be at least 1024"));
        }
        if let Some(w) = self.checks.warn_eth_balance {
            if w < self.checks.min_eth_balance {
                return Err(invalid("checks.warn_eth_balance must not be below checks.min_eth_balance"));
            }
        }
        if Some(self.http_listen) == self.rpc_listen {
            return Err(invalid("listen.http and listen.rpc must differ"));
        }
        Ok(())
    }

    /// The chain checks run (anything but `offchain`).
    pub fn on_chain(&self) -> bool {
        self.chain_id.is_some()
    }

    /// The effective configuration as TOML-like text, with upstream URLs redacted.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "network = {:?}", self.network);
        if let Some(id) = self.chain_id {
            let _ = writeln!(s, "chain_id = {id}");
        }
        let _ = writeln!(s, "\n[listen]\nhttp = \"{}\"", self.http_listen);
        match self.rpc_listen {
            Some(a) => {
                let _ = writeln!(s, "rpc = \"{a}\"");
            }
            None => s.push_str("rpc = \"off\"\n"),
        }
        let _ = writeln!(
            s,
            "\n[livepeer]\ncli_url = \"{}\"\norchestrator_address = {}\nmin_transcoders = {}\nrelay_metrics = {}",
            self.livepeer.cli_url,
            self.livepeer.orchestrator.map_or("\"\"  # read from the CLI's /ethAddr".into(), |a| format!("\"{a}\"")),
            self.livepeer.min_transcoders,
            self.livepeer.relay_metrics
        );
        if let Some(c) = self.contracts {
            let _ = writeln!(
                s,
                "\n[contracts]\nrounds_manager = \"{}\"\nbonding_manager = \"{}\"",
                c.rounds_manager, c.bonding_manager
            );
        }
        let r = &self.rpc;
        let _ = writeln!(
            s,
            "\n[rpc]\nprobe_interval = \"{}\"\nprobe_timeout = \"{}\"\nrequest_timeout = \"{}\"\nmax_request_bytes = {}\nmax_response_bytes = {}\nmax_concurrent = {}",
            format_duration(r.probe_interval),
            format_duration(r.probe_timeout),
            format_duration(r.request_timeout),
            r.max_request_bytes,
            r.max_response_bytes,
            r.max_concurrent
        );
        for u in &r.upstreams {
            let _ = writeln!(s, "[[rpc.upstream]]\nname = {:?}\nurl = \"{}/...\"  # redacted", u.name, redact(&u.url));
        }
        let c = &self.checks;
        let crit: Vec<_> = c.critical.iter().map(|c| format!("{:?}", c.as_str())).collect();
        let _ = writeln!(
            s,
            "\n[checks]\ninterval = \"{}\"\ntimeout = \"{}\"\ncritical = [{}]\nreward_grace = \"{}\"\nmin_eth_balance = \"{}\"",
            format_duration(c.interval),
            format_duration(c.timeout),
            crit.join(", "),
            format_duration(c.reward_grace),
            Eth(c.min_eth_balance)
        );
        if let Some(w) = c.warn_eth_balance {
            let _ = writeln!(s, "warn_eth_balance = \"{}\"", Eth(w));
        }
        let _ = writeln!(s, "max_head_age = \"{}\"", format_duration(c.max_head_age));
        s
    }
}

fn resolve_upstreams(file: Vec<UpstreamFile>, env: Option<&str>) -> Result<Vec<UpstreamCfg>, ConfigError> {
    let mut raw: Vec<(Option<String>, reqwest::Url)> = Vec::new();
    match env.map(str::trim).filter(|s| !s.is_empty()) {
        Some(list) => {
            for (i, part) in list.split(',').map(str::trim).enumerate() {
                if part.is_empty() {
                    continue;
                }
                let url = parse_url(&format!("LPWATCH_RPC_UPSTREAMS entry {}", i + 1), part)?;
                raw.push((None, url));
            }
        }
        None => {
            for (i, u) in file.into_iter().enumerate() {
                let what = format!("rpc.upstream #{}", i + 1);
                let text = match (u.url, u.url_file) {
                    (Some(url), None) => url,
                    (None, Some(path)) => std::fs::read_to_string(&path)
                        .map_err(|e| invalid(format!("{what}: cannot read url_file {}: {e}", path.display())))?
                        .trim()
                        .to_string(),
                    _ => return Err(invalid(format!("{what}: set exactly one of url, url_file"))),
                };
                raw.push((u.name, parse_url(&what, &text)?));
            }
        }
    }
    let mut out: Vec<UpstreamCfg> = Vec::new();
    for (i, (name, url)) in raw.into_iter().enumerate() {
        let base = name.unwrap_or_else(|| {
            let host = url.host_str().unwrap_or("upstream");
            match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            }
        });
        let mut name = base.clone();
        if out.iter().any(|u| u.name == name) {
            name = format!("{base}#{}", i + 1);
        }
        if name.is_empty() || name.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
            return Err(invalid(format!(
                "rpc.upstream #{}: name {name:?} must be non-empty, without quotes or backslashes",
                i + 1
            )));
        }
        out.push(UpstreamCfg { name, url });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "[[rpc.upstream]]\nurl = \"http://127.0.0.1:8545\"\n";

    #[test]
    fn defaults_for_arbitrum() {
        let c = Config::from_toml(MIN, &Overrides::default()).unwrap();
        assert_eq!(c.chain_id, Some(42161));
        assert!(c.contracts.is_some());
        assert_eq!(c.http_listen.to_string(), DEFAULT_HTTP_LISTEN);
        assert_eq!(c.rpc_listen.unwrap().to_string(), DEFAULT_RPC_LISTEN);
        assert_eq!(c.rpc.upstreams[0].name, "127.0.0.1:8545");
        assert_eq!(c.checks.critical.len(), CheckName::DEFAULT_CRITICAL.len());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[checks]\nintervall = \"5s\"\n", &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("intervall"), "{err}");
        assert!(err.contains("interval"), "{err}");
    }

    #[test]
    fn custom_network_needs_chain_id() {
        let err =
            Config::from_toml(&format!("network = \"devnet\"\n{MIN}"), &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("chain_id"), "{err}");
        let c =
            Config::from_toml(&format!("network = \"devnet\"\nchain_id = 1337\n{MIN}"), &Overrides::default()).unwrap();
        assert!(c.contracts.is_none());
    }

    #[test]
    fn offchain_needs_no_upstream() {
        let c = Config::from_toml("network = \"offchain\"\n", &Overrides::default()).unwrap();
        assert!(!c.on_chain());
        assert!(c.rpc_listen.is_none());
    }

    #[test]
    fn env_upstreams_replace_file_and_are_redacted() {
        let ov = Overrides {
            upstreams: Some("https://arb.example/v2/SECRETKEY, http://127.0.0.1:8545".into()),
            ..Default::default()
        };
        let c = Config::from_toml(MIN, &ov).unwrap();
        assert_eq!(c.rpc.upstreams.len(), 2);
        assert_eq!(c.rpc.upstreams[0].name, "arb.example");
        let text = c.describe();
        assert!(!text.contains("SECRETKEY"), "{text}");
    }

    #[test]
    fn flags_win_and_values_are_checked() {
        let ov = Overrides { check_interval: Some("2s".into()), rpc_listen: Some("off".into()), ..Default::default() };
        let c = Config::from_toml(&format!("{MIN}[checks]\ninterval = \"9s\"\n"), &ov).unwrap();
        assert_eq!(c.checks.interval, Duration::from_secs(2));
        assert!(c.rpc_listen.is_none());
        let bad =
            Config::from_toml(&format!("{MIN}[checks]\ncritical = [\"livepeer\", \"nope\"]\n"), &Overrides::default());
        assert!(bad.unwrap_err().to_string().contains("nope"));
        let bad = Config::from_toml(&format!("{MIN}[checks]\nmin_eth_balance = \"abc\"\n"), &Overrides::default());
        assert!(bad.unwrap_err().to_string().contains("ETH amount"));
        let ok = Config::from_toml(&format!("{MIN}[checks]\nmin_eth_balance = 0.5\n"), &Overrides::default()).unwrap();
        assert_eq!(ok.checks.min_eth_balance, 500_000_000_000_000_000);
    }
}
