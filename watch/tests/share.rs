//! Sharing against the real livepeer stand-in, with real connections to its service port from
//! loopback addresses that a test geo database places around Berlin, Paris, Madrid and São
//! Paulo: `share --dry-run` prints counts per merged cell and never an address; shares reach a
//! real Prometheus remote-write receiver, wait in the bounded queue while it is down; without
//! an endpoint lpwatch connects to nothing but livepeer (every connect() traced).

mod common;

use common::geo_db::{self, Place};
use common::{free_port, start_standin, Lpwatch, Proc};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};

const PLACES: [Place; 7] = [
    ("127.0.0.2/32", 52.52, 13.40, "DE", "EU"),
    ("127.0.0.3/32", 52.40, 13.05, "DE", "EU"),
    ("127.0.0.4/31", 53.55, 10.00, "DE", "EU"), // .4 and .5
    ("127.0.0.6/32", 48.85, 2.35, "FR", "EU"),
    ("127.0.0.7/32", 48.60, 2.20, "FR", "EU"),
    ("127.0.0.8/32", 40.42, -3.70, "ES", "EU"),
    ("127.0.0.9/32", -23.55, -46.63, "BR", "SA"),
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
    /// 127.0.0.10 is in no database. A connection to the CLI port is no gateway.
    async fn start(network: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mmdb = dir.path().join("geo.mmdb");
        geo_db::write(&mmdb, "Test-City", &PLACES);
        let (mut livepeer, cli, service) = start_standin(dir.path(), network);
        wait_for_metrics(&cli, &mut livepeer).await;
        let cli_port: u16 = cli.rsplit(':').next().unwrap().parse().unwrap();
        let mut held = Vec::new();
        for source in ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
            held.push(connect_from(source, service).await);
        }
        for source in ["127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9", "127.0.0.10"] {
            held.push(connect_from(source, service).await);
        }
        held.push(connect_from("127.0.0.2", cli_port).await);
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

    // 5-degree squares: Berlin (N50E010) and Hamburg (N50E010 too) hold 4 gateways and stay;
    // Paris (N45E000, 2) and Madrid (N40W005, 1) are merged into europe, which then holds 3;
    // São Paulo alone is merged into south-america, still below 3, so into "other" with the
    // address the database does not know.
    let grid = share("5deg", "ignore = []\n");
    let body: Vec<&str> = grid.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body[2..],
        [
            "lpshare_gateways{cell=\"N50E010\"} 4",
            "lpshare_streams{cell=\"N50E010\"} 5",
            "lpshare_pixels_per_second{cell=\"N50E010\"} 0",
            "lpshare_gateways{cell=\"europe\"} 3",
            "lpshare_streams{cell=\"europe\"} 3",
            "lpshare_pixels_per_second{cell=\"europe\"} 0",
            "lpshare_gateways{cell=\"other\"} 2",
            "lpshare_streams{cell=\"other\"} 2",
            "lpshare_pixels_per_second{cell=\"other\"} 0",
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
    for line in
        ["lpshare_gateways{cell=\"DE\"} 4", "lpshare_gateways{cell=\"europe\"} 3", "lpshare_gateways{cell=\"other\"} 2"]
    {
        assert!(countries.contains(line), "no {line:?} in:\n{countries}");
    }
    assert!(!countries.contains("lpshare_transcoders"), "{countries}");
    // With k = 5 even the German cell is merged: europe holds all 7 European gateways.
    let strict = share("country", "ignore = []\nmin_gateways = 5\n");
    assert!(strict.contains("lpshare_gateways{cell=\"europe\"} 7\n") && !strict.contains("DE"), "{strict}");
    assert!(!countries.contains("127.0.0"), "an address was printed:\n{countries}");

    // By default loopback peers are the operator's own: none is counted.
    let default_ignore = share("5deg", "");
    assert!(!default_ignore.contains("lpshare_gateways"), "{default_ignore}");
    node.livepeer.kill();
}

/// A Prometheus with its remote-write receiver on 127.0.0.1:`port`.
fn start_prometheus(dir: &Path, port: u16) -> Proc {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global: {}\n").unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run prometheus ({e}): run `make deps`"));
    Proc { child, name: "prometheus" }
}

/// The result vector of an instant query.
async fn query(port: u16, q: &str) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let url = reqwest::Url::parse_with_params(&url, [("query", q)]).unwrap();
    let Ok(resp) = reqwest::get(url).await else { return vec![] };
    let body: Value = serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or_default();
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Polls `f` every 200 ms until it gives `Some`, for at most `secs` seconds.
async fn within<T, F: std::future::Future<Output = Option<T>>>(secs: u64, what: &str, mut f: impl FnMut() -> F) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "not within {secs}s: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    for (name, _) in queued(&queue) {
        let body = std::fs::read(queue.join(&name)).unwrap();
        let req = lpwatch::share::remote_write::decode(&body).unwrap();
        assert!(req.timeseries.iter().all(|t| t.labels[0].value.starts_with("lpshare_")), "{name}");
    }

    // Prometheus comes up: the queue drains into it, each share at its own time.
    let dir = tempfile::tempdir().unwrap();
    let mut prometheus = start_prometheus(dir.path(), port);
    within(60, "the queue drained", || async { queued(&queue).is_empty().then_some(()) }).await;
    let berlin = within(30, "Berlin's gateways in Prometheus", || async {
        query(port, "lpshare_gateways{cell=\"N50E010\"}").await.first().cloned()
    })
    .await;
    assert_eq!(berlin["value"][1], "4", "{berlin}");
    let samples = query(port, "count_over_time(lpshare_sessions[10m])").await;
    let count: usize = samples.first().and_then(|s| s["value"][1].as_str()).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(count > held, "{count} samples in Prometheus, {held} were queued");
    let cells: Vec<String> = query(port, "lpshare_streams")
        .await
        .iter()
        .map(|s| s["metric"]["cell"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(cells, ["N50E010", "europe", "other"]);

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
    for gateway in ["127.0.0.2", "127.0.0.6", "127.0.0.9"] {
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
    let mut prometheus = start_prometheus(node.dir.path(), port);
    within(30, "Prometheus up", || async {
        reqwest::get(format!("http://127.0.0.1:{port}/-/ready")).await.ok().filter(|r| r.status().is_success())
    })
    .await;
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
