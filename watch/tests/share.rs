//! Sharing against the real livepeer stand-in, with real connections to its service port from
//! loopback addresses that a test geo database places around Berlin, Paris, Madrid and São
//! Paulo: `share --dry-run` prints counts per merged cell and never an address; shares reach a
//! real Prometheus remote-write receiver, wait in the bounded queue while it is down; without
//! an endpoint lpwatch connects to nothing but livepeer (every connect() traced); the collector,
//! against a real `geth --dev` with stub Livepeer contracts, forwards what a delegated, active
//! orchestrator signed (each refusal has its own test in collect_refusals.rs) and lets only a
//! signed-in orchestrator that shares read the raw series; its map of the public aggregates
//! renders in headless Chromium (a screenshot is kept in the test output); over a real ffmpeg
//! stream into the stand-in gateway the kernel's byte count agrees with the gateway's; and an
//! operator's own Prometheus, scraping lpwatch, sends on only the share with the rendered
//! remote_write block.

mod common;

use common::collect::{delegated, now_ms, Collect};
use common::geo_db::{self, Network};
use common::prometheus::{query, ready, start_prometheus, start_prometheus_with};
use common::{free_port, start_standin, within, Lpwatch, Proc};
use lpwatch::share::geo::Place;
use lpwatch::share::proof::Reporter;
use lpwatch::share::remote_write;
use lpwatch::share::set::Series;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};

/// One /24 per gateway: a gateway is a network (`lpbake_rules::disclosure::gateway_key`), so
/// addresses of one /24, or of one database record, would be one gateway.
const PLACES: [Network; 8] = [
    ("127.0.2.0/24", 52.52, 13.40, "DE", "EU"),
    ("127.0.3.0/24", 52.40, 13.05, "DE", "EU"),
    ("127.0.4.0/24", 53.55, 10.00, "DE", "EU"),
    ("127.0.5.0/24", 53.56, 10.01, "DE", "EU"),
    ("127.0.6.0/24", 48.85, 2.35, "FR", "EU"),
    ("127.0.7.0/24", 48.60, 2.20, "FR", "EU"),
    ("127.0.8.0/24", 40.42, -3.70, "ES", "EU"),
    ("127.0.9.0/24", -23.55, -46.63, "BR", "SA"),
];

/// Connects to 127.0.0.1:`port` from `source`.
async fn connect_from(source: &str, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap()
}

/// Waits (bounded) until the stand-in serves /metrics.
async fn wait_for_metrics(cli: &str, livepeer: &mut Proc) {
    let start = Instant::now();
    while reqwest::get(format!("{cli}/metrics")).await.map_or(true, |r| !r.status().is_success()) {
        assert!(livepeer.alive(), "the livepeer stand-in exited");
        assert!(start.elapsed() < Duration::from_secs(20), "the stand-in served no /metrics within 20s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `lpwatch --config <dir>/lpwatch.toml` with `config` and then `args`.
fn lpwatch(dir: &Path, config: &str, args: &[&str]) -> Output {
    let path = dir.join("lpwatch.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_lpwatch")).arg("--config").arg(&path).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "lpwatch failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The stand-in with gateways connected, and the test geo database.
struct Node {
    dir: tempfile::TempDir,
    livepeer: Proc,
    cli: String,
    service: u16,
    mmdb: std::path::PathBuf,
    _held: Vec<TcpStream>,
}

impl Node {
    /// Berlin area: 4 gateways (one with two connections); Paris 2, Madrid 1, São Paulo 1;
    /// 127.0.10.1 is in no database. A connection to the CLI port is no gateway.
    async fn start(network: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mmdb = dir.path().join("geo.mmdb");
        geo_db::write(&mmdb, "Test-City", &PLACES);
        let (mut livepeer, cli, service) = start_standin(dir.path(), network);
        wait_for_metrics(&cli, &mut livepeer).await;
        let cli_port: u16 = cli.rsplit(':').next().unwrap().parse().unwrap();
        let mut held = Vec::new();
        for source in ["127.0.2.1", "127.0.2.1", "127.0.3.1", "127.0.4.1", "127.0.5.1"] {
            held.push(connect_from(source, service).await);
        }
        for source in ["127.0.6.1", "127.0.7.1", "127.0.8.1", "127.0.9.1", "127.0.10.1"] {
            held.push(connect_from(source, service).await);
        }
        held.push(connect_from("127.0.2.1", cli_port).await);
        Node { dir, livepeer, cli, service, mmdb, _held: held }
    }

    /// lpwatch's config for this node, off chain or on Arbitrum (with an upstream that answers
    /// nothing: the chain checks fail, sharing does not need them), `share` added to [share].
    fn config(&self, on_chain: bool, share: &str) -> String {
        let network = if on_chain {
            "network = \"arbitrum-one-mainnet\"\n[[rpc.upstream]]\nurl = \"http://127.0.0.1:1\"\n"
        } else {
            "network = \"offchain\"\n"
        };
        format!(
            "{network}[livepeer]\ncli_url = \"{}\"\n[share]\nmmdb = \"{}\"\nservice_port = {}\n{share}",
            self.cli,
            self.mmdb.display(),
            self.service
        )
    }
}

#[tokio::test]
async fn dry_run_prints_counts_per_merged_cell_and_no_address() {
    let mut node = Node::start("offchain").await;
    let dir = node.dir.path().to_path_buf();

    let share = |cell: &str, more: &str| {
        let config = node.config(
            false,
            &format!(
                "cell = \"{cell}\"
{more}"
            ),
        );
        stdout(&lpwatch(&dir, &config, &["share", "--dry-run", "--window", "200ms"]))
    };

    // 5-degree squares: Berlin (N50E010-5deg) and Hamburg (N50E010-5deg too) hold 4 gateways and stay;
    // Paris (N45E000-5deg, 2) and Madrid (N40W005-5deg, 1) are merged into europe, which then holds 3;
    // São Paulo alone is merged into south-america, still below 3, so into "other" with the
    // address the database does not know.
    let grid = share("5deg", "ignore = []\n");
    let body: Vec<&str> = grid.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body[2..],
        [
            "lpshare_gateways{cell=\"N50E010-5deg\",region=\"europe\"} 4",
            "lpshare_streams{cell=\"N50E010-5deg\",region=\"europe\"} 5",
            "lpshare_pixels_per_second{cell=\"N50E010-5deg\",region=\"europe\"} 0",
            "lpshare_gateways{cell=\"europe\",region=\"europe\"} 3",
            "lpshare_streams{cell=\"europe\",region=\"europe\"} 3",
            "lpshare_pixels_per_second{cell=\"europe\",region=\"europe\"} 0",
            "lpshare_gateways{cell=\"other\",region=\"other\"} 2",
            "lpshare_streams{cell=\"other\",region=\"other\"} 2",
            "lpshare_pixels_per_second{cell=\"other\",region=\"other\"} 0",
        ],
        "{grid}"
    );
    assert_eq!(body[..2], ["lpshare_sessions 0", "lpshare_max_sessions 10"], "{grid}");
    assert!(
        grid.starts_with("# lpwatch share --dry-run: 11 series; cells of 5deg, each with at least 3 gateways"),
        "{grid}"
    );
    assert!(!grid.contains("127.0.0"), "an address was printed:\n{grid}");

    // By country: DE holds 4, FR (2) and ES (1) make europe 3, BR goes to other. The
    // transcoders extra is named, but an orchestrator that transcodes itself reports no
    // transcoders_* metrics, so none is made up.
    let countries = share("country", "ignore = []\nmin_gateways = 3\nextras = [\"transcoders\"]\n");
    for line in [
        "lpshare_gateways{cell=\"DE\",region=\"europe\"} 4",
        "lpshare_gateways{cell=\"europe\",region=\"europe\"} 3",
        "lpshare_gateways{cell=\"other\",region=\"other\"} 2",
    ] {
        assert!(countries.contains(line), "no {line:?} in:\n{countries}");
    }
    assert!(!countries.contains("lpshare_transcoders"), "{countries}");
    // With k = 5 even the German cell is merged: europe holds all 7 European gateways.
    let strict = share("country", "ignore = []\nmin_gateways = 5\n");
    assert!(
        strict.contains("lpshare_gateways{cell=\"europe\",region=\"europe\"} 7\n") && !strict.contains("DE"),
        "{strict}"
    );
    assert!(!countries.contains("127.0.0"), "an address was printed:\n{countries}");

    // By default loopback peers are the operator's own: none is counted.
    let default_ignore = share("5deg", "");
    assert!(!default_ignore.contains("lpshare_gateways"), "{default_ignore}");
    node.livepeer.kill();
}

fn queued(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn shares_wait_in_the_bounded_queue_then_reach_a_real_prometheus() {
    let mut node = Node::start("arbitrum-one-mainnet").await;
    let port = free_port();
    let queue = node.dir.path().join("queue");
    let max = 1200u64;
    let config = node.config(true, &format!(
        "ignore = []\nkey_file = \"{}\"\nendpoint = \"http://127.0.0.1:{port}/api/v1/write\"\ninterval = \"1s\"\nqueue_dir = \"{}\"\nqueue_max_bytes = {max}\n",
        node.dir.path().join("share-key").display(),
        queue.display()
    ));
    let mut w = Lpwatch::start(&config, false, &[]).await;

    // Nothing listens yet: shares pile up, never above the limit, the oldest dropped first.
    let first = within(20, "a share queued", || async { queued(&queue).first().cloned() }).await;
    within(30, "the oldest share dropped", || async {
        let q = queued(&queue);
        let total: u64 = q.iter().map(|(_, size)| size).sum();
        assert!(total <= max, "the queue holds {total} bytes, over {max}: {q:?}");
        (q.first().is_some_and(|(name, _)| *name > first.0)).then_some(())
    })
    .await;
    let held = queued(&queue).len();
    assert!(held >= 2, "{held} shares queued");
    // The payload itself: only allowlisted names, only cell and region labels, no address.
    let names = lpwatch::share::set::allowlist();
    for (name, _) in queued(&queue) {
        let body = std::fs::read(queue.join(&name)).unwrap();
        let req = lpwatch::share::remote_write::decode(&body).unwrap();
        for ts in &req.timeseries {
            assert_eq!(ts.labels[0].name, "__name__");
            assert!(names.contains(&ts.labels[0].value.as_str()), "{name}: {ts:?}");
            assert!(ts.labels[1..].iter().all(|l| l.name == "cell" || l.name == "region"), "{name}: {ts:?}");
            assert!(ts.labels.iter().all(|l| !l.value.contains("127.0.0")), "an address in the payload: {ts:?}");
        }
    }

    // Prometheus comes up: the queue drains into it, each share at its own time.
    let dir = tempfile::tempdir().unwrap();
    let mut prometheus = start_prometheus(dir.path(), port, &[]);
    let up_ms = ready(port).await;
    within(60, "the queue drained", || async { queued(&queue).is_empty().then_some(()) }).await;
    let berlin = within(30, "Berlin's gateways in Prometheus", || async {
        query(port, "lpshare_gateways{cell=\"N50E010-5deg\",region=\"europe\"}").await.first().cloned()
    })
    .await;
    assert_eq!(berlin["value"][1], "4", "{berlin}");
    // The shares queued while nothing listened arrived each as a sample of its own, at the time
    // it was taken: at least two samples are older than Prometheus (the queue holds two or more).
    let samples = query(port, "lpshare_sessions[10m]").await;
    let times: Vec<f64> = samples
        .first()
        .and_then(|s| s["values"].as_array())
        .map_or(vec![], |v| v.iter().filter_map(|p| p[0].as_f64()).collect());
    let older = times.iter().filter(|t| **t * 1000.0 < up_ms as f64).count();
    assert!(older >= 2, "{older} of the samples {times:?} are older than Prometheus (ready at {up_ms} ms)");
    let cells: Vec<String> = query(port, "lpshare_streams")
        .await
        .iter()
        .map(|s| s["metric"]["cell"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(cells, ["N50E010-5deg", "europe", "other"]);

    // The reporting key was delegated by livepeer's own account, through /signMessage.
    let kept = std::fs::read_to_string(node.dir.path().join("share-key.delegation")).unwrap();
    let (text, sig) = kept.trim().split_once('\n').unwrap();
    let account = reqwest::get(format!("{}/ethAddr", node.cli)).await.unwrap().text().await.unwrap();
    let signer = lpbake_keystore::recover_text(text.as_bytes(), &hex::decode(sig).unwrap()).unwrap();
    assert_eq!(format!("0x{}", hex::encode(signer)), account.to_lowercase(), "{text}");
    assert!(
        text.starts_with(&format!("lpshare delegation v1 orchestrator={} reporter=0x", account.to_lowercase())),
        "{text}"
    );

    let log = w.log();
    for gateway in ["127.0.2.1", "127.0.6.1", "127.0.9.1"] {
        assert!(!log.contains(gateway), "lpwatch logged a gateway's address:\n{log}");
    }
    w.proc.kill();
    prometheus.kill();
    node.livepeer.kill();
}

/// Runs lpwatch with `config` for `secs` seconds under strace: the IP addresses of every
/// connect() it made.
fn connects(dir: &Path, config: &str, secs: u64) -> Vec<std::net::SocketAddr> {
    let (path, trace) = (dir.join("traced.toml"), dir.join("connect.trace"));
    let http = free_port();
    std::fs::write(&path, format!("{config}[listen]\nhttp = \"127.0.0.1:{http}\"\nrpc = \"off\"\n")).unwrap();
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=connect", "-o"])
        .arg(&trace)
        .args(["timeout", "-s", "INT", &secs.to_string(), env!("CARGO_BIN_EXE_lpwatch"), "--config"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run strace ({e}): run `make deps`"));
    let text = std::fs::read_to_string(&trace)
        .unwrap_or_else(|e| panic!("no trace ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    text.lines()
        .filter_map(|l| {
            let port = l.split("sin_port=htons(").nth(1)?.split(')').next()?.parse().ok()?;
            let ip = l
                .split("inet_addr(\"")
                .nth(1)
                .or_else(|| l.split("inet_pton(AF_INET6, \"").nth(1))?
                .split('"')
                .next()?;
            Some(std::net::SocketAddr::new(ip.parse().ok()?, port))
        })
        .collect()
}

#[tokio::test]
async fn without_an_endpoint_lpwatch_connects_only_to_livepeer() {
    let mut node = Node::start("arbitrum-one-mainnet").await;
    let cli: std::net::SocketAddr = node.cli.trim_start_matches("http://").parse().unwrap();
    let port = free_port();
    let mut prometheus = start_prometheus(node.dir.path(), port, &[]);
    ready(port).await;
    let checks = "[checks]\ninterval = \"500ms\"\n";
    // Every connect() over 4 s, with [share] but no endpoint: only livepeer's CLI.
    let off = connects(node.dir.path(), &node.config(false, &format!("interval = \"1s\"\n{checks}")), 4);
    assert!(off.contains(&cli), "no connect() to livepeer's CLI seen, so the trace saw nothing: {off:?}");
    assert!(off.iter().all(|a| *a == cli), "lpwatch connected to more than livepeer's CLI {cli}: {off:?}");
    // The same with an endpoint: the trace does see it.
    let queue = node.dir.path().join("q");
    let share = format!(
        "key_file = \"{}\"\ninterval = \"1s\"\nendpoint = \"http://127.0.0.1:{port}/api/v1/write\"\nqueue_dir = \"{}\"\n{checks}",
        node.dir.path().join("k").display(),
        queue.display()
    );
    let on = connects(node.dir.path(), &node.config(true, &share), 4);
    assert!(on.iter().any(|a| a.port() == port), "no connect() to the endpoint seen: {on:?}");
    prometheus.kill();
    node.livepeer.kill();
}
#[test]
fn refusals_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let country_db = dir.path().join("country.mmdb");
    geo_db::write(&country_db, "Test-Country", &PLACES);
    let run = |config: &str, args: &[&str]| {
        let out = lpwatch(dir.path(), config, args);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let offchain = "network = \"offchain\"\n";

    let (code, err) = run(offchain, &["share", "--dry-run"]);
    assert!(code == Some(1) && err.contains("no [share] table") && err.contains("mmdb ="), "{code:?} {err}");

    let (code, err) =
        run(&format!("{offchain}[share]\nmmdb = \"{}\"\n", country_db.display()), &["share", "--dry-run"]);
    assert!(code == Some(1) && err.contains("Test-Country") && err.contains("cell = \"country\""), "{code:?} {err}");

    let missing = dir.path().join("nope.mmdb");
    let (code, err) = run(&format!("{offchain}[share]\nmmdb = \"{}\"\n", missing.display()), &["share", "--dry-run"]);
    assert!(code == Some(1) && err.contains("nope.mmdb") && err.contains("GeoLite2"), "{code:?} {err}");

    // Without --dry-run there is nothing to do (the watch sends shares), and clap says so.
    let (code, err) = run(offchain, &["share"]);
    assert!(code == Some(2) && err.contains("--dry-run"), "{code:?} {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_forwards_signed_shares_and_opens_raw_series_to_signed_in_orchestrators() {
    let c = Collect::start("1s").await;

    // End to end: the stand-in's account delegates lpwatch's key, lpwatch pushes, the collector
    // forwards to Prometheus with the orchestrator's address; nothing else and no address.
    let mut node = Node::start("arbitrum-one-mainnet").await;
    let share = format!(
        "ignore = []\nkey_file = \"{}\"\ninterval = \"1s\"\nendpoint = \"{}/api/v1/write\"\nqueue_dir = \"{}\"\n",
        node.dir.path().join("share-key").display(),
        c.url,
        node.dir.path().join("queue").display()
    );
    let config = format!(
        "network = \"devnet\"\nchain_id = 1337\n[[rpc.upstream]]\nurl = \"{}\"\n[livepeer]\ncli_url = \"{}\"\n\
         [share]\nmmdb = \"{}\"\nservice_port = {}\n{share}",
        c.geth.url,
        node.cli,
        node.mmdb.display(),
        node.service
    );
    // The stand-in's account joins the transcoder pool: the collector takes its pushes.
    let account = reqwest::get(format!("{}/ethAddr", node.cli)).await.unwrap().text().await.unwrap().to_lowercase();
    c.join_all(std::slice::from_ref(&account)).await;
    let mut w = Lpwatch::start(&config, false, &[]).await;
    let berlin = within(30, "the node's share in Prometheus", || async {
        query(c.prom_port, &format!("lpshare_gateways{{cell=\"N50E010-5deg\",orchestrator=\"{account}\"}}"))
            .await
            .first()
            .cloned()
    })
    .await;
    assert_eq!(berlin["value"][1], "4", "{berlin}");
    // Every series Prometheus holds is a shared one, with no label but its cell, region and
    // orchestrator, and no address.
    let all = query(c.prom_port, "{__name__=~\".+\"}").await;
    let names = lpwatch::share::set::allowlist();
    for series in &all {
        let labels = series["metric"].as_object().unwrap();
        assert!(names.contains(&labels["__name__"].as_str().unwrap()), "{series}");
        assert!(
            labels.keys().all(|k| ["__name__", "cell", "region", "orchestrator"].contains(&k.as_str())),
            "{series}"
        );
        assert!(!series.to_string().contains("127.0."), "an address reached Prometheus: {series}");
    }
    // One orchestrator: nothing of it is published, not its cells, its region or the world.
    let published: Value =
        serde_json::from_str(&reqwest::get(format!("{}/api/cells", c.url)).await.unwrap().text().await.unwrap())
            .unwrap();
    assert_eq!(published, json!({"cells": [], "regions": [], "world": null}), "one orchestrator was published");
    w.proc.kill();
    let accepted = c.count("accepted").await;
    assert!(accepted >= 1.0, "{accepted}");

    // Another orchestrator shares too: a signed-in orchestrator never reads its series.
    let neighbour = lpbake_keystore::random_key();
    c.join_all(&[common::collect::address_of(&neighbour)]).await;
    let reporter = Reporter::load_or_create(&node.dir.path().join("neighbour-key")).unwrap();
    let body = remote_write::encode(
        &[
            Series { name: "lpshare_sessions", place: None, value: 3.0 },
            Series { name: "lpshare_max_sessions", place: None, value: 10.0 },
        ],
        now_ms(),
    );
    let headers = reporter.sign(&delegated(&neighbour, &reporter), now_ms(), &body);
    assert_eq!(c.push(body, &headers).await, 204);

    // A retired orchestrator, for the sign-in below (every refused push has its own test in
    // collect_refusals.rs).
    let retired = lpbake_keystore::random_key();
    c.retire(&retired).await;
    let client = reqwest::Client::new();

    // The raw series: only for an active orchestrator that shares and signed a challenge, and
    // only its own (a query of the caller's is ignored).
    let raw = format!("{}/api/raw?query=lpshare_sessions", c.url);
    assert_eq!(client.get(&raw).send().await.unwrap().status(), 401);
    let sign_in = |signature: Vec<u8>, challenge: String| {
        let form = [("challenge", challenge), ("signature", format!("0x{}", hex::encode(signature)))];
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        client
            .post(format!("{}/api/session", c.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let challenge = || async { reqwest::get(format!("{}/api/challenge", c.url)).await.unwrap().text().await.unwrap() };
    let text = challenge().await;
    let form = url::form_urlencoded::Serializer::new(String::new()).append_pair("message", &text).finish();
    let by_livepeer = client
        .post(format!("{}/signMessage", node.cli))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // The operator's way: `lpwatch share --sign-in`, which checks the challenge and signs it
    // through livepeer.
    let out = lpwatch(node.dir.path(), &config, &["share", "--sign-in", &c.url]);
    let session: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(session["orchestrator"], json!(account), "{session}");
    let token = session["token"].as_str().unwrap();
    let answer: Value =
        serde_json::from_str(&client.get(&raw).bearer_auth(token).send().await.unwrap().text().await.unwrap()).unwrap();
    let own = answer["data"]["result"].as_array().unwrap();
    assert!(own.len() >= 3, "{answer}");
    assert!(own.iter().all(|s| s["metric"]["orchestrator"] == json!(account)), "another's series: {answer}");
    // An active orchestrator that never shared gets no token.
    let other = challenge().await;
    let never_shared = lpbake_keystore::sign_text(&lpbake_keystore::random_key(), other.as_bytes()).to_vec();
    assert_eq!(sign_in(never_shared, other).await.unwrap().status(), 403);
    // By hand: the challenge signed through livepeer opens once.
    assert_eq!(sign_in(by_livepeer.to_vec(), text.clone()).await.unwrap().status(), 200);
    // The same challenge again, and a retired orchestrator's signature, open nothing.
    assert_eq!(sign_in(by_livepeer.to_vec(), text).await.unwrap().status(), 401);
    let text = challenge().await;
    let retired_sig = lpbake_keystore::sign_text(&retired, text.as_bytes()).to_vec();
    assert_eq!(sign_in(retired_sig, text).await.unwrap().status(), 403);

    let mut c = c;
    c.prometheus.kill();
    node.livepeer.kill();
}

/// Chromium, headless, as root needs it; a missing one fails and names `make deps`.
fn chromium(args: &[&str]) -> Output {
    Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium ({e}): run `make deps`"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_shows_published_cells_and_where_demand_exceeds_capacity() {
    let c = Collect::start("1s").await;
    let reporter = Reporter::load_or_create(&tempfile::tempdir().unwrap().path().join("r")).unwrap();
    let place = |cell: &str, region: &str| Place { cell: cell.into(), region: region.into() };
    let (berlin, lakes) = (place("N50E010-5deg", "europe"), place("N40W080-5deg", "north-america"));
    let (sao_paulo, cape_town) = (place("S25W050-5deg", "south-america"), place("S35E015-5deg", "africa"));
    // Each orchestrator's max sessions and connections per cell. Berlin's three also serve the
    // Great Lakes: 8 + 8 connections for 8 sessions each, so Berlin's capacity is 3 x 8 x 8/16 =
    // 12 against 24 connections (over); the Great Lakes' own three have 3 connections for 32
    // sessions each: 33 connections against 12 + 96 = 108 (below half). São Paulo (2
    // orchestrators) and Cape Town (1) are not published, nor are their regions; the world is:
    // what it reveals beyond the published regions is the two cities together, 3 orchestrators.
    let mut orchestrators = Vec::new();
    orchestrators.extend((0..3).map(|_| (8.0, vec![(berlin.clone(), 8.0), (lakes.clone(), 8.0)])));
    orchestrators.extend((0..3).map(|_| (32.0, vec![(lakes.clone(), 3.0)])));
    orchestrators.extend((0..2).map(|_| (10.0, vec![(sao_paulo.clone(), 5.0)])));
    orchestrators.push((10.0, vec![(cape_town, 5.0)]));
    let accounts: Vec<lpbake_keystore::SecretKey> =
        orchestrators.iter().map(|_| lpbake_keystore::random_key()).collect();
    c.join_all(&accounts.iter().map(common::collect::address_of).collect::<Vec<_>>()).await;
    for ((max, cells), account) in orchestrators.into_iter().zip(accounts) {
        let connections: f64 = cells.iter().map(|(_, n)| n).sum();
        let mut series = vec![
            Series { name: "lpshare_sessions", place: None, value: connections.min(max) },
            Series { name: "lpshare_max_sessions", place: None, value: max },
        ];
        for (place, streams) in cells {
            series.push(Series { name: "lpshare_streams", place: Some(place.clone()), value: streams });
            series.push(Series { name: "lpshare_gateways", place: Some(place.clone()), value: streams.min(3.0) });
            series.push(Series { name: "lpshare_pixels_per_second", place: Some(place), value: 1e6 });
        }
        let body = remote_write::encode(&series, now_ms());
        let headers = reporter.sign(&delegated(&account, &reporter), now_ms(), &body);
        assert_eq!(c.push(body, &headers).await, 204);
    }
    let api = format!("{}/api/cells", c.url);
    let published: Value = within(30, "the published aggregates", || async {
        let v: Value = serde_json::from_str(&reqwest::get(&api).await.ok()?.text().await.ok()?).ok()?;
        (v["cells"].as_array()?.len() == 2 && v["regions"].as_array()?.len() == 2).then_some(v)
    })
    .await;
    let lakes = &published["cells"][0];
    assert_eq!(
        (lakes["cell"].as_str(), lakes["streams"].as_f64(), lakes["capacity"].as_f64()),
        (Some("N40W080-5deg"), Some(33.0), Some(108.0)),
        "{published}"
    );
    let berlin = &published["cells"][1];
    assert_eq!(
        (berlin["cell"].as_str(), berlin["streams"].as_f64(), berlin["capacity"].as_f64()),
        (Some("N50E010-5deg"), Some(24.0), Some(12.0)),
        "{published}"
    );
    assert_eq!(published["cells"][1]["orchestrators"].as_f64(), Some(3.0));
    for hidden in ["S25W050", "S35E015", "south-america", "africa"] {
        assert!(!published.to_string().contains(hidden), "{hidden} was published: {published}");
    }
    assert_eq!(
        (published["world"]["orchestrators"].as_f64(), published["world"]["streams"].as_f64()),
        (Some(9.0), Some(72.0)),
        "{published}"
    );

    let out = chromium(&["--dump-dom", &format!("{}/", c.url)]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("2 cells, 1 where demand exceeds capacity"),
        "{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dom.contains(
            r##"class="cell over" x="10" y="-55" width="5" height="5" fill="#d2323c" data-cell="N50E010-5deg""##
        ),
        "{dom}"
    );
    assert!(
        dom.contains(r##"class="cell" x="-80" y="-45" width="5" height="5" fill="#3b9c5a" data-cell="N40W080-5deg""##),
        "{dom}"
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lpshare-map.png");
    let out =
        chromium(&[&format!("--screenshot={}", shot.display()), "--window-size=1200,1000", &format!("{}/", c.url)]);
    let png = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("no screenshot ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
    println!("map screenshot: {}", shot.display());

    let mut c = c;
    c.prometheus.kill();
}

#[tokio::test]
async fn the_kernel_and_the_gateway_agree_on_the_bytes_of_a_real_stream() {
    let ffmpeg = std::env::var("LPBAKE_TEST_FFMPEG").unwrap_or_default();
    assert!(
        Path::new(&ffmpeg).is_file(),
        "LPBAKE_TEST_FFMPEG must name an ffmpeg binary (got {ffmpeg:?}): run `make deps`"
    );
    let dir = tempfile::tempdir().unwrap();
    let mmdb = dir.path().join("geo.mmdb");
    geo_db::write(&mmdb, "Test-City", &PLACES);
    let [cli, http, rtmp] = [0; 3].map(|_| free_port());
    let child = Command::new(common::standin_path())
        .args(["-gateway", "-monitor", "-network", "offchain"])
        .arg(format!("-cliAddr=127.0.0.1:{cli}"))
        .arg(format!("-httpAddr=127.0.0.1:{http}"))
        .arg(format!("-rtmpAddr=127.0.0.1:{rtmp}"))
        .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap())
        .spawn()
        .unwrap();
    let mut gateway = Proc::new(child, "livepeer gateway");
    let cli_url = format!("http://127.0.0.1:{cli}");
    wait_for_metrics(&cli_url, &mut gateway).await;
    let publisher = Command::new(&ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25"])
        // 2 Mbit/s constant: the stream, not the handshake, makes the count.
        .args(["-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-x264-params", "nal-hrd=cbr"])
        .args(["-b:v", "2M", "-minrate", "2M", "-maxrate", "2M", "-bufsize", "1M"])
        .args(["-f", "flv", &format!("rtmp://127.0.0.1:{rtmp}/stream/test")])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut publisher = Proc::new(publisher, "ffmpeg");
    // A megabyte in, the handshake and the bytes in flight weigh little.
    let status = format!("{cli_url}/status");
    within(20, "1 MB of the stream at the gateway", || async {
        let v: Value = serde_json::from_str(&reqwest::get(&status).await.ok()?.text().await.ok()?).ok()?;
        (v["StreamInfo"]["test"]["SourceBytes"].as_u64()? > 1_000_000).then_some(())
    })
    .await;
    let config = format!(
        "network = \"offchain\"\n[livepeer]\ncli_url = \"{cli_url}\"\n[share]\nmmdb = \"{}\"\nservice_port = {rtmp}\nignore = []\n",
        mmdb.display()
    );
    let text = stdout(&lpwatch(dir.path(), &config, &["share", "--dry-run", "--window", "200ms"]));
    publisher.kill();
    let ratio = common::metric(&text, "lpshare_kernel_bytes_ratio").unwrap_or_else(|| panic!("no ratio in:\n{text}"));
    assert!((0.98..=1.02).contains(&ratio), "kernel/gateway bytes = {ratio}:\n{text}");
    println!("kernel bytes / gateway bytes = {ratio:.5}");
    gateway.kill();
}

#[tokio::test]
async fn an_operators_prometheus_sends_on_only_the_share() {
    let mut node = Node::start("offchain").await;
    let config = node.config(false, "ignore = []\ninterval = \"1s\"\n");
    let mut w = Lpwatch::start(&config, false, &[]).await;
    let metrics = format!("{}/metrics", w.http);
    within(20, "the share on lpwatch's /metrics", || async {
        let text = reqwest::get(&metrics).await.ok()?.text().await.ok()?;
        text.contains("lpshare_gateways{cell=\"N50E010-5deg\",region=\"europe\"} 4").then_some(())
    })
    .await;
    // The operator's Prometheus scrapes lpwatch (and with it livepeer's relayed metrics) and
    // remote-writes to a receiver through the block lpwatch renders.
    let (receiver_port, own_port) = (free_port(), free_port());
    let out = lpwatch(
        node.dir.path(),
        "",
        &["share", "--remote-write", &format!("http://127.0.0.1:{receiver_port}/api/v1/write")],
    );
    let block = stdout(&out);
    let receiver_dir = tempfile::tempdir().unwrap();
    let mut receiver = start_prometheus(receiver_dir.path(), receiver_port, &[]);
    ready(receiver_port).await;
    let own_dir = tempfile::tempdir().unwrap();
    let scrape = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: lpwatch\n    static_configs:\n      - targets: [\"{}\"]\n{block}",
        w.http.trim_start_matches("http://")
    );
    let check = own_dir.path().join("check.yml");
    std::fs::write(&check, &scrape).unwrap();
    let checked = Command::new("promtool").arg("check").arg("config").arg(&check).output().unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let mut own = start_prometheus_with(own_dir.path(), own_port, &scrape);
    within(30, "the operator's Prometheus scraping lpwatch", || async {
        let up = query(own_port, "lpshare_gateways").await;
        (!up.is_empty()).then_some(())
    })
    .await;
    let got = within(60, "the share at the receiver", || async {
        query(receiver_port, "lpshare_gateways{cell=\"N50E010-5deg\"}").await.first().cloned()
    })
    .await;
    assert_eq!(got["value"][1], "4", "{got}");
    let labels: Vec<String> = got["metric"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(labels, ["__name__", "cell", "region"], "{got}");
    // The operator's own Prometheus holds lpwatch's and livepeer's series; none went on.
    assert!(!query(own_port, "livepeer_max_sessions_total").await.is_empty());
    let sent = query(receiver_port, "{__name__=~\".+\"}").await;
    let names = lpwatch::share::set::allowlist();
    assert!(sent.iter().all(|s| names.contains(&s["metric"]["__name__"].as_str().unwrap_or(""))), "{sent:?}");
    own.kill();
    receiver.kill();
    w.proc.kill();
    node.livepeer.kill();
}
