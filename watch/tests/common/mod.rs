//! Shared helpers for lpwatch's integration tests: a real `geth --dev` (with a fixed dev key so
//! two chains share an account), hand-assembled Livepeer stub contracts, the livepeer stand-in,
//! the lpwatch binary, and bounded polling.
#![allow(dead_code)]

pub mod collect;
pub mod evm;
pub mod fake;
pub mod geo_db;
pub mod prometheus;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The dev account of every test geth (key in tests/fixtures/dev-keystore.json).
pub const DEV: &str = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23";
const DEV_PASSWORD: &str = "pw";

#[path = "../../../tests/support/free_port.rs"]
mod free_port;
pub use free_port::free_port;

/// geth from `LPBAKE_GETH`, else `geth` on PATH; a missing geth fails the test.
pub fn geth_path() -> PathBuf {
    if let Ok(p) = std::env::var("LPBAKE_GETH") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "LPBAKE_GETH={} is not a file: run `make deps`", p.display());
        return p;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let c = dir.join("geth");
            if c.is_file() {
                return c;
            }
        }
    }
    panic!(
        "geth not found: run `make deps` (installs geth v1.17.7 with `go install` into \
         ~/.cache/lpbake-deps/bin) and put it on PATH or set LPBAKE_GETH=/path/to/geth"
    );
}

/// `target/debug` or `target/release`: where cargo put the lpwatch binary under test.
pub fn profile_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lpwatch")).parent().expect("binary has a parent dir").to_path_buf()
}

/// The livepeer stand-in: `LPBAKE_STANDIN`, else `livepeer` beside the lpwatch binary (target/debug or target/release), else built now with
/// `cargo build -p livepeer-standin` into a target dir of its own (so the running `cargo test`
/// never waits on itself).
pub fn standin_path() -> PathBuf {
    if let Ok(p) = std::env::var("LPBAKE_STANDIN") {
        return PathBuf::from(p);
    }
    let beside = profile_dir().join("livepeer");
    if beside.is_file() {
        return beside;
    }
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let own_target = profile_dir().join("..").join("lpwatch-standin");
    let built = own_target.join("debug").join("livepeer");
    if !built.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "livepeer-standin"])
            .env("CARGO_TARGET_DIR", &own_target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build -p livepeer-standin");
        assert!(status.success(), "cargo build -p livepeer-standin failed");
    }
    built
}

/// A child process killed (and reaped) on drop; if it writes a log file and the test is
/// failing, the log's tail is printed then, so a failure in CI shows what the process saw.
pub struct Proc {
    pub child: Child,
    pub name: &'static str,
    log: Option<PathBuf>,
}

impl Proc {
    pub fn new(child: Child, name: &'static str) -> Proc {
        Proc { child, name, log: None }
    }
    /// The same process, whose log `path` is printed if the test fails.
    pub fn logging_to(mut self, path: PathBuf) -> Proc {
        self.log = Some(path);
        self
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} {} ({}) failed", self.pid(), self.name);
    }
    /// SIGKILL and wait for the exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).stderr(Stdio::null()).status();
        self.kill();
        if let (Some(log), true) = (&self.log, std::thread::panicking()) {
            let text = std::fs::read_to_string(log).unwrap_or_else(|e| format!("({e})"));
            eprintln!("--- {} log {} (last 40 lines):\n{}", self.name, log.display(), tail(&text, 40));
        }
    }
}

/// One JSON-RPC call (panics on transport errors; returns the whole response object).
pub async fn rpc_raw(client: &reqwest::Client, url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} to {url}: {e}"));
    let bytes = resp.bytes().await.unwrap_or_else(|e| panic!("{method} to {url}: {e}"));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{method} to {url}: bad JSON: {e}: {}", String::from_utf8_lossy(&bytes)))
}

/// One JSON-RPC call returning `result` (panics on any error).
pub async fn rpc(client: &reqwest::Client, url: &str, method: &str, params: Value) -> Value {
    let v = rpc_raw(client, url, method, params).await;
    match v.get("result") {
        Some(r) => r.clone(),
        None => panic!("{method} to {url} failed: {v}"),
    }
}

/// Polls `f` every `every` until it returns `Some`, or panics after `limit` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, every: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(every).await;
    }
}

/// A `geth --dev` on a free loopback port, with the fixed dev account.
pub struct Geth {
    pub proc: Proc,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Geth {
    /// Starts geth mining a block every `period` seconds (0: only on transactions).
    pub async fn start(period: u32) -> Geth {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = dir.path().join("data").join("keystore");
        std::fs::create_dir_all(&ks).expect("keystore dir");
        std::fs::copy(fixture("dev-keystore.json"), ks.join("dev.json")).expect("copy keystore");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, DEV_PASSWORD).expect("password file");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("geth.log")).expect("log file");
        let child = Command::new(geth_path())
            .arg("--dev")
            .arg(format!("--dev.period={period}"))
            .arg("--datadir")
            .arg(dir.path().join("data"))
            .arg("--password")
            .arg(&pw)
            .args(["--http", "--http.addr", "127.0.0.1", "--http.api", "eth,net,web3"])
            .arg(format!("--http.port={port}"))
            .args(["--ipcdisable", "--nodiscover", "--maxpeers=0", "--port=0", "--authrpc.port=0"])
            .arg("--verbosity=2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn geth");
        let geth = Geth { proc: Proc::new(child, "geth"), url: format!("http://127.0.0.1:{port}"), _dir: dir };
        let client = reqwest::Client::new();
        let url = geth.url.clone();
        let log_path = geth._dir.path().join("geth.log");
        let start = Instant::now();
        loop {
            let body = json!({"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]});
            let ok = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok();
            if ok {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("geth did not answer within 30s; log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        geth
    }

    /// Sends a transaction from the dev account and waits for its receipt.
    pub async fn transact(&self, client: &reqwest::Client, tx: Value) -> Value {
        let hash = rpc(client, &self.url, "eth_sendTransaction", json!([tx])).await;
        let url = self.url.clone();
        wait_for("a transaction receipt", Duration::from_secs(20), Duration::from_millis(50), || {
            let (client, url, hash) = (client.clone(), url.clone(), hash.clone());
            async move {
                // Right after start geth may answer "transaction indexing is in progress".
                let r = rpc_raw(&client, &url, "eth_getTransactionReceipt", json!([hash])).await;
                r.get("result").filter(|r| !r.is_null()).cloned()
            }
        })
        .await
    }

    /// Deploys `init_code` and returns the contract address.
    pub async fn deploy(&self, client: &reqwest::Client, init_code: &[u8]) -> String {
        let receipt = self
            .transact(client, json!({"from": DEV, "data": format!("0x{}", hex::encode(init_code)), "gas": "0x100000"}))
            .await;
        assert_eq!(receipt["status"], json!("0x1"), "deploy failed: {receipt}");
        receipt["contractAddress"].as_str().expect("contractAddress").to_string()
    }
}

/// Path of a file in tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(name)
}

/// A running lpwatch binary with its config.
pub struct Lpwatch {
    pub proc: Proc,
    pub http: String,
    pub rpc: Option<String>,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Lpwatch {
    /// Starts lpwatch with `config` (TOML without [listen]: the ports are chosen here).
    pub async fn start(config: &str, with_rpc: bool, env: &[(&str, &str)]) -> Lpwatch {
        let dir = tempfile::tempdir().expect("tempdir");
        let http_port = free_port();
        let rpc_port = free_port();
        let listen = if with_rpc {
            format!("[listen]\nhttp = \"127.0.0.1:{http_port}\"\nrpc = \"127.0.0.1:{rpc_port}\"\n")
        } else {
            format!("[listen]\nhttp = \"127.0.0.1:{http_port}\"\nrpc = \"off\"\n")
        };
        let path = dir.path().join("lpwatch.toml");
        std::fs::write(&path, format!("{config}\n{listen}")).expect("write config");
        let log = dir.path().join("lpwatch.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lpwatch"));
        cmd.arg("--config")
            .arg(&path)
            .arg("--log=debug")
            .env_remove("LPWATCH_RPC_UPSTREAMS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn lpwatch");
        let w = Lpwatch {
            proc: Proc::new(child, "lpwatch").logging_to(log.clone()),
            http: format!("http://127.0.0.1:{http_port}"),
            rpc: with_rpc.then(|| format!("http://127.0.0.1:{rpc_port}")),
            _dir: dir,
            log,
        };
        let client = reqwest::Client::new();
        let url = format!("{}/healthz", w.http);
        let start = Instant::now();
        while client.get(&url).send().await.is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                panic!("lpwatch did not serve /healthz within 20s; log:\n{}", w.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        w
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/healthz`: (status code, JSON).
    pub async fn healthz(&self, client: &reqwest::Client) -> (u16, Value) {
        let r = client
            .get(format!("{}/healthz", self.http))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("GET /healthz");
        let code = r.status().as_u16();
        let bytes = r.bytes().await.expect("/healthz body");
        (code, serde_json::from_slice(&bytes).expect("/healthz JSON"))
    }

    /// `/metrics` text.
    pub async fn metrics(&self, client: &reqwest::Client) -> String {
        client
            .get(format!("{}/metrics", self.http))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Waits until `/healthz` answers 200.
    pub async fn wait_healthy(&self, client: &reqwest::Client, limit: Duration) -> (u16, Value) {
        let start = Instant::now();
        loop {
            let (code, body) = self.healthz(client).await;
            if code == 200 {
                return (code, body);
            }
            if start.elapsed() > limit {
                panic!(
                    "/healthz not 200 within {limit:?}: {}\nlpwatch log tail:\n{}",
                    serde_json::to_string_pretty(&body).unwrap_or_default(),
                    tail(&self.log(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `check` is in `state` (and returns the /healthz JSON then).
    pub async fn wait_check(
        &self,
        client: &reqwest::Client,
        check: &str,
        state: &str,
        limit: Duration,
    ) -> (u16, Value) {
        let start = Instant::now();
        loop {
            let (code, body) = self.healthz(client).await;
            if body["checks"][check]["state"] == json!(state) {
                return (code, body);
            }
            let last = body;
            if start.elapsed() > limit {
                panic!(
                    "check {check} not {state} within {limit:?}; last /healthz: {}\nlpwatch log tail:\n{}",
                    serde_json::to_string_pretty(&last).unwrap_or_default(),
                    tail(&self.log(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Polls `f` every 200 ms until it gives `Some`, for at most `secs` seconds.
pub async fn within<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "not within {secs}s: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The value of a metric line `name{labels} value` (exact series text before the space).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// Starts the livepeer stand-in as orchestrator + transcoder on free ports, with `-monitor`, on
/// `network` (on a chain network it makes its account in `dir`): the process, its CLI URL and
/// its service port.
pub fn start_standin(dir: &Path, network: &str) -> (Proc, String, u16) {
    let cli = free_port();
    let service = free_port();
    let log = std::fs::File::create(dir.join("livepeer.log")).expect("log");
    let child = Command::new(standin_path())
        .args(["-orchestrator", "-transcoder", "-network", network, "-monitor"])
        .args(if network == "offchain" { vec![] } else { vec!["-ethUrl", "http://127.0.0.1:1", "-ethPassword", "pw"] })
        .arg(format!("-cliAddr=127.0.0.1:{cli}"))
        .arg(format!("-serviceAddr=127.0.0.1:{service}"))
        .arg(format!("-httpAddr=127.0.0.1:{service}"))
        .arg("-dataDir")
        .arg(dir.join("lpdata"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn the livepeer stand-in");
    (Proc::new(child, "livepeer"), format!("http://127.0.0.1:{cli}"), service)
}
