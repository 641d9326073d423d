//! `images/appliance.toml`: the node the disk image runs (role, network, RPC upstreams, livepeer
//! settings, ssh CIDRs, chrony servers, volume labels, optional geth, lpwatch (with its opt-in
//! `[lpwatch.share]`, spec/share.rs) and journald settings). Parsed strictly
//! (`deny_unknown_fields`); every error names the file, the line, the key and the fix. The
//! values are checked here once; `render/` turns them into files.

use super::read;
use super::share::{self, ErrFn, Share, ShareDef};
use crate::error::{Error, Result};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The file name of the appliance description inside the spec directory.
pub const FILE: &str = "appliance.toml";

/// The names lpwatch gives its checks (`checks.critical`), as in watch/src/checks/mod.rs.
pub const CHECKS: [&str; 6] = ["livepeer", "reward", "eth_balance", "chain_head", "chain_id", "rpc"];

/// The networks the appliance runs: the ones lpwatch knows by name (watch/src/network.rs).
pub const NETWORKS: [&str; 2] = ["arbitrum-one-mainnet", "offchain"];

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

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    base: Spanned<String>,
    role: Spanned<String>,
    network: Spanned<String>,
    #[serde(default)]
    rpc: RpcDef,
    #[serde(default)]
    livepeer: LivepeerDef,
    #[serde(default)]
    ssh: SshDef,
    #[serde(default)]
    chrony: ChronyDef,
    #[serde(default)]
    volumes: VolumesDef,
    #[serde(default)]
    geth: GethDef,
    #[serde(default)]
    lpwatch: LpwatchDef,
    #[serde(default)]
    journald: JournaldDef,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RpcDef {
    #[serde(default)]
    upstream: Vec<Spanned<UpstreamDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamDef {
    name: Spanned<String>,
    url: Option<Spanned<String>>,
    credential: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LivepeerDef {
    service_addr: Option<Spanned<String>>,
    price_per_unit: Option<Spanned<String>>,
    pixels_per_unit: Option<Spanned<String>>,
    max_sessions: Option<Spanned<String>>,
    max_price_per_unit: Option<Spanned<String>>,
    transcoding_options: Option<Spanned<String>>,
    orch_addr: Option<Spanned<String>>,
    eth_acct_addr: Option<Spanned<String>>,
    reward: Option<bool>,
    monitor: Option<bool>,
    light_kdf: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SshDef {
    #[serde(default)]
    allow: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ChronyDef {
    servers: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VolumesDef {
    data: Option<Spanned<String>>,
    geth: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GethDef {
    #[serde(default)]
    enable: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LpwatchDef {
    interval: Option<Spanned<String>>,
    critical: Option<Vec<Spanned<String>>>,
    min_eth_balance: Option<Spanned<String>>,
    #[serde(default)]
    share: ShareDef,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct JournaldDef {
    system_max_use: Option<Spanned<String>>,
    system_keep_free: Option<Spanned<String>>,
    max_retention: Option<Spanned<String>>,
}

/// Reads and checks `path`.
pub fn load(path: &Path) -> Result<Appliance> {
    let text = read::bounded_text(path)?;
    parse(path, &text)
}

/// Checks the text of an appliance file; `file` names it in errors.
pub fn parse(file: &Path, text: &str) -> Result<Appliance> {
    let line = |s: Range<usize>| Some(super::line_of(text, s.start));
    let f: File = toml::from_str(text).map_err(|e| {
        Error::config(
            file,
            e.span().map(|s| super::line_of(text, s.start)),
            e.message().trim().to_string(),
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

    let mut rpc = Vec::new();
    let mut names = BTreeSet::new();
    for u in f.rpc.upstream {
        let span = u.span();
        let u = u.into_inner();
        let name = u.name.get_ref().clone();
        if !read::is_path_name(&name) || !names.insert(name.clone()) {
            return Err(err(
                u.name.span(),
                "rpc.upstream.name",
                format!("`{name}` is not a unique upstream name"),
                "name each upstream once with lowercase letters, digits, `.`, `_` and `-`, e.g. name = \"primary\"",
            ));
        }
        let source = match (u.url, u.credential) {
            (Some(url), None) => UpstreamSource::Url(check_url(url.get_ref()).map_err(|m| {
                err(url.span(), "rpc.upstream.url", m, "put a URL that holds an API key on the data volume instead: credential = \"rpc-NAME\" reads it from /var/lib/livepeer/credentials/rpc-NAME")
            })?),
            (None, Some(c)) => {
                let name = c.get_ref();
                if !read::is_path_name(name) || !name.starts_with("rpc-") {
                    return Err(err(
                        c.span(),
                        "rpc.upstream.credential",
                        format!("`{name}` is not a credential name starting with `rpc-`"),
                        "name the file under /var/lib/livepeer/credentials/, e.g. credential = \"rpc-primary\"",
                    ));
                }
                UpstreamSource::Credential(c.into_inner())
            }
            _ => {
                return Err(err(
                    span,
                    "rpc.upstream",
                    "give exactly one of `url` and `credential`".into(),
                    "url = \"https://host/path\" for a key-less endpoint, credential = \"rpc-NAME\" for one with a key",
                ))
            }
        };
        rpc.push(Upstream { name, source });
    }
    let geth = f.geth.enable;
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

    let livepeer = parse_livepeer(f.livepeer, role, offchain, (file, role_line), &err)?;

    let mut ssh_allow = BTreeSet::new();
    for c in f.ssh.allow {
        let net = c.get_ref().parse::<IpNet>().map_err(|_| {
            err(
                c.span(),
                "ssh.allow",
                format!("`{}` is not a CIDR", c.get_ref()),
                "write networks as ADDRESS/PREFIX, e.g. \"203.0.113.0/24\" or \"2001:db8::/32\"",
            )
        })?;
        if net.trunc() != net {
            return Err(err(
                c.span(),
                "ssh.allow",
                format!("`{net}` has host bits set"),
                &format!("write the network address: \"{}\"", net.trunc()),
            ));
        }
        ssh_allow.insert(net);
    }

    let chrony_servers = match f.chrony.servers {
        None => DEFAULT_CHRONY_SERVERS.iter().map(|s| s.to_string()).collect(),
        Some(list) => {
            let mut out = Vec::new();
            for s in list {
                if !is_host(s.get_ref()) {
                    return Err(err(
                        s.span(),
                        "chrony.servers",
                        format!("`{}` is not a host name or address", s.get_ref()),
                        "list NTP servers by name or address, e.g. \"169.254.169.123\" (Amazon Time Sync) or \"2.pool.ntp.org\"",
                    ));
                }
                out.push(s.into_inner());
            }
            if out.is_empty() {
                return Err(Error::config(
                    file,
                    None,
                    "chrony.servers is empty",
                    "list at least one NTP server, or remove the key for the public pool",
                ));
            }
            out
        }
    };

    let label = |v: Option<Spanned<String>>, key: &str, default: &str| -> Result<String> {
        let Some(v) = v else { return Ok(default.to_string()) };
        let l = v.get_ref();
        if l.is_empty() || l.len() > 16 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(err(
                v.span(),
                key,
                format!("`{l}` is not an ext4 label"),
                "use at most 16 letters, digits, `-` and `_`, the label given to mkfs.ext4 -L",
            ));
        }
        Ok(v.into_inner())
    };
    let volumes = Volumes {
        data: label(f.volumes.data, "volumes.data", "lp-data")?,
        geth: label(f.volumes.geth, "volumes.geth", "lp-geth")?,
    };
    if volumes.data == volumes.geth {
        return Err(Error::config(
            file,
            None,
            "volumes.data and volumes.geth are the same label",
            "give each volume its own label",
        ));
    }

    let interval = match f.lpwatch.interval {
        None => "5s".to_string(),
        Some(i) => {
            humantime::parse_duration(i.get_ref()).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
                err(
                    i.span(),
                    "lpwatch.interval",
                    format!("`{}` is not a duration", i.get_ref()),
                    "write a duration like \"5s\"",
                )
            })?;
            i.into_inner()
        }
    };
    let critical = match f.lpwatch.critical {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for c in list {
                if !CHECKS.contains(&c.get_ref().as_str()) {
                    return Err(err(
                        c.span(),
                        "lpwatch.critical",
                        format!("`{}` is not an lpwatch check", c.get_ref()),
                        &format!("use some of {}", CHECKS.join(", ")),
                    ));
                }
                out.push(c.into_inner());
            }
            Some(out)
        }
    };
    let min_eth_balance = match f.lpwatch.min_eth_balance {
        None => None,
        Some(b) => {
            let ok = b.get_ref().parse::<f64>().is_ok_and(|v| v.is_finite() && v >= 0.0);
            if !ok {
                return Err(err(
                    b.span(),
                    "lpwatch.min_eth_balance",
                    format!("`{}` is not an amount of ETH", b.get_ref()),
                    "write ETH as a decimal string, e.g. \"0.02\"",
                ));
            }
            Some(b.into_inner())
        }
    };

    let share = share::parse(f.lpwatch.share, (role, role_span), offchain, &err)?;

    let size = |v: Option<Spanned<String>>, key: &str, default: &str| -> Result<String> {
        let Some(v) = v else { return Ok(default.to_string()) };
        let s = v.get_ref();
        let digits = s.trim_end_matches(['K', 'M', 'G', 'T']);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || s.len() - digits.len() > 1 {
            return Err(err(
                v.span(),
                key,
                format!("`{s}` is not a size"),
                "write bytes with an optional K, M, G or T suffix, e.g. \"1G\"",
            ));
        }
        Ok(v.into_inner())
    };
    let max_retention = match f.journald.max_retention {
        None => "1month".to_string(),
        Some(r) => {
            humantime::parse_duration(r.get_ref()).map_err(|_| {
                err(
                    r.span(),
                    "journald.max_retention",
                    format!("`{}` is not a duration", r.get_ref()),
                    "write a duration like \"30days\" or \"1month\"",
                )
            })?;
            r.into_inner()
        }
    };
    let journald = Journald {
        system_max_use: size(f.journald.system_max_use, "journald.system_max_use", "1G")?,
        system_keep_free: size(f.journald.system_keep_free, "journald.system_keep_free", "2G")?,
        max_retention,
    };

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
        lpwatch: Lpwatch { interval, critical, min_eth_balance, share },
        journald,
        base_line,
    })
}

/// `[livepeer]`, checked against the role; `at` is the file and the line of `role`, where a
/// missing key the role needs is reported.
fn parse_livepeer(
    l: LivepeerDef,
    role: Role,
    offchain: bool,
    at: (&Path, Option<usize>),
    err: &ErrFn,
) -> Result<Livepeer> {
    let (file, role_line) = at;
    let only = |v: &Option<Spanned<String>>, key: &str, ok: bool, roles: &str| -> Result<()> {
        match v {
            Some(v) if !ok => Err(err(
                v.span(),
                key,
                format!("does not apply to role {}", role.as_str()),
                &format!("remove it: it is for {roles}"),
            )),
            _ => Ok(()),
        }
    };
    only(&l.service_addr, "livepeer.service_addr", role.is_orchestrator(), "orchestrator roles")?;
    only(&l.price_per_unit, "livepeer.price_per_unit", role.is_orchestrator(), "orchestrator roles")?;
    only(&l.pixels_per_unit, "livepeer.pixels_per_unit", role.is_orchestrator(), "orchestrator roles")?;
    only(&l.max_price_per_unit, "livepeer.max_price_per_unit", role == Role::Gateway, "the gateway role")?;
    only(
        &l.orch_addr,
        "livepeer.orch_addr",
        matches!(role, Role::Transcoder | Role::Gateway),
        "the transcoder and gateway roles",
    )?;

    let text = |v: Option<Spanned<String>>, key: &str, check: fn(&str) -> bool, fix: &str| -> Result<Option<String>> {
        match v {
            Some(v) if !check(v.get_ref()) => {
                Err(err(v.span(), key, format!("`{}` is not a valid value", v.get_ref()), fix))
            }
            v => Ok(v.map(Spanned::into_inner)),
        }
    };
    let out = Livepeer {
        service_addr: text(
            l.service_addr,
            "livepeer.service_addr",
            is_host_port,
            "write the public HOST:PORT transcoding clients reach, e.g. \"orch.example.org:8935\"",
        )?,
        price_per_unit: text(
            l.price_per_unit,
            "livepeer.price_per_unit",
            is_amount,
            "write a price in wei per pixels_per_unit, e.g. \"1000\" (or with a currency, e.g. \"0.5USD\")",
        )?,
        pixels_per_unit: text(
            l.pixels_per_unit,
            "livepeer.pixels_per_unit",
            is_amount,
            "write a whole number of pixels, e.g. \"1\"",
        )?,
        max_sessions: text(
            l.max_sessions,
            "livepeer.max_sessions",
            |s| s == "auto" || s.parse::<u32>().is_ok_and(|n| n > 0),
            "write a number of sessions, e.g. \"10\", or \"auto\"",
        )?,
        max_price_per_unit: text(
            l.max_price_per_unit,
            "livepeer.max_price_per_unit",
            is_amount,
            "write the highest price in wei per pixel unit the gateway pays, e.g. \"1200\"",
        )?,
        transcoding_options: text(
            l.transcoding_options,
            "livepeer.transcoding_options",
            |s| !s.is_empty() && !s.contains(char::is_whitespace),
            "write livepeer's -transcodingOptions: profile names like \"P240p30fps16x9,P360p30fps16x9\" or a file path",
        )?,
        orch_addr: text(
            l.orch_addr,
            "livepeer.orch_addr",
            |s| s.split(',').all(is_host_port),
            "write HOST:PORT of the orchestrator(s), comma-separated, e.g. \"orch.example.org:8935\"",
        )?,
        eth_acct_addr: text(
            l.eth_acct_addr,
            "livepeer.eth_acct_addr",
            is_eth_address,
            "write the account as 0x and 40 hex digits (its key must be in the keystore on the data volume)",
        )?,
        reward: l.reward,
        monitor: l.monitor.unwrap_or(true),
        light_kdf: l.light_kdf.unwrap_or(false),
    };
    if matches!(role, Role::Transcoder | Role::Gateway)
        && out.orch_addr.is_none()
        && (role == Role::Transcoder || offchain)
    {
        return Err(Error::config(
            file,
            role_line,
            format!("livepeer.orch_addr: role {} needs the orchestrator's address", role.as_str()),
            "set [livepeer] orch_addr = \"HOST:8935\"",
        ));
    }
    if role.is_orchestrator() && !offchain && out.price_per_unit.is_none() {
        return Err(Error::config(
            file,
            role_line,
            "livepeer.price_per_unit: an on-chain orchestrator must set its price",
            "set [livepeer] price_per_unit = \"WEI\" (per pixels_per_unit pixels)",
        ));
    }
    Ok(out)
}

/// A URL without credentials: http(s), a host, no user info, no query or fragment, and no path
/// segment shaped like an API key. The message never quotes the URL: it may hold a key.
fn check_url(text: &str) -> std::result::Result<String, String> {
    let url = url::Url::parse(text).map_err(|_| "not a URL".to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("only http:// and https:// URLs with a host are upstreams".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL has user info (a credential) in it".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL has a query or fragment, where providers put API keys".into());
    }
    let keyish = |seg: &str| {
        seg.len() >= 20
            && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && seg.bytes().any(|b| b.is_ascii_digit())
    };
    if url.path_segments().into_iter().flatten().any(keyish) {
        return Err("a path segment of the URL looks like an API key".into());
    }
    Ok(text.to_string())
}

fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        && !s.starts_with('-')
}

fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else { return false };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    is_host(host) && port.parse::<u16>().is_ok_and(|p| p > 0)
}

fn is_amount(s: &str) -> bool {
    let num = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !num.is_empty() && num.parse::<f64>().is_ok_and(|v| v.is_finite() && v >= 0.0) && s.len() - num.len() <= 4
}

fn is_eth_address(s: &str) -> bool {
    s.strip_prefix("0x").is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
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
                "looks like an API key",
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
            (on("interval = \"10m\"\n"), "lpwatch.share.interval"),
            (on("mmdb = \"../etc/shadow\"\n"), "lpwatch.share.mmdb"),
            (on("port = 1\n"), "unknown field `port`"),
            (ep("http://collector.example.org/w"), "only over https://"),
            (ep("https://collector.example.org/w?token=s3cret"), "user info, a query"),
            (ep("https://me:s3cret@collector.example.org/w"), "user info, a query"),
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
