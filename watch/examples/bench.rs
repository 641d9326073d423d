//! `watch/bench/run.sh`'s measurement: JSON-RPC latency direct to a `geth --dev` vs through the
//! lpwatch proxy (p50/p99 and their ratio), then lpwatch's peak RSS under concurrent load.
//! Loopback only, bounded in requests and time; prints one summary block.
//!
//! Env: LPBAKE_GETH (else `geth` on PATH or ~/.cache/lpbake-deps/bin/geth), LPWATCH_BIN
//! (else target/release/lpwatch), BENCH_REQUESTS (sequential requests per path, default 3000),
//! BENCH_CONCURRENCY (default 16), BENCH_LOAD_SECS (default 10).

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn find_geth() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("LPBAKE_GETH") {
        return Ok(PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cache/lpbake-deps/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("geth"))
        .find(|p| p.is_file())
        .ok_or_else(|| "geth not found: run `make deps` or set LPBAKE_GETH".into())
}

#[path = "../../tests/support/free_port.rs"]
mod free_port;
use free_port::free_port;

async fn call(client: &reqwest::Client, url: &str, body: &str) -> Result<(), String> {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let bytes = r.bytes().await.map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if !status.is_success() || v.get("result").is_none() {
        return Err(format!("bad answer {status}: {v}"));
    }
    Ok(())
}

async fn wait_up(client: &reqwest::Client, url: &str, what: &str) -> Result<(), String> {
    let start = Instant::now();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    while call(client, url, body).await.is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("{what} did not answer within 30s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let requests = env_num("BENCH_REQUESTS", 3000) as usize;
    let concurrency = env_num("BENCH_CONCURRENCY", 16) as usize;
    let load_secs = env_num("BENCH_LOAD_SECS", 10);
    let lpwatch_bin = std::env::var("LPWATCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/lpwatch"));
    let dir = std::env::temp_dir().join(format!("lpwatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;

    let geth_port = free_port();
    let geth = Killed(
        Command::new(find_geth()?)
            .args(["--dev", "--http", "--http.addr", "127.0.0.1", "--http.api", "eth,net,web3"])
            .arg(format!("--http.port={geth_port}"))
            .args(["--ipcdisable", "--nodiscover", "--maxpeers=0", "--port=0", "--authrpc.port=0", "--verbosity=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn geth: {e}"))?,
    );
    let direct = format!("http://127.0.0.1:{geth_port}");
    let client =
        reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(64).build().map_err(|e| e.to_string())?;
    wait_up(&client, &direct, "geth").await?;

    let (http_port, rpc_port) = (free_port(), free_port());
    let cfg = dir.join("lpwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "network = \"devnet\"\nchain_id = 1337\n[listen]\nhttp = \"127.0.0.1:{http_port}\"\nrpc = \"127.0.0.1:{rpc_port}\"\n\
             [livepeer]\ncli_url = \"http://127.0.0.1:9\"\norchestrator_address = \"0x000000000000000000000000000000000000dEaD\"\n\
             [[rpc.upstream]]\nurl = \"{direct}\"\n[rpc]\nmax_concurrent = 64\n[checks]\nmax_head_age = \"1d\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let lpwatch = Killed(
        Command::new(&lpwatch_bin)
            .arg("--config")
            .arg(&cfg)
            .args(["--log", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("spawn {}: {e} (build it: cargo build --release -p lpwatch)", lpwatch_bin.display())
            })?,
    );
    let pid = lpwatch.0.id();
    let proxy = format!("http://127.0.0.1:{rpc_port}");
    wait_up(&client, &proxy, "lpwatch proxy").await?;

    let accounts: Value = {
        let r = client
            .post(&direct)
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"eth_accounts","params":[]}"#)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&r.bytes().await.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?
    };
    let dev = accounts["result"][0].as_str().unwrap_or("0x000000000000000000000000000000000000dead").to_string();
    // What livepeer asks most: block numbers, balances, latest blocks, contract reads.
    let mix: Vec<String> = [
        json!({"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}),
        json!({"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":[dev, "latest"]}),
        json!({"jsonrpc":"2.0","id":3,"method":"eth_getBlockByNumber","params":["latest", false]}),
        json!({"jsonrpc":"2.0","id":4,"method":"eth_call","params":[{"to": dev, "data": lpwatch::abi::current_round_call()}, "latest"]}),
    ]
    .iter()
    .map(|v| v.to_string())
    .collect();

    // Warm up both paths (connections, caches).
    for i in 0..200 {
        call(&client, &direct, &mix[i % mix.len()]).await?;
        call(&client, &proxy, &mix[i % mix.len()]).await?;
    }
    // Interleave so drift (CPU frequency, geth caches) hits both paths alike.
    let mut d_lat = Vec::with_capacity(requests);
    let mut p_lat = Vec::with_capacity(requests);
    for i in 0..requests {
        let body = &mix[i % mix.len()];
        let (first, second) = if i % 2 == 0 { (&direct, &proxy) } else { (&proxy, &direct) };
        for url in [first, second] {
            let t = Instant::now();
            call(&client, url, body).await?;
            if url == &direct {
                d_lat.push(t.elapsed());
            } else {
                p_lat.push(t.elapsed());
            }
        }
    }
    d_lat.sort();
    p_lat.sort();
    let (d50, d99, p50, p99) = (pct(&d_lat, 0.5), pct(&d_lat, 0.99), pct(&p_lat, 0.5), pct(&p_lat, 0.99));
    let rss_idle = rss_kib(pid, "VmRSS:").unwrap_or(0);

    // Load: `concurrency` clients through the proxy for `load_secs`, sampling RSS.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let load_start = Instant::now();
    for w in 0..concurrency {
        let (client, proxy, mix) = (client.clone(), proxy.clone(), mix.clone());
        let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                match call(&client, &proxy, &mix[i % mix.len()]).await {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
                i += 1;
            }
        }));
    }
    let mut rss_peak = rss_idle;
    while load_start.elapsed() < Duration::from_secs(load_secs) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        rss_peak = rss_peak.max(rss_kib(pid, "VmRSS:").unwrap_or(0));
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = load_start.elapsed().as_secs_f64();
    let hwm = rss_kib(pid, "VmHWM:").unwrap_or(rss_peak);
    let n = done.load(Ordering::Relaxed);

    let r50 = p50.as_secs_f64() / d50.as_secs_f64();
    let r99 = p99.as_secs_f64() / d99.as_secs_f64();
    println!("lpwatch proxy bench (loopback, geth --dev, {requests} sequential requests per path, mixed methods)");
    println!("  direct to geth   p50 {:8.1} us   p99 {:8.1} us", us(d50), us(d99));
    println!("  through lpwatch  p50 {:8.1} us   p99 {:8.1} us", us(p50), us(p99));
    println!(
        "  overhead ratio   p50 {r50:.3}x   p99 {r99:.3}x   (target p50 < 1.10x)   added p50 {:.1} us",
        us(p50) - us(d50)
    );
    println!(
        "  load: {concurrency} concurrent clients, {n} requests in {elapsed:.1}s ({:.0} req/s), {} failed",
        n as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
    println!(
        "  lpwatch RSS: idle {:.1} MiB, peak under load {:.1} MiB (VmHWM {:.1} MiB; target < 30 MiB)",
        rss_idle as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    drop(lpwatch);
    drop(geth);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
