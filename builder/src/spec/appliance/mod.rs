//! `images/appliance.toml`: the node the disk image runs (role, network, RPC upstreams, livepeer
//! settings, ssh CIDRs, chrony servers, volume labels, optional geth, lpwatch (with its opt-in
//! `[lpwatch.share]`) and journald settings). Parsed strictly (`deny_unknown_fields`, `file.rs`);
//! every error names the file, the line, the key and the fix. The values are checked here once,
//! a section per file (`rpc.rs`, `livepeer.rs`, `system.rs`, `share.rs`), with the rules of the
//! program that reads each rendered value (lpwatch's from `lpbake_rules`, livepeer's, systemd's),
//! so a file accepted here runs; `render/` turns them into files.

mod file;
mod livepeer;
mod rpc;
pub mod share;
mod system;

use crate::error::{Error, Result};
use file::File;
use ipnet::IpNet;
use lpbake_rules::chain;
use serde::Serialize;
use share::Share;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The file name of the appliance description inside the spec directory.
pub const FILE: &str = "appliance.toml";

/// The networks the appliance runs: the ones lpwatch knows by name (watch/src/network.rs).
pub const NETWORKS: [&str; 2] = ["arbitrum-one-mainnet", "offchain"];

/// The chain the appliance's geth joins: `render/` starts it without a network flag, so geth's
/// default, Ethereum mainnet (L1; with no consensus client beside it, it cannot even follow).
pub const GETH_CHAIN_ID: u64 = chain::ETHEREUM_MAINNET;

/// The public chrony pools used when `[chrony] servers` is absent.
pub const DEFAULT_CHRONY_SERVERS: [&str; 4] = ["0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org", "3.pool.ntp.org"];

/// The node, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appliance {
    pub file: PathBuf,
    /// The component whose whole tree is the root filesystem (e.g. `ubuntu-rootfs`).
    pub base: String,
    pub role: Role,
    /// livepeer's `-network`.
    pub network: String,
    /// lpwatch's JSON-RPC failover upstreams, in order of preference.
    pub rpc: Vec<Upstream>,
    pub livepeer: Livepeer,
    /// Who may reach ssh (port 22).
    pub ssh_allow: BTreeSet<IpNet>,
    pub chrony_servers: Vec<String>,
    pub volumes: Volumes,
    pub geth: bool,
    pub lpwatch: Lpwatch,
    pub journald: Journald,
    /// Line of `base`, for errors found once the components are read.
    pub(super) base_line: Option<usize>,
}

/// What livepeer does on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// `-orchestrator -transcoder`: takes work on 8935 and transcodes it locally.
    OrchestratorTranscoder,
    /// `-orchestrator -orchSecret`: takes work on 8935, remote transcoders do it.
    Orchestrator,
    /// `-transcoder -orchAddr -orchSecret`: a standalone transcoder of a remote orchestrator.
    Transcoder,
    /// `-gateway`: sends streams to orchestrators (RTMP 1935 and HTTP 9935 open to clients).
    Gateway,
}

impl Role {
    pub const ALL: [(&'static str, Role); 4] = [
        ("orchestrator-transcoder", Role::OrchestratorTranscoder),
        ("orchestrator", Role::Orchestrator),
        ("transcoder", Role::Transcoder),
        ("gateway", Role::Gateway),
    ];

    pub fn as_str(self) -> &'static str {
        Role::ALL.iter().find(|(_, r)| *r == self).map(|(n, _)| *n).unwrap_or("?")
    }

    pub fn is_orchestrator(self) -> bool {
        matches!(self, Role::OrchestratorTranscoder | Role::Orchestrator)
    }

    /// Roles that talk to remote transcoders or a remote orchestrator with the shared secret.
    pub fn needs_orch_secret(self) -> bool {
        matches!(self, Role::Orchestrator | Role::Transcoder)
    }

    /// Roles that sign transactions or tickets (everything but a standalone transcoder).
    pub fn uses_chain(self) -> bool {
        self != Role::Transcoder
    }
}

/// One RPC upstream of lpwatch: a key-less URL written here, or a URL kept on the data volume
/// (`credentials/<credential>`) because it holds an API key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamSource {
    Url(String),
    Credential(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upstream {
    pub name: String,
    pub source: UpstreamSource,
}

/// `[livepeer]`: each maps to one livepeer flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Livepeer {
    pub service_addr: Option<String>,
    pub price_per_unit: Option<String>,
    pub pixels_per_unit: Option<String>,
    pub max_sessions: Option<String>,
    pub max_price_per_unit: Option<String>,
    pub transcoding_options: Option<String>,
    pub orch_addr: Option<String>,
    pub eth_acct_addr: Option<String>,
    pub reward: Option<bool>,
    pub monitor: bool,
    /// Encrypt the account the appliance creates with geth's light scrypt (fast, weak) instead of
    /// the standard one (256 MiB and about a second per start).
    pub light_kdf: bool,
}

/// Filesystem labels of the volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volumes {
    pub data: String,
    pub geth: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lpwatch {
    pub interval: String,
    /// `None`: lpwatch's default for the role.
    pub critical: Option<Vec<String>>,
    pub min_eth_balance: Option<String>,
    /// `[lpwatch.share]`, `None` unless enabled.
    pub share: Option<Share>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journald {
    pub system_max_use: String,
    pub system_keep_free: String,
    pub max_retention: String,
}

/// Reads and checks `path`.
pub fn load(path: &Path) -> Result<Appliance> {
    let text = super::read::bounded_text(path)?;
    parse(path, &text)
}

/// Checks the text of an appliance file; `file` names it in errors.
pub fn parse(file: &Path, text: &str) -> Result<Appliance> {
    let line = |s: Range<usize>| Some(super::line_of(text, s.start));
    let f: File = toml::from_str(text).map_err(|e| {
        let (line, msg) = lpbake_rules::redact::toml_error(text, &e);
        Error::config(
            file,
            line,
            match e.span().and_then(|s| key_at(text, s.start)) {
                Some(key) => format!("{key}: {msg}"),
                None => msg.to_string(),
            },
            "compare with the documented keys of images/appliance.toml in the lpbake repository",
        )
    })?;
    let err = |span: Range<usize>, key: &str, msg: String, fix: &str| {
        Error::config(file, line(span), format!("{key}: {msg}"), fix.to_string())
    };

    let base_line = line(f.base.span());
    let base = f.base.into_inner();

    let role_span = f.role.span();
    let role = Role::ALL.iter().find(|(n, _)| *n == f.role.get_ref()).map(|(_, r)| *r).ok_or_else(|| {
        err(
            f.role.span(),
            "role",
            format!("`{}` is not a role", f.role.get_ref()),
            "use one of orchestrator-transcoder, orchestrator, transcoder, gateway",
        )
    })?;

    let network = f.network.get_ref().clone();
    if !NETWORKS.contains(&network.as_str()) {
        return Err(err(
            f.network.span(),
            "network",
            format!("`{network}` is not a network the appliance runs"),
            "use arbitrum-one-mainnet or offchain (a custom chain needs -ethController and lpwatch's chain_id and [contracts], which the appliance does not set)",
        ));
    }
    let offchain = network == "offchain";

    let rpc = rpc::parse(f.rpc, &err)?;
    let geth = f.geth.enable.as_ref().is_some_and(|e| *e.get_ref());
    if let (Some(enable), Some(chain)) = (f.geth.enable.filter(|e| *e.get_ref()), chain::of_network(&network)) {
        if chain != GETH_CHAIN_ID {
            return Err(err(
                enable.span(),
                "geth.enable",
                format!(
                    "the local geth joins Ethereum mainnet (chain {GETH_CHAIN_ID}), but network `{network}` is chain {chain}: no node of it can use that geth (as lpwatch's upstream it would answer livepeer for the wrong chain)"
                ),
                &format!(
                    "set [geth] enable = false, and add an RPC of {network} as an upstream with its key in a credential file: [[rpc.upstream]] name = \"primary\", credential = \"rpc-primary\" (the URL in /var/lib/livepeer/credentials/rpc-primary)"
                ),
            ));
        }
    }
    let network_line = line(f.network.span());
    let role_line = line(f.role.span());
    if rpc.is_empty() && !offchain && role.uses_chain() && !geth {
        return Err(Error::config(
            file,
            network_line,
            format!("rpc.upstream: network `{network}` needs at least one JSON-RPC upstream"),
            "add [[rpc.upstream]] with name and credential = \"rpc-NAME\" (the URL in /var/lib/livepeer/credentials/rpc-NAME), or enable [geth]",
        ));
    }

    let livepeer = livepeer::parse(f.livepeer, role, offchain, (file, role_line), &err)?;

    let ssh_allow = system::ssh(f.ssh, &err)?;
    let chrony_servers = system::chrony(f.chrony, &err)?;
    let volumes = system::volumes(f.volumes, &err)?;

    let lpwatch = system::lpwatch(f.lpwatch, (role, role_span), offchain, &err)?;
    let journald = system::journald(f.journald, &err)?;

    Ok(Appliance {
        file: file.to_path_buf(),
        base,
        role,
        network,
        rpc,
        livepeer,
        ssh_allow,
        chrony_servers,
        volumes,
        geth,
        lpwatch,
        journald,
        base_line,
    })
}

/// The dotted key toml's error at `offset` is about (toml names none): the key of the nearest
/// `key = ...` line at or above it, under its table, or the table header itself.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let end = text[offset.min(text.len())..].find('\n').map_or(text.len(), |i| offset + i);
    let mut lines = text[..end].lines().rev().map(str::trim);
    let header = |l: &str| l.trim_matches(['[', ']']).trim().to_string();
    let line = lines.find(|l| l.starts_with('[') || (l.contains('=') && !l.starts_with('#')))?;
    if line.starts_with('[') {
        return Some(header(line));
    }
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    Some(match lines.find(|l| l.starts_with('[')) {
        Some(table) => format!("{}.{key}", header(table)),
        None => key.to_string(),
    })
}

impl Appliance {
    /// Cross-file check: `base` names a component of the spec.
    pub(super) fn check_base(&self, components: &std::collections::BTreeMap<String, super::Component>) -> Result<()> {
        if !components.contains_key(&self.base) {
            let known = components.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(Error::config(
                &self.file,
                self.base_line,
                format!("base: no component named `{}`", self.base),
                format!("name the component of the root filesystem, one of: {known}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "base = \"ubuntu-rootfs\"\nrole = \"orchestrator-transcoder\"\nnetwork = \"arbitrum-one-mainnet\"\n[[rpc.upstream]]\nname = \"primary\"\ncredential = \"rpc-primary\"\n[livepeer]\nprice_per_unit = \"1000\"\n[ssh]\nallow = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n";

    fn err_of(text: &str) -> String {
        parse(Path::new("images/appliance.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn good_file_parses_with_defaults() {
        let a = parse(Path::new("a.toml"), GOOD).unwrap();
        assert_eq!(a.role, Role::OrchestratorTranscoder);
        assert_eq!(a.volumes, Volumes { data: "lp-data".into(), geth: "lp-geth".into() });
        assert_eq!(a.chrony_servers.len(), 4);
        assert_eq!(a.lpwatch.interval, "5s");
        assert_eq!(a.ssh_allow.len(), 2);
        assert!(!a.geth && a.livepeer.monitor);
    }

    #[test]
    fn refusals_name_file_line_key_and_fix() {
        for (bad, line, what) in [
            (GOOD.replace("[ssh]", "[ssh]\nport = 22"), 10, "unknown field `port`"),
            (GOOD.replace("\"orchestrator-transcoder\"", "\"miner\""), 2, "role: `miner` is not a role"),
            (GOOD.replace("arbitrum-one-mainnet", "devnet"), 3, "network: `devnet` is not a network"),
            (GOOD.replace("10.0.0.0/8", "10.0.0.0/33"), 10, "ssh.allow: `10.0.0.0/33` is not a CIDR"),
            (GOOD.replace("10.0.0.0/8", "10.1.2.3/8"), 10, "host bits"),
            (GOOD.replace("credential = \"rpc-primary\"", "url = \"https://u:p@rpc.example.org/\""), 6, "user info"),
            (GOOD.replace("credential = \"rpc-primary\"", "url = \"https://rpc.example.org/?apikey=abc\""), 6, "query"),
            (
                GOOD.replace(
                    "credential = \"rpc-primary\"",
                    "url = \"https://arb.example.org/v2/abcdef0123456789abcdef0123\"",
                ),
                6,
                "the shape of an API key",
            ),
            (GOOD.replace("credential = \"rpc-primary\"", "credential = \"../x\""), 6, "rpc.upstream.credential"),
            (GOOD.replace("[ssh]", "[volumes]\ndata = \"a-label-far-too-long\"\n[ssh]"), 10, "volumes.data"),
            (
                GOOD.replace("[ssh]", "[lpwatch]\ncritical = [\"reward\", \"vibes\"]\n[ssh]"),
                10,
                "`vibes` is not an lpwatch check",
            ),
            (
                GOOD.replace("price_per_unit = \"1000\"", "price_per_unit = \"1000\"\norch_addr = \"o:8935\""),
                9,
                "does not apply",
            ),
        ] {
            let e = err_of(&bad);
            assert!(e.contains(&format!("images/appliance.toml:{line}:")), "{what}: {e}");
            assert!(e.contains(what) && e.contains("fix:"), "{what}: {e}");
            assert!(!e.contains("u:p@") && !e.contains("apikey=abc") && !e.contains("abcdef0123456789"), "{e}");
        }
    }

    #[test]
    fn share_is_off_by_default_and_checked_when_on() {
        assert_eq!(parse(Path::new("a.toml"), GOOD).unwrap().lpwatch.share, None);
        let on = |body: &str| format!("{GOOD}[lpwatch.share]\nenable = true\n{body}");
        let s = parse(Path::new("a.toml"), &on("extras = [\"transcoders\", \"transcoders\"]\n"))
            .unwrap()
            .lpwatch
            .share
            .unwrap();
        assert_eq!((s.cell.as_str(), s.min_gateways, s.interval.as_str()), ("5deg", 3, "2m"));
        assert_eq!(
            (s.extras, s.endpoint, s.mmdb.as_str()),
            (vec!["transcoders".to_string()], None, "GeoLite2-City.mmdb")
        );
        let ep = |url: &str| on(&format!("endpoint = \"{url}\"\n"));
        for (bad, what) in [
            (on("cell = \"7deg\"\n"), "lpwatch.share.cell: `7deg`"),
            (on("extras = [\"addresses\"]\n"), "lpwatch.share.extras: `addresses`"),
            (on("min_gateways = 0\n"), "lpwatch.share.min_gateways"),
            (on("min_gateways = 1\n"), "at least 3 (the floor"),
            (on("min_gateways = 2\n"), "at least 3 (the floor"),
            (on("interval = \"10m\"\n"), "lpwatch.share.interval"),
            (on("mmdb = \"../etc/shadow\"\n"), "lpwatch.share.mmdb"),
            (on("port = 1\n"), "unknown field `port`"),
            (ep("http://collector.example.org/w"), "only to a loopback host"),
            (ep("ftp://collector.example.org/w"), "is not https://"),
            (ep("https://collector.example.org/w?token=s3cret"), "a query"),
            (ep("https://me:s3cret@collector.example.org/w"), "user info"),
            (ep("https://collector.example.org/s3cret0123456789abcdef/w"), "the shape of an API key"),
            (
                on("endpoint = \"https://c.example.org/w\"\n").replace("arbitrum-one-mainnet", "offchain"),
                "an offchain node has not",
            ),
            (
                on("")
                    .replace("\"orchestrator-transcoder\"", "\"gateway\"")
                    .replace("price_per_unit", "max_price_per_unit"),
                "lpwatch.share: a gateway has no service port",
            ),
        ] {
            let e = err_of(&bad);
            assert!(e.contains("images/appliance.toml:") && e.contains(what) && e.contains("fix:"), "{what}: {e}");
            assert!(!e.contains("s3cret"), "the refusal must not repeat the secret: {e}");
        }
    }

    #[test]
    fn mainnet_needs_an_upstream_and_a_price() {
        let e = err_of(&GOOD.replace("[[rpc.upstream]]\nname = \"primary\"\ncredential = \"rpc-primary\"\n", ""));
        assert!(e.contains("at least one JSON-RPC upstream"), "{e}");
        let e = err_of(&GOOD.replace("price_per_unit = \"1000\"", ""));
        assert!(e.contains("price_per_unit"), "{e}");
    }
}
