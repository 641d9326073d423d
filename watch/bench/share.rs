//! `watch/bench/share.sh`'s measurement (`cargo bench -p lpwatch --bench share`): remote-write pushes of shares sent straight to a
//! Prometheus receiver and through `lpwatch collect` in front of the same Prometheus (verify
//! signatures and delegation, replay and chain check, allowlist, forward), side by side: p50/p99
//! latency of sequential pushes (interleaved, so drift hits both alike) and samples/s with
//! concurrent pushers. Pushes are signed before they are timed: signing is the node's cost.
//! Loopback only, bounded.
//!
//! A `[[bench]]` target without harness (so that cargo builds the lpwatch binary beside it).
//! Env: LPBAKE_GETH or geth on PATH, prometheus on PATH, BENCH_PUSHES (sequential pushes per
//! path, default 1000), BENCH_CONCURRENCY (default 8), BENCH_LOAD_PUSHES (pushes per path under
//! load, default 4000).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use common::collect::{delegated, now_ms, Collect};
use lpwatch::share::geo::Place;
use lpwatch::share::proof::Reporter;
use lpwatch::share::remote_write;
use lpwatch::share::set::Series;
use std::time::{Duration, Instant};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One share of 9 series (three cells named from `cells`), sampled at `ts`. Every stream of
/// pushes has cells of its own, so that each series' samples arrive in order.
fn share(cells: &str, ts: i64) -> (Vec<u8>, usize) {
    let mut series = Vec::new();
    for name in ["lpshare_gateways", "lpshare_streams", "lpshare_pixels_per_second"] {
        for i in 0..3 {
            let place = Some(Place { cell: format!("{cells}{i}"), region: "europe".into() });
            series.push(Series { name, place, value: 3.0 });
        }
    }
    (remote_write::encode(&series, ts), series.len())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() as f64) - 1.0) * p).round() as usize]
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
) -> Result<(), String> {
    let mut req = client.post(url).body(body);
    for (k, v) in remote_write::HEADERS {
        req = req.header(k, v);
    }
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {status}: {}", resp.text().await.unwrap_or_default()))
    }
}

type Push = (Vec<u8>, Vec<(&'static str, String)>);

/// Pushes made ahead: `n` shares for cells starting `cell`, timestamps 1 ms apart, each signed.
fn signed_pushes(
    reporter: &Reporter,
    delegation: &lpwatch::share::proof::Delegation,
    cell: &str,
    n: usize,
) -> Vec<Push> {
    let base = now_ms() - n as i64;
    (0..n)
        .map(|i| {
            let (body, _) = share(cell, base + i as i64);
            let headers = reporter.sign(delegation, now_ms(), &body).to_vec();
            (body, headers)
        })
        .collect()
}

/// `pushes` sent by `concurrency` workers to `url`; the time it took.
async fn load(client: &reqwest::Client, url: &str, pushes: Vec<Vec<Push>>) -> Result<Duration, String> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in pushes {
        let (client, url) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            for (body, headers) in worker {
                post(&client, &url, body, &headers).await?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(start.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let pushes = env_num("BENCH_PUSHES", 1000);
    let concurrency = env_num("BENCH_CONCURRENCY", 8);
    let load_pushes = env_num("BENCH_LOAD_PUSHES", 4000);
    let c = Collect::start("10m").await;
    let direct = format!("http://127.0.0.1:{}/api/v1/write", c.prom_port);
    let collector = format!("{}/api/v1/write", c.url);
    let client = reqwest::Client::builder().tcp_nodelay(true).build().map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let reporter = Reporter::load_or_create(&dir.path().join("key")).map_err(|e| e.to_string())?;
    let delegation = delegated(&lpbake_keystore::random_key(), &reporter);
    let samples_per_push = share("x", 0).1;

    // Warm up both paths (connections, the collector's chain cache).
    let base = now_ms();
    for (i, (body, headers)) in signed_pushes(&reporter, &delegation, "warm", 100).into_iter().enumerate() {
        post(&client, &collector, body.clone(), &headers).await?;
        let (direct_body, _) = share("warm-direct", base + i as i64);
        post(&client, &direct, direct_body, &[]).await?;
    }

    // Sequential, interleaved: each push to one path, then its twin to the other.
    let through = signed_pushes(&reporter, &delegation, "seq", pushes);
    let base = now_ms();
    let (mut d_lat, mut c_lat) = (Vec::with_capacity(pushes), Vec::with_capacity(pushes));
    for (i, (body, headers)) in through.into_iter().enumerate() {
        let (twin, _) = share("seq-direct", base + i as i64);
        let first_direct = i % 2 == 0;
        for to_direct in [first_direct, !first_direct] {
            let t = Instant::now();
            if to_direct {
                post(&client, &direct, twin.clone(), &[]).await?;
                d_lat.push(t.elapsed());
            } else {
                post(&client, &collector, body.clone(), &headers).await?;
                c_lat.push(t.elapsed());
            }
        }
    }
    d_lat.sort();
    c_lat.sort();

    // Concurrent: each worker its own series, so no sample arrives out of order.
    let per_worker = load_pushes / concurrency;
    let base = now_ms() - per_worker as i64;
    let direct_work: Vec<Vec<Push>> = (0..concurrency)
        .map(|w| (0..per_worker).map(|i| (share(&format!("load-direct-{w}-"), base + i as i64).0, vec![])).collect())
        .collect();
    let collect_work: Vec<Vec<Push>> =
        (0..concurrency).map(|w| signed_pushes(&reporter, &delegation, &format!("load-{w}-"), per_worker)).collect();
    let d_time = load(&client, &direct, direct_work).await?;
    let c_time = load(&client, &collector, collect_work).await?;
    let samples = (per_worker * concurrency * samples_per_push) as f64;
    let (d_rate, c_rate) = (samples / d_time.as_secs_f64(), samples / c_time.as_secs_f64());
    let accepted = c.count("accepted").await;

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("share push bench ({pushes} sequential pushes per path, {samples_per_push} samples each; {concurrency} pushers x {per_worker} pushes):");
    println!(
        "  p50 latency   direct {:.3} ms   collector {:.3} ms   ratio {:.2}",
        ms(pct(&d_lat, 0.5)),
        ms(pct(&c_lat, 0.5)),
        ms(pct(&c_lat, 0.5)) / ms(pct(&d_lat, 0.5))
    );
    println!(
        "  p99 latency   direct {:.3} ms   collector {:.3} ms   ratio {:.2}",
        ms(pct(&d_lat, 0.99)),
        ms(pct(&c_lat, 0.99)),
        ms(pct(&c_lat, 0.99)) / ms(pct(&d_lat, 0.99))
    );
    println!(
        "  throughput    direct {d_rate:.0} samples/s   collector {c_rate:.0} samples/s   ratio {:.2}",
        c_rate / d_rate
    );
    println!("  accepted by the collector: {accepted}");
    Ok(())
}
