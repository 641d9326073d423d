//! From the file as written to the [`Config`] lpwatch runs with: flags and `LPWATCH_*` variables
//! win over the file, defaults fill the rest, and every value is checked. Each error names the
//! key and what to write instead.

use super::file::{FileConfig, ShareFile, UpstreamFile};
use super::{
    ChecksCfg, Config, ConfigError, Contracts, LivepeerCfg, Overrides, RpcCfg, SecretUrl, ShareCfg, UpstreamCfg,
};
use crate::abi::Address;
use crate::checks::CheckName;
use crate::network;
use crate::share::endpoint_url;
use crate::share::geo::CellSize;
use std::net::SocketAddr;
use std::time::Duration;

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

/// Parses an http(s) URL. The error never quotes the text: it may be an upstream's API key.
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

/// Applies `ov` to `f`, fills defaults and validates.
pub(super) fn resolve(f: FileConfig, ov: &Overrides) -> Result<Config, ConfigError> {
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
    let checks = ChecksCfg {
        interval,
        timeout: f.checks.timeout.map_or(Duration::from_secs(5), |d| d.0),
        critical: f.checks.critical.unwrap_or_else(|| CheckName::DEFAULT_CRITICAL.into()).into_iter().collect(),
        reward_grace: f.checks.reward_grace.map_or(Duration::from_secs(7200), |d| d.0),
        min_eth_balance: f.checks.min_eth_balance.map_or(10_000_000_000_000_000, |e| e.0),
        warn_eth_balance: f.checks.warn_eth_balance.map(|e| e.0),
        max_head_age: f.checks.max_head_age.map_or(Duration::from_secs(120), |d| d.0),
    };

    let share = f.share.map(resolve_share).transpose()?;
    if share.as_ref().is_some_and(|s| s.endpoint.is_some()) && chain_id.is_none() {
        return Err(invalid(
            "share.endpoint needs a network other than offchain: shares are signed under a delegation \
             from the orchestrator's account (lpwatch share --dry-run works off chain)",
        ));
    }
    let cfg = Config { network, chain_id, http_listen, rpc_listen, livepeer, contracts, rpc, checks, share };
    validate(&cfg)?;
    Ok(cfg)
}

fn validate(c: &Config) -> Result<(), ConfigError> {
    lpbake_rules::checks::interval(c.checks.interval).map_err(invalid)?;
    let nonzero = [
        ("checks.timeout", c.checks.timeout),
        ("checks.max_head_age", c.checks.max_head_age),
        ("rpc.probe_interval", c.rpc.probe_interval),
        ("rpc.probe_timeout", c.rpc.probe_timeout),
        ("rpc.request_timeout", c.rpc.request_timeout),
    ];
    for (name, d) in nonzero {
        if d.is_zero() {
            return Err(invalid(format!("{name} must be above zero")));
        }
    }
    if c.rpc.max_concurrent == 0 || c.rpc.max_request_bytes < 1024 {
        return Err(invalid("rpc.max_concurrent must be at least 1 and rpc.max_request_bytes at least 1024"));
    }
    if c.rpc.max_response_bytes < 1024 {
        return Err(invalid("rpc.max_response_bytes must be at least 1024"));
    }
    if let Some(w) = c.checks.warn_eth_balance {
        if w < c.checks.min_eth_balance {
            return Err(invalid("checks.warn_eth_balance must not be below checks.min_eth_balance"));
        }
    }
    if Some(c.http_listen) == c.rpc_listen {
        return Err(invalid("listen.http and listen.rpc must differ"));
    }
    Ok(())
}

/// Networks whose peers `[share]` does not count unless `share.ignore` says otherwise.
pub const DEFAULT_SHARE_IGNORE: [&str; 10] = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "0.0.0.0/8",
];

fn resolve_share(f: ShareFile) -> Result<ShareCfg, ConfigError> {
    let mmdb = f.mmdb.ok_or_else(|| {
        invalid("share.mmdb is missing: name the geo database, e.g. mmdb = \"/var/lib/lpwatch/GeoLite2-City.mmdb\"")
    })?;
    let cell = match f.cell {
        Some(text) => text.parse().map_err(|e| invalid(format!("share.cell: {e}")))?,
        None => CellSize::Degrees(5),
    };
    let min_gateways =
        lpbake_rules::disclosure::min_gateways(f.min_gateways.unwrap_or(lpbake_rules::disclosure::K_FLOOR))
            .map_err(|e| invalid(format!("share.min_gateways {e}")))?;
    let ignore = match f.ignore {
        Some(list) => list,
        None => DEFAULT_SHARE_IGNORE.iter().map(|s| s.to_string()).collect(),
    };
    let ignore = ignore
        .iter()
        .map(|n| n.parse().map_err(|_| invalid(format!("share.ignore: {n:?} is not a network, e.g. \"10.0.0.0/8\""))))
        .collect::<Result<_, _>>()?;
    let mut extras = f.extras;
    extras.sort();
    extras.dedup();
    let endpoint = f
        .endpoint
        .as_deref()
        .map(|e| endpoint_url(e).map(SecretUrl::new).map_err(|e| invalid(format!("share.endpoint: {e}"))))
        .transpose()?;
    let interval = f.interval.map_or(Duration::from_secs(120), |d| d.0);
    lpbake_rules::share::interval(interval).map_err(invalid)?;
    Ok(ShareCfg {
        mmdb,
        cell,
        min_gateways,
        service_port: f.service_port.unwrap_or(8935),
        ignore,
        extras,
        endpoint,
        interval,
        queue_dir: f.queue_dir.unwrap_or_else(|| DEFAULT_SHARE_QUEUE.into()),
        queue_max_bytes: f.queue_max_bytes.unwrap_or(16 << 20),
        key_file: f.key_file.unwrap_or_else(|| DEFAULT_SHARE_KEY.into()),
    })
}

/// Where unsent shares wait by default: lpwatch's state directory.
pub const DEFAULT_SHARE_QUEUE: &str = "/var/lib/lpwatch/share-queue";
/// lpwatch's reporting key by default.
pub const DEFAULT_SHARE_KEY: &str = "/var/lib/lpwatch/share-key";

/// The upstreams from `LPWATCH_RPC_UPSTREAMS` (which replaces the file's list) or the file, each
/// with its label: the configured `name`, else `host[:port]`, else `upstream-N`; a repeated
/// label gets `#N` appended.
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
                    (None, Some(path)) => {
                        super::url_file(&path).map_err(|e| invalid(format!("{what}: url_file {e}")))?
                    }
                    _ => return Err(invalid(format!("{what}: set exactly one of url, url_file"))),
                };
                raw.push((u.name, parse_url(&what, &text)?));
            }
        }
    }
    let mut out: Vec<UpstreamCfg> = Vec::new();
    for (i, (name, url)) in raw.into_iter().enumerate() {
        let base = name.unwrap_or_else(|| match (url.host_str(), url.port()) {
            (Some(host), Some(p)) => format!("{host}:{p}"),
            (Some(host), None) => host.to_string(),
            (None, _) => format!("upstream-{}", i + 1),
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
        out.push(UpstreamCfg { name, url: SecretUrl::new(url) });
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
        assert!(err.contains("line 2"), "{err}");
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
    fn upstream_urls_never_show_their_key() {
        let ov = Overrides {
            upstreams: Some(
                "https://arb.example/v2/SECRETKEY, http://u:SECRETPW@127.0.0.1:8545/?apikey=SECRETQ".into(),
            ),
            ..Default::default()
        };
        let c = Config::from_toml(MIN, &ov).unwrap();
        assert_eq!(c.rpc.upstreams.len(), 2);
        assert_eq!(c.rpc.upstreams[0].name, "arb.example");
        assert_eq!(c.rpc.upstreams[1].name, "127.0.0.1:8545");
        for text in [c.describe(), format!("{c:?}")] {
            assert!(!text.contains("SECRET"), "{text}");
        }
        // A URL that does not parse is not quoted back either.
        let ov = Overrides { upstreams: Some("ftp://SECRETKEY@host/x".into()), ..Default::default() };
        let err = Config::from_toml(MIN, &ov).unwrap_err().to_string();
        assert!(err.contains("entry 1") && !err.contains("SECRET"), "{err}");
    }

    #[test]
    fn flags_win_and_values_are_checked() {
        let ov = Overrides { check_interval: Some("2s".into()), rpc_listen: Some("off".into()), ..Default::default() };
        let c = Config::from_toml(&format!("{MIN}[checks]\ninterval = \"9s\"\n"), &ov).unwrap();
        assert_eq!(c.checks.interval, Duration::from_secs(2));
        assert!(c.rpc_listen.is_none());
        let bad =
            Config::from_toml(&format!("{MIN}[checks]\ncritical = [\"livepeer\", \"nope\"]\n"), &Overrides::default());
        let err = bad.unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("eth_balance") && err.contains("line 4"), "{err}");
        let c =
            Config::from_toml(&format!("{MIN}[checks]\ncritical = [\"rpc\", \"chain_id\"]\n"), &Overrides::default())
                .unwrap();
        assert_eq!(c.checks.critical, [CheckName::ChainId, CheckName::Rpc].into());
        let bad = Config::from_toml(&format!("{MIN}[checks]\nmin_eth_balance = \"abc\"\n"), &Overrides::default());
        assert!(bad.unwrap_err().to_string().contains("ETH amount"));
        let ok = Config::from_toml(&format!("{MIN}[checks]\nmin_eth_balance = 0.5\n"), &Overrides::default()).unwrap();
        assert_eq!(ok.checks.min_eth_balance, 500_000_000_000_000_000);
    }

    #[test]
    fn intervals_follow_the_rules_lpbake_checks_the_appliance_with() {
        let checks =
            |i: &str| Config::from_toml(&format!("{MIN}[checks]\ninterval = \"{i}\"\n"), &Overrides::default());
        assert_eq!(checks("1h").unwrap().checks.interval, Duration::from_secs(3600));
        for bad in ["0s", "1h 1s", "100y"] {
            let err = checks(bad).unwrap_err().to_string();
            assert!(err.contains("checks.interval") && err.contains("1h"), "{bad}: {err}");
        }
        let share = |i: &str| {
            Config::from_toml(&format!("{MIN}[share]\nmmdb = \"/g\"\ninterval = \"{i}\"\n"), &Overrides::default())
        };
        assert!(share("4m 59s").is_ok());
        for bad in ["999ms", "5m"] {
            assert!(share(bad).unwrap_err().to_string().contains("share.interval"), "{bad}");
        }
    }

    #[test]
    fn share_is_off_without_its_table_and_checked_with_it() {
        assert!(Config::from_toml(MIN, &Overrides::default()).unwrap().share.is_none());
        let share = |body: &str| Config::from_toml(&format!("{MIN}[share]\n{body}"), &Overrides::default());
        let c = share("mmdb = \"/g.mmdb\"\n").unwrap().share.unwrap();
        assert_eq!((c.cell, c.min_gateways, c.service_port), (CellSize::Degrees(5), 3, 8935));
        assert!(c.ignore.iter().any(|n| n.contains(&"192.168.1.9".parse::<std::net::IpAddr>().unwrap())));
        assert!(c.extras.is_empty() && c.endpoint.is_none());
        for ok in ["https://collector.example/api/v1/write", "http://127.0.0.1:9090/api/v1/write", "http://[::1]:1/w"] {
            let c = share(&format!("mmdb = \"/g\"\nendpoint = \"{ok}\"\n")).unwrap().share.unwrap();
            assert_eq!(c.endpoint.unwrap().expose().as_str(), ok);
        }
        let offchain = "network = \"offchain\"\n[share]\nmmdb = \"/g\"\nendpoint = \"https://c.example/w\"\n";
        let err = Config::from_toml(offchain, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("share.endpoint needs a network other than offchain"), "{err}");
        for (body, named) in [
            ("cell = \"5deg\"\n", "share.mmdb"),
            ("mmdb = \"/g\"\ncell = \"7deg\"\n", "share.cell"),
            ("mmdb = \"/g\"\nmin_gateways = 0\n", "share.min_gateways"),
            ("mmdb = \"/g\"\nmin_gateways = 1\n", "at least 3 (the floor"),
            ("mmdb = \"/g\"\nmin_gateways = 2\n", "at least 3 (the floor"),
            ("mmdb = \"/g\"\nignore = [\"10.0.0.0\"]\n", "share.ignore"),
            ("mmdb = \"/g\"\nextras = [\"addresses\"]\n", "success_rate"),
            ("mmdb = \"/g\"\nendpoint = \"http://127.0.0.1.example.org/w\"\n", "https://"),
            ("mmdb = \"/g\"\nendpoint = \"ftp://127.0.0.1/w\"\n", "share.endpoint"),
            ("mmdb = \"/g\"\ninterval = \"100ms\"\n", "share.interval"),
            ("mmdb = \"/g\"\nendpoint = \"https://x\"\nurl = \"x\"\n", "url"),
        ] {
            let err = share(body).unwrap_err().to_string();
            assert!(err.contains(named), "{body}: {err}");
        }
    }
}
