//! Every value `images/appliance.toml` accepts runs: generated appliance files (roles, networks,
//! upstreams, every `[livepeer]` value, ssh networks, chrony servers, volume labels, geth,
//! `[lpwatch]` and `[lpwatch.share]`, journald) are either refused by `spec::appliance::parse`
//! with an error naming the file, a line, a documented key and the fix, or they render into
//! files the programs that read them accept: lpwatch's config check, `nft -c`, `systemd-analyze
//! verify` (with systemd's own size and time-span parsers for journald's values), `chronyd -p`,
//! `findmnt` (libmount) and `docker compose config` of the compose testnet of the same spec.
//! Then one named test per example of a value that used to render but not run, and per URL shape.

mod common;

use lpbake::render::{self, Node};
use lpbake::spec::appliance;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::Cell;
use std::path::Path;
use std::process::{Command, Output};
use toml::{Table, Value};

const FILE: &str = "images/appliance.toml";

/// Every key an appliance error may name (the keys documented in images/appliance.toml).
const KEYS: &[&str] = &[
    "base",
    "role",
    "network",
    "rpc",
    "rpc.upstream",
    "rpc.upstream.name",
    "rpc.upstream.url",
    "rpc.upstream.credential",
    "livepeer",
    "livepeer.service_addr",
    "livepeer.price_per_unit",
    "livepeer.pixels_per_unit",
    "livepeer.max_sessions",
    "livepeer.max_price_per_unit",
    "livepeer.transcoding_options",
    "livepeer.orch_addr",
    "livepeer.eth_acct_addr",
    "livepeer.reward",
    "livepeer.monitor",
    "livepeer.light_kdf",
    "ssh.allow",
    "chrony.servers",
    "volumes.data",
    "volumes.geth",
    "geth.enable",
    "lpwatch.interval",
    "lpwatch.critical",
    "lpwatch.min_eth_balance",
    "lpwatch.share",
    "lpwatch.share.enable",
    "lpwatch.share.endpoint",
    "lpwatch.share.cell",
    "lpwatch.share.min_gateways",
    "lpwatch.share.extras",
    "lpwatch.share.interval",
    "lpwatch.share.mmdb",
    "journald.system_max_use",
    "journald.system_keep_free",
    "journald.max_retention",
];

/// The marker in every generated URL that holds a key: no refusal may repeat it.
const KEY: &str = "k3yk3yk3y";

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}: run `make deps`"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Strings of up to `max` characters, rich in what config languages treat specially.
fn text(max: usize) -> impl Strategy<Value = String> {
    let specials = vec!['$', '%', '\\', '"', '\'', ';', '\n', '#', ' ', '{', '}', '=', ':', ',', '-', '/', '.', 'é'];
    let c = prop_oneof![6 => proptest::char::range(' ', '~'), 3 => proptest::sample::select(specials)];
    proptest::collection::vec(c, 0..max).prop_map(String::from_iter)
}

/// The values generated for a key: ones its reader takes, ones it refuses.
struct Values {
    good: &'static [&'static str],
    bad: &'static [&'static str],
}

const ROLE: Values = Values {
    good: &["orchestrator-transcoder", "orchestrator", "transcoder", "gateway"],
    bad: &["miner", "Orchestrator"],
};
const NETWORK: Values = Values { good: &["arbitrum-one-mainnet", "offchain"], bad: &["devnet", "mainnet"] };
const URL: Values = Values {
    good: &[
        "https://arb1.arbitrum.io/rpc",
        "https://arbitrum-one.publicnode.com",
        "https://rpc.ankr.com/arbitrum",
        "https://1rpc.io/arb",
        "http://127.0.0.1:8545",
        "https://collector.example.org/api/v1/write",
    ],
    bad: &[
        "https://arb-mainnet.g.alchemy.com/v2/k3yk3yk3yaBcD3fGh1jKlMn0pQrStUv",
        "https://arbitrum-mainnet.infura.io/v3/k3yk3yk3y0123456789abcdef012345",
        "https://a-b.arbitrum-mainnet.quiknode.pro/k3yk3yk3y0123456789abcdef0123456789abcde/",
        "https://rpc.example.org/k3yk3yk3y-e89b-12d3-a456-426614174000",
        "https://rpc.example.org/arb/k3yk3yk3yklmnopqrstuvwx",
        "https://k3yk3yk3ymnopqrstuvwxyz.rpc.example.org/",
        "https://me:k3yk3yk3y@rpc.example.org/",
        "https://rpc.example.org/?apikey=k3yk3yk3y",
        "https://rpc.example.org/#k3yk3yk3y",
        "http://rpc.example.org/k3yk3yk3y",
    ],
};
const NAME: Values = Values { good: &["primary", "public", "b-2", "x.y"], bad: &["Primary", "", "a b", "../x"] };
const CREDENTIAL: Values =
    Values { good: &["rpc-primary", "rpc-b", "rpc-x.y"], bad: &["primary", "rpc-A", "rpc-../x"] };
const HOST_PORT: Values = Values {
    good: &["orch.example.org:8935", "[2001:db8::1]:8935", "192.0.2.7:1", "a.example:1,b.example:2"],
    bad: &["orch.example.org", ":8935", "h:0", "-h:1", "a:1,"],
};
const PRICE: Values =
    Values { good: &["1000", "0", "0.5USD", "1.25", "7ETH"], bad: &["1e-30", "-1", "1.", "USD", "1 000", "inf"] };
const PIXELS: Values = Values { good: &["1", "1000000"], bad: &["0", "1.5", "1e3"] };
const SESSIONS: Values = Values { good: &["10", "1", "auto"], bad: &["0", "-1", "ten", "99999999999999999999"] };
const OPTIONS: Values = Values { good: &["P240p30fps16x9,P360p30fps16x9", "/etc/lp/profiles.json"], bad: &["", "a b"] };
const ACCOUNT: Values = Values { good: &["0x00000000000000000000000000000000000000aB"], bad: &["0x12", "abc"] };
const CIDR: Values = Values {
    good: &["10.0.0.0/8", "203.0.113.0/24", "2001:db8::/32", "0.0.0.0/0", "::/0"],
    bad: &["10.0.0.1/8", "300.0.0.0/8", "x"],
};
const CHRONY: Values =
    Values { good: &["169.254.169.123", "0.pool.ntp.org", "2001:db8::1", "time.example"], bad: &["", "a b", "-x"] };
const DATA_LABEL: Values =
    Values { good: &["lp-data", "data_2", "a", "ABCDEFGHIJKLMNOP"], bad: &["a-label-far-too-long", "", "a.b"] };
const GETH_LABEL: Values = Values { good: &["lp-geth", "geth_2", "lp-data"], bad: &["é", "a label"] };
const INTERVAL: Values = Values { good: &["5s", "500ms", "1h", "2m 30s", "1ns"], bad: &["0s", "5", "1h 1s", "100y"] };
const CHECKS: Values = Values {
    good: &["livepeer", "reward", "eth_balance", "chain_head", "chain_id", "rpc"],
    bad: &["vibes", "Livepeer"],
};
const BALANCE: Values = Values {
    good: &["0.02", "0", "1", "0.000000000000000001", ".5"],
    bad: &["1e-30", "-1", "0.0000000000000000001", "abc", "1,5"],
};
const CELL: Values = Values { good: &["5deg", "country", "continent", "90deg"], bad: &["7deg", "0deg"] };
const EXTRAS: Values = Values { good: &["transcoders", "success_rate"], bad: &["addresses"] };
const SHARE_INTERVAL: Values = Values { good: &["2m", "1s", "4m 59s"], bad: &["5m", "999ms", "2"] };
const MMDB: Values = Values { good: &["GeoLite2-City.mmdb", "dbip.mmdb"], bad: &["../x", ".hidden", "a/b"] };
const SIZE: Values =
    Values { good: &["1G", "64M", "0", "512K", "16777215T"], bad: &["1g", "1.5G", "16777216T", "-1", "2 G"] };
const RETENTION: Values =
    Values { good: &["1month", "2w 3d", "30days", "1y", "1h30min"], bad: &["1ns", "forever", "584941y", "1µs"] };

/// How often a generated value is good, bad, or any text.
#[derive(Clone, Copy)]
struct Odds(u32, u32, u32);

/// Whole files: each of some 25 keys is mostly good, so that a fair share of files is accepted.
const MOSTLY_GOOD: Odds = Odds(60, 1, 1);
/// One key at a time: good, bad and any text alike.
const EVEN: Odds = Odds(1, 1, 1);

fn value(v: &Values, odds: Odds) -> BoxedStrategy<Value> {
    let pick = |l: &'static [&'static str]| proptest::sample::select(l).prop_map(|s| Value::String(s.to_string()));
    prop_oneof![odds.0 => pick(v.good), odds.1 => pick(v.bad), odds.2 => text(12).prop_map(Value::String)].boxed()
}

/// `value`, present three times in four.
fn maybe(v: &Values, odds: Odds) -> BoxedStrategy<Option<Value>> {
    proptest::option::weighted(0.75, value(v, odds)).boxed()
}

fn list(v: &Values, odds: Odds, max: usize) -> BoxedStrategy<Value> {
    proptest::collection::vec(value(v, odds), 0..max).prop_map(Value::Array).boxed()
}

fn boolean() -> BoxedStrategy<Option<Value>> {
    proptest::option::of(any::<bool>().prop_map(Value::Boolean)).boxed()
}

/// A table of the keys that are present.
fn table(pairs: Vec<(&str, Option<Value>)>) -> Table {
    pairs.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect()
}

/// `[[rpc.upstream]]`s: names mostly distinct, each with a url or a credential.
fn upstreams(odds: Odds) -> BoxedStrategy<Value> {
    let name = prop_oneof![
        8 => "[a-z][a-z0-9._-]{0,10}".prop_map(Value::String),
        1 => value(&NAME, odds),
    ];
    let source = prop_oneof![
        value(&URL, odds).prop_map(|u| ("url", u)),
        value(&CREDENTIAL, odds).prop_map(|c| ("credential", c)),
    ];
    let one = (name, source, proptest::bool::weighted(0.02)).prop_map(|(name, (key, v), both)| {
        let mut t = Table::from_iter([("name".to_string(), name), (key.to_string(), v)]);
        if both {
            t.insert("credential".into(), Value::String("rpc-both".into()));
            t.insert("url".into(), Value::String(URL.good[0].into()));
        }
        Value::Table(t)
    });
    prop_oneof![1 => Just(Vec::new()), 12 => proptest::collection::vec(one, 1..4)].prop_map(Value::Array).boxed()
}

fn livepeer(odds: Odds) -> BoxedStrategy<Table> {
    (
        (maybe(&HOST_PORT, odds), maybe(&PRICE, odds), maybe(&PIXELS, odds)),
        (maybe(&SESSIONS, odds), maybe(&PRICE, odds)),
        (maybe(&OPTIONS, odds), maybe(&HOST_PORT, odds), maybe(&ACCOUNT, odds)),
        (boolean(), boolean(), boolean()),
    )
        .prop_map(|((sa, price, ppu), (ms, maxp), (to, oa, acct), (reward, monitor, kdf))| {
            table(vec![
                ("service_addr", sa),
                ("price_per_unit", price),
                ("pixels_per_unit", ppu),
                ("max_sessions", ms),
                ("max_price_per_unit", maxp),
                ("transcoding_options", to),
                ("orch_addr", oa),
                ("eth_acct_addr", acct),
                ("reward", reward),
                ("monitor", monitor),
                ("light_kdf", kdf),
            ])
        })
        .boxed()
}

/// Keeps the keys of `[livepeer]` the role takes (and `max_sessions = "auto"` for a plain
/// orchestrator only), and now and then one it does not.
fn fit_to_role(mut l: Table, role: &Value, stray: bool) -> Table {
    let only: &[&str] = match role.as_str() {
        Some("orchestrator-transcoder" | "orchestrator") => &["max_price_per_unit", "orch_addr"],
        Some("transcoder") => &["service_addr", "price_per_unit", "pixels_per_unit", "max_price_per_unit"],
        Some("gateway") => &["service_addr", "price_per_unit", "pixels_per_unit"],
        _ => &[],
    };
    if !stray {
        l.retain(|k, _| !only.contains(&k));
        if role.as_str() != Some("orchestrator") && l.get("max_sessions").and_then(Value::as_str) == Some("auto") {
            l.remove("max_sessions");
        }
    }
    l
}

/// `[lpwatch.share]`.
fn share(odds: Odds) -> BoxedStrategy<Value> {
    (
        (any::<bool>(), proptest::option::weighted(0.5, value(&URL, odds))),
        maybe(&CELL, odds),
        proptest::option::of(prop_oneof![4 => Just(3i64), 2 => 1i64..200, odds.1 => -2i64..1]),
        proptest::option::of(list(&EXTRAS, odds, 3)),
        maybe(&SHARE_INTERVAL, odds),
        maybe(&MMDB, odds),
    )
        .prop_map(|((enable, endpoint), cell, k, extras, interval, mmdb)| {
            Value::Table(table(vec![
                ("enable", Some(Value::Boolean(enable))),
                ("endpoint", endpoint),
                ("cell", cell),
                ("min_gateways", k.map(Value::Integer)),
                ("extras", extras),
                ("interval", interval),
                ("mmdb", mmdb),
            ]))
        })
        .boxed()
}

/// A whole appliance file, every key generated.
fn whole_file() -> impl Strategy<Value = String> {
    let odds = MOSTLY_GOOD;
    let head =
        (value(&ROLE, odds), value(&NETWORK, odds), upstreams(odds), livepeer(odds), proptest::bool::weighted(0.05));
    let system = (
        list(&CIDR, odds, 4),
        proptest::option::weighted(0.5, list(&CHRONY, odds, 4)),
        maybe(&DATA_LABEL, odds),
        maybe(&GETH_LABEL, odds),
        proptest::option::weighted(0.2, any::<bool>()),
    );
    let watch = (
        maybe(&INTERVAL, odds),
        proptest::option::weighted(0.5, list(&CHECKS, odds, 5)),
        maybe(&BALANCE, odds),
        proptest::option::weighted(0.4, share(odds)),
        (maybe(&SIZE, odds), maybe(&SIZE, odds), maybe(&RETENTION, odds)),
    );
    (head, system, watch).prop_map(
        |((role, network, upstreams, livepeer, stray), (ssh, chrony, data, geth_label, geth), watch)| {
            let (interval, critical, balance, share, (max_use, keep_free, retention)) = watch;
            let mut doc = Table::new();
            doc.insert("base".into(), Value::String("ubuntu-rootfs".into()));
            doc.insert("network".into(), network);
            doc.insert("livepeer".into(), Value::Table(fit_to_role(livepeer, &role, stray)));
            doc.insert("role".into(), role);
            doc.insert("rpc".into(), Value::Table(Table::from_iter([("upstream".into(), upstreams)])));
            doc.insert("ssh".into(), Value::Table(Table::from_iter([("allow".into(), ssh)])));
            doc.insert("chrony".into(), Value::Table(table(vec![("servers", chrony)])));
            doc.insert("volumes".into(), Value::Table(table(vec![("data", data), ("geth", geth_label)])));
            doc.insert("geth".into(), Value::Table(table(vec![("enable", geth.map(Value::Boolean))])));
            let lpwatch =
                vec![("interval", interval), ("critical", critical), ("min_eth_balance", balance), ("share", share)];
            doc.insert("lpwatch".into(), Value::Table(table(lpwatch)));
            let journald =
                vec![("system_max_use", max_use), ("system_keep_free", keep_free), ("max_retention", retention)];
            doc.insert("journald".into(), Value::Table(table(journald)));
            toml::to_string(&doc).unwrap()
        },
    )
}

/// The repository's appliance with one key (a dotted path) set to a generated value, good, bad
/// or any text alike: every value of every key meets its reader.
fn one_key() -> impl Strategy<Value = String> {
    let odds = EVEN;
    let at = |path: &'static str, v: BoxedStrategy<Value>| v.prop_map(move |v| (path, v)).boxed();
    let lp = |key: &'static str, v: &Values| at(key, value(v, odds));
    let keys = vec![
        at("role", value(&ROLE, odds)),
        at("network", value(&NETWORK, odds)),
        at("rpc.upstream", upstreams(odds)),
        lp("livepeer.service_addr", &HOST_PORT),
        lp("livepeer.price_per_unit", &PRICE),
        lp("livepeer.pixels_per_unit", &PIXELS),
        lp("livepeer.max_sessions", &SESSIONS),
        lp("livepeer.transcoding_options", &OPTIONS),
        lp("livepeer.eth_acct_addr", &ACCOUNT),
        at("ssh.allow", list(&CIDR, odds, 4)),
        at("chrony.servers", list(&CHRONY, odds, 4)),
        at("volumes.data", value(&DATA_LABEL, odds)),
        at("volumes.geth", value(&GETH_LABEL, odds)),
        at("geth.enable", any::<bool>().prop_map(Value::Boolean).boxed()),
        at("lpwatch.interval", value(&INTERVAL, odds)),
        at("lpwatch.critical", list(&CHECKS, odds, 5)),
        at("lpwatch.min_eth_balance", value(&BALANCE, odds)),
        at("lpwatch.share", share(odds)),
        at("journald.system_max_use", value(&SIZE, odds)),
        at("journald.system_keep_free", value(&SIZE, odds)),
        at("journald.max_retention", value(&RETENTION, odds)),
    ];
    let base: Table = toml::from_str(&std::fs::read_to_string(common::repo().join(FILE)).unwrap())
        .expect("the repository's appliance");
    proptest::strategy::Union::new(keys).prop_map(move |(path, v)| {
        let mut doc = base.clone();
        let (tables, key) = path.rsplit_once('.').unwrap_or(("", path));
        let mut t = &mut doc;
        for name in tables.split('.').filter(|n| !n.is_empty()) {
            t = t.entry(name).or_insert_with(|| Value::Table(Table::new())).as_table_mut().unwrap();
        }
        t.insert(key.to_string(), v);
        toml::to_string(&doc).unwrap()
    })
}

/// A copy of the repository's spec directory (without its appliance.toml).
fn spec_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(common::repo().join("images")).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "appliance.toml" {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
    }
    dir
}

/// The refusal names the file, a line of it, a documented key, the fix, and no URL's key.
fn check_refusal(e: &str, text: &str) -> Result<(), TestCaseError> {
    let rest = e.strip_prefix(&format!("{FILE}:")).ok_or_else(|| TestCaseError::fail(format!("no file: {e}")))?;
    let (line, rest) = rest.split_once(": ").ok_or_else(|| TestCaseError::fail(format!("no line: {e}")))?;
    let line: usize = line.parse().map_err(|_| TestCaseError::fail(format!("no line: {e}")))?;
    prop_assert!(
        line >= 1 && line <= text.lines().count().max(1),
        "line {} of {} lines: {}",
        line,
        text.lines().count(),
        e
    );
    let key = rest.split([':', ' ']).next().unwrap_or_default();
    prop_assert!(KEYS.contains(&key), "no documented key named: {}\n{}", e, text);
    prop_assert!(e.contains("\n  fix: "), "no fix: {}", e);
    prop_assert!(!e.contains(KEY), "the refusal repeats a URL's key: {}", e);
    Ok(())
}

/// lpwatch reads `config` (its url_files pointed at stand-ins holding a URL).
fn lpwatch_accepts(config: &str, creds: &Path) -> Result<(), String> {
    let text = config.replace("/run/credentials/lpwatch.service", creds.to_str().unwrap());
    lpwatch::config::Config::from_toml(&text, &Default::default()).map(|_| ()).map_err(|e| e.to_string())
}

/// The units of `node` with placeholder programs, plus a probe unit holding journald's sizes
/// in `Limit*=` (systemd reads both with `parse_size`, base 1024), all `systemd-analyze verify`ed.
fn units_verify(node: &Node, journald: &str) -> Result<(), String> {
    let dir = common::unit_root(node);
    let root = dir.path().join("root");
    let size = |key: &str| journald.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap().to_string();
    let probe = format!(
        "[Unit]\nDescription=journald sizes\n[Service]\nExecStart={}\nLimitFSIZE={}\nLimitCORE={}\n",
        node.services["lpwatch.service"].argv[0],
        size("SystemMaxUse"),
        size("SystemKeepFree")
    );
    std::fs::write(root.join("etc/systemd/system/lpbake-journald-probe.service"), probe).unwrap();
    let mut names: Vec<&str> = node.services.keys().map(String::as_str).collect();
    names.push("lpbake-journald-probe.service");
    let out = run(Command::new(common::tool("systemd-analyze"))
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .args(&names));
    match out.status.success() && stderr(&out).trim().is_empty() {
        true => Ok(()),
        false => Err(stderr(&out)),
    }
}

/// The compose testnet of `spec` passes `docker compose config`, and lpwatch reads its configs.
fn compose_accepts(spec: &lpbake::spec::Spec, creds: &Path) -> Result<(), String> {
    let files = render::compose::render(spec).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in &files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        if name.ends_with(".toml") && name.contains("lpwatch") {
            lpwatch_accepts(text, creds).map_err(|e| format!("lpwatch, {name}: {e}"))?;
        }
    }
    let out = run(Command::new("docker")
        .args(["compose", "-p", "lpbake-values", "-f", "compose.yaml", "-f", "compose.arbitrum.yaml", "config", "-q"])
        .current_dir(dir.path())
        .env("LPBAKE_KEYSTORE", dir.path())
        .env("LPBAKE_GEO_MMDB", "/srv/geo/City.mmdb"));
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("docker compose config: {}", stderr(&out))),
    }
}

/// Everything the node's programs read, read by them.
fn rendered_files_run(spec_path: &Path, a: &appliance::Appliance) -> Result<(), TestCaseError> {
    let spec = lpbake::spec::load(spec_path).map_err(|e| TestCaseError::fail(format!("spec::load: {e}")))?;
    let node = render::node(&spec).map_err(|e| TestCaseError::fail(format!("render::node: {e}")))?;
    let tree = render::files(&node).map_err(|e| TestCaseError::fail(format!("render::files: {e}")))?;
    let text = |p: &str| tree.text(p).unwrap_or_else(|| panic!("{p} not rendered")).to_string();
    prop_assert!(tree.items.keys().all(|p| tree.text(p).is_none_or(|t| !t.contains(KEY))), "a key is in the tree");

    let creds = tempfile::tempdir().unwrap();
    for u in &a.rpc {
        if let appliance::UpstreamSource::Credential(c) = &u.source {
            std::fs::write(creds.path().join(c), "https://rpc.example.org/v2/SECRETKEY\n").unwrap();
        }
    }
    let lpwatch = text("/etc/lpwatch/lpwatch.toml");
    lpwatch_accepts(&lpwatch, creds.path()).map_err(|e| TestCaseError::fail(format!("lpwatch: {e}\n{lpwatch}")))?;

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, p: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, text(p)).unwrap();
        f
    };
    let nft =
        run(Command::new(common::tool("nft")).arg("-c").arg("-f").arg(write("nftables.conf", "/etc/nftables.conf")));
    prop_assert!(nft.status.success(), "nft -c: {}", stderr(&nft));
    let chrony = write("chrony.conf", "/etc/chrony/chrony.conf");
    let chronyd = run(Command::new(common::tool("chronyd")).arg("-p").arg("-f").arg(chrony));
    prop_assert!(chronyd.status.success(), "chronyd -p: {}", stderr(&chronyd));
    let fstab = write("fstab", "/etc/fstab");
    let findmnt = run(Command::new(common::tool("findmnt")).args(["--fstab", "--tab-file"]).arg(fstab).arg("-J"));
    prop_assert!(findmnt.status.success(), "findmnt: {}", stderr(&findmnt));

    let journald = text("/etc/systemd/journald.conf.d/60-lpbake.conf");
    units_verify(&node, &journald).map_err(|e| TestCaseError::fail(format!("systemd-analyze verify: {e}")))?;
    let retention = journald.lines().find_map(|l| l.strip_prefix("MaxRetentionSec=")).unwrap();
    let span = run(Command::new(common::tool("systemd-analyze")).args(["timespan", retention]));
    prop_assert!(span.status.success(), "systemd-analyze timespan {}: {}", retention, stderr(&span));

    match compose_accepts(&spec, creds.path()) {
        Ok(()) => {}
        // The compose arbitrum profile runs the appliance as its orchestrator, on its chain.
        Err(e) if e.contains("the compose arbitrum profile runs this appliance as its orchestrator") => {
            prop_assert!(a.network == "offchain" || !a.role.is_orchestrator(), "{}", e)
        }
        Err(e) => return Err(TestCaseError::fail(format!("compose: {e}"))),
    }
    Ok(())
}

/// Runs `files` through the property: each is refused by `parse` as [`check_refusal`] says,
/// or renders into files their programs accept; at least `min` of each happen.
fn refused_or_runs(files: impl Strategy<Value = String>, cases: u32, min: u32) {
    let spec = spec_dir();
    let (accepted, refused) = (Cell::new(0u32), Cell::new(0u32));
    runner(cases)
        .run(&files, |text| match appliance::parse(Path::new(FILE), &text) {
            Err(e) => {
                refused.set(refused.get() + 1);
                check_refusal(&e.to_string(), &text)
            }
            Ok(a) => {
                accepted.set(accepted.get() + 1);
                std::fs::write(spec.path().join("appliance.toml"), &text).unwrap();
                rendered_files_run(spec.path(), &a).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
    println!("accepted {}, refused {}", accepted.get(), refused.get());
    // Both sides were exercised: the property is about what is accepted as much as refused.
    assert!(accepted.get() >= min && refused.get() >= min, "accepted {}, refused {}", accepted.get(), refused.get());
}

#[test]
fn generated_appliance_files_are_refused_or_run() {
    refused_or_runs(whole_file(), 128, 10);
}

#[test]
fn every_value_of_every_key_is_refused_or_runs() {
    refused_or_runs(one_key(), 128, 20);
}

// --- named examples -----------------------------------------------------------------------------

/// The repository's appliance with `from` replaced by `to` (which must be there).
fn edited(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(common::repo().join(FILE)).unwrap();
    assert!(text.contains(from), "{from} is not in {FILE}");
    text.replacen(from, to, 1)
}

/// `text` is refused at the first line holding `at`, naming `key` and `what`, with a fix.
fn refused_at(text: &str, at: &str, key: &str, what: &str) -> String {
    let e = appliance::parse(Path::new(FILE), text).unwrap_err().to_string();
    let line = text.lines().position(|l| l.contains(at)).unwrap() + 1;
    assert!(e.starts_with(&format!("{FILE}:{line}: {key}: ")), "line {line}, key {key}: {e}");
    assert!(e.contains(what) && e.contains("\n  fix: "), "{what}: {e}");
    e
}

#[test]
fn min_eth_balance_1e_30_is_refused() {
    let text = edited("min_eth_balance = \"0.02\"", "min_eth_balance = \"1e-30\"");
    refused_at(&text, "1e-30", "lpwatch.min_eth_balance", "not an amount of ETH lpwatch reads");
    // The balance lpwatch does read is accepted.
    appliance::parse(Path::new(FILE), &edited("\"0.02\"", "\"0.000000000000000001\"")).unwrap();
}

#[test]
fn geth_as_the_only_upstream_of_an_arbitrum_node_is_refused() {
    let only_geth = edited("[[rpc.upstream]]\nname = \"primary\"\ncredential = \"rpc-primary\"\n\n", "")
        .replacen("[[rpc.upstream]]\nname = \"public\"\nurl = \"https://arb1.arbitrum.io/rpc\"\n", "", 1)
        .replacen("[geth]\nenable = false", "[geth]\nenable = true", 1);
    assert!(!only_geth.contains("[[rpc.upstream]]"));
    let e = refused_at(&only_geth, "enable = true", "geth.enable", "chain 42161");
    assert!(e.contains("enable = false") && e.contains("credential"), "{e}");
    // Beside other upstreams too: geth's chain is never Arbitrum One's.
    refused_at(&edited("[geth]\nenable = false", "[geth]\nenable = true"), "enable = true", "geth.enable", "(chain 1)");
}

/// `[[rpc.upstream]] url = URL` in place of the repository's public upstream.
fn with_upstream(url: &str) -> String {
    edited("url = \"https://arb1.arbitrum.io/rpc\"", &format!("url = \"{url}\""))
}

fn upstream_refused(url: &str, key: &str, what: &str) {
    let e = refused_at(&with_upstream(url), url, "rpc.upstream.url", what);
    assert!(!e.contains(key), "the refusal repeats the key: {e}");
    assert!(e.contains("credential = \\\"rpc-NAME\\\"") || e.contains("credential = \"rpc-NAME\""), "{e}");
}

#[test]
fn arbitrum_foundations_endpoint_is_accepted() {
    appliance::parse(Path::new(FILE), &with_upstream("https://arb1.arbitrum.io/rpc")).unwrap();
}

#[test]
fn publicnode_endpoint_is_accepted() {
    appliance::parse(Path::new(FILE), &with_upstream("https://arbitrum-one.publicnode.com")).unwrap();
}

#[test]
fn ankr_public_endpoint_is_accepted() {
    appliance::parse(Path::new(FILE), &with_upstream("https://rpc.ankr.com/arbitrum")).unwrap();
}

#[test]
fn onerpc_endpoint_is_accepted() {
    appliance::parse(Path::new(FILE), &with_upstream("https://1rpc.io/arb")).unwrap();
}

#[test]
fn alchemy_key_is_refused() {
    let key = "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeF";
    upstream_refused(&format!("https://arb-mainnet.g.alchemy.com/v2/{key}"), key, "API key");
}

#[test]
fn infura_key_is_refused() {
    let key = "0123456789abcdef0123456789abcdef";
    upstream_refused(&format!("https://arbitrum-mainnet.infura.io/v3/{key}"), key, "API key");
}

#[test]
fn quicknode_key_is_refused() {
    let key = "0123456789abcdef0123456789abcdef01234567";
    upstream_refused(&format!("https://a-b.arbitrum-mainnet.quiknode.pro/{key}/"), key, "API key");
}

#[test]
fn uuid_path_is_refused() {
    let key = "123e4567-e89b-12d3-a456-426614174000";
    upstream_refused(&format!("https://rpc.example.org/{key}"), key, "API key");
}

#[test]
fn all_letters_key_is_refused() {
    let key = "abcdefghijklmnopqrstuvwx";
    upstream_refused(&format!("https://rpc.example.org/arb/{key}"), key, "API key");
}

#[test]
fn a_key_in_the_host_is_refused() {
    let key = "abcdefghijklmnopqrstuvwxyz";
    upstream_refused(&format!("https://{key}.rpc.example.org/"), key, "API key");
}

#[test]
fn a_share_endpoint_with_a_key_is_refused() {
    let key = "0123456789abcdef0123456789abcdef";
    let share = format!("[lpwatch.share]\nenable = true\nendpoint = \"https://collector.example.org/{key}/w\"\n\n");
    let text = edited("[journald]", &format!("{share}[journald]"));
    let e = refused_at(&text, key, "lpwatch.share.endpoint", "API key");
    assert!(!e.contains(key), "{e}");
}

#[test]
fn journald_retention_in_nanoseconds_is_refused() {
    // humantime reads "1ns"; systemd's parse_sec, which journald reads MaxRetentionSec= with, does not.
    let text = edited("max_retention = \"1month\"", "max_retention = \"1ns\"");
    refused_at(&text, "1ns", "journald.max_retention", "not a time span journald reads");
}

#[test]
fn journald_size_beyond_64_bits_is_refused() {
    let text = edited("system_max_use = \"1G\"", "system_max_use = \"16777216T\"");
    refused_at(&text, "16777216T", "journald.system_max_use", "not a size journald reads");
}

#[test]
fn max_sessions_auto_with_a_local_transcoder_is_refused() {
    // livepeer v0.9.1 exits: "-maxSessions 'auto' cannot be used when both -orchestrator and -transcoder are specified".
    let text = edited("max_sessions = \"10\"", "max_sessions = \"auto\"");
    refused_at(&text, "max_sessions = \"auto\"", "livepeer.max_sessions", "role orchestrator only");
    let plain = text.replacen("role = \"orchestrator-transcoder\"", "role = \"orchestrator\"", 1);
    appliance::parse(Path::new(FILE), &plain).unwrap();
}

#[test]
fn a_fractional_pixels_per_unit_is_refused() {
    // livepeer v0.9.1 panics: "-pixelsPerUnit must be a valid integer".
    let text = edited("pixels_per_unit = \"1\"", "pixels_per_unit = \"1.5\"");
    refused_at(&text, "1.5", "livepeer.pixels_per_unit", "not a valid value");
}

#[test]
fn a_price_in_exponent_notation_is_refused() {
    // livepeer reads prices as digits, an optional fraction and an optional currency.
    let text = edited("price_per_unit = \"1000\"", "price_per_unit = \"1e-30\"");
    refused_at(&text, "1e-30", "livepeer.price_per_unit", "not a valid value");
}

#[test]
fn an_lpwatch_interval_beyond_an_hour_is_refused() {
    let text = edited("interval = \"5s\"", "interval = \"100y\"");
    refused_at(&text, "100y", "lpwatch.interval", "at most 1h");
}
