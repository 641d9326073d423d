//! `watch/bench/share.sh`'s measurement (`cargo bench -p lpwatch --bench share`), against a real
//! Prometheus and a real `geth --dev` with the stub Livepeer contracts. Two parts:
//!
//! 1. Pushes of shares sent straight to a Prometheus receiver and through the collector in front
//!    of the same Prometheus (rate limits, signatures and delegation, active set, replay,
//!    content, forward), side by side: p50/p99 latency of sequential pushes (interleaved, so
//!    drift hits both alike) and samples/s with concurrent pushers.
//! 2. Strangers: accepted pushes/s of `BENCH_REAL` orchestrators in the active set pushing
//!    alone for `BENCH_SECS`, then the same for as long while `BENCH_UNKNOWN` unknown accounts
//!    (each a fresh key with its own valid delegation, so every one costs two signature
//!    recoveries) push alongside, spread evenly over the phase; with the chain calls the
//!    collector made during each phase (only its background reads of the active set, never one
//!    per push). Exits non-zero when the second figure is below 80 % of the first.
//!
//! The collector runs with rate limits far above the pushes here: what is measured is the cost
//! of pushes that get past them (an attacker with addresses enough, orchestrators pushing flat
//! out); the limits themselves are tested in `tests/collect_refusals.rs`. Every collector push is
//! a share as a node makes it (real cell names, plausible values); every stream of pushes has an
//! orchestrator of its own, so that each series' samples arrive in order. Pushes are signed
//! before they are timed: signing is the node's cost. Loopback only, bounded.
//!
//! A `[[bench]]` target without harness (so that cargo builds the lpwatch binary beside it).
//! Env: LPBAKE_GETH or geth on PATH, prometheus on PATH, BENCH_PUSHES (sequential pushes per
//! path, default 1000), BENCH_CONCURRENCY (default 8), BENCH_LOAD_PUSHES (pushes per path under
//! load, default 4000), BENCH_REAL (default 100), BENCH_UNKNOWN (default 10000), BENCH_SECS
//! (length of each stranger phase, default 5), BENCH_REAL_MAX (pushes signed ahead per real
//! orchestrator and phase, default 300).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use common::collect::{address_of, delegated, now_ms, Collect};
use lpbake_keystore::SecretKey;
use lpwatch::share::geo::Place;
use lpwatch::share::proof::{Delegation, Reporter};
use lpwatch::share::remote_write;
use lpwatch::share::set::Series;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Series in every push: sessions and max sessions, and three cells of three series each.
const SAMPLES_PER_PUSH: usize = 11;

/// One share as a node makes it, sampled at `ts`: three real cells in Europe.
fn share(ts: i64) -> Vec<u8> {
    let mut series = vec![
        Series { name: "lpshare_sessions", place: None, value: 5.0 },
        Series { name: "lpshare_max_sessions", place: None, value: 10.0 },
    ];
    for cell in ["N50E010-5deg", "N45E000-5deg", "N40W005-5deg"] {
        let place = || Some(Place { cell: cell.into(), region: "europe".into() });
        series.push(Series { name: "lpshare_gateways", place: place(), value: 3.0 });
        series.push(Series { name: "lpshare_streams", place: place(), value: 5.0 });
        series.push(Series { name: "lpshare_pixels_per_second", place: place(), value: 1e6 });
    }
    remote_write::encode(&series, ts)
}

/// The same number of series straight to Prometheus, which adds no orchestrator label: every
/// series carries `tag` in its cell so that each stream of pushes has series of its own.
fn direct_share(tag: &str, ts: i64) -> Vec<u8> {
    let names = ["lpshare_sessions", "lpshare_max_sessions"];
    let mut series: Vec<Series> = names
        .iter()
        .map(|name| Series {
            name,
            place: Some(Place { cell: format!("{tag}-node"), region: "europe".into() }),
            value: 5.0,
        })
        .collect();
    for i in 0..3 {
        for name in ["lpshare_gateways", "lpshare_streams", "lpshare_pixels_per_second"] {
            let place = Some(Place { cell: format!("{tag}-{i}"), region: "europe".into() });
            series.push(Series { name, place, value: 3.0 });
        }
    }
    remote_write::encode(&series, ts)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() as f64) - 1.0) * p).round() as usize]
}

/// POSTs one push; the HTTP status, or why it got none.
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
) -> Result<u16, String> {
    let mut req = client.post(url).body(body);
    for (k, v) in remote_write::HEADERS {
        req = req.header(k, v);
    }
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    // Read the body whole so that the connection is reused.
    let text = resp.text().await.unwrap_or_default();
    if status >= 500 {
        return Err(format!("{url}: HTTP {status}: {text}"));
    }
    Ok(status)
}

/// POSTs one push that must be taken.
async fn post_ok(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
) -> Result<(), String> {
    match post(client, url, body, headers).await? {
        s if (200..300).contains(&s) => Ok(()),
        s => Err(format!("{url}: HTTP {s} for a push that should be taken")),
    }
}

type Push = (Vec<u8>, Vec<(&'static str, String)>);

/// A reporting key in `dir`.
fn reporter(dir: &std::path::Path, name: &str) -> Result<Reporter, String> {
    Reporter::load_or_create(&dir.join(name)).map_err(|e| e.to_string())
}

/// One push of `body` signed now (or at its sample time `ts`, if later).
fn sign(reporter: &Reporter, delegation: &Delegation, ts: i64, body: Vec<u8>) -> Push {
    let headers = reporter.sign(delegation, now_ms().max(ts), &body).to_vec();
    (body, headers)
}

/// An orchestrator in the active set, the reporting key it delegated, and the time of its next
/// sample (each later than the one before, so that Prometheus takes every one).
struct Node {
    reporter: Reporter,
    delegation: Delegation,
    next_ts: std::cell::Cell<i64>,
}

impl Node {
    fn new(dir: &std::path::Path, account: &SecretKey, i: usize) -> Result<Node, String> {
        let reporter = reporter(dir, &format!("reporter-{i}"))?;
        let delegation = delegated(account, &reporter);
        Ok(Node { reporter, delegation, next_ts: std::cell::Cell::new(0) })
    }

    /// `n` pushes signed now, samples 1 ms apart, each at or before its signature's time.
    fn pushes(&self, n: usize) -> Vec<Push> {
        let base = self.next_ts.get().max(now_ms() - n as i64);
        self.next_ts.set(base + n as i64);
        (0..n).map(|i| sign(&self.reporter, &self.delegation, base + i as i64, share(base + i as i64))).collect()
    }
}

/// `pushes` sent by one worker each to `url`; the time it took.
async fn load(client: &reqwest::Client, url: &str, pushes: Vec<Vec<Push>>) -> Result<Duration, String> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in pushes {
        let (client, url) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            for (body, headers) in worker {
                post_ok(&client, &url, body, &headers).await?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(start.elapsed())
}

/// One stranger phase's figures.
struct Phase {
    accepted: usize,
    secs: f64,
    ran_out: bool,
    chain_calls: f64,
    unknown_sent: usize,
    unknown_refused: usize,
    unknown_secs: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.accepted as f64 / self.secs
    }
}

/// The real orchestrators push their `real` pushes (one worker each) for `secs`, while the
/// `unknown` pushes are sent by `UNKNOWN_WORKERS` workers spread evenly over the same time.
async fn phase(c: &Collect, url: &str, real: Vec<Vec<Push>>, unknown: Vec<Push>, secs: u64) -> Result<Phase, String> {
    const UNKNOWN_WORKERS: usize = 64;
    let calls_before = c.chain_calls().await;
    let span = Duration::from_secs(secs);
    let client = reqwest::Client::builder().tcp_nodelay(true).build().map_err(|e| e.to_string())?;
    let hostile = reqwest::Client::builder().tcp_nodelay(true).build().map_err(|e| e.to_string())?;
    let (accepted, ran_out) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let start = Instant::now();
    let mut real_tasks = Vec::new();
    for worker in real {
        let (client, url, accepted, ran_out) = (client.clone(), url.to_string(), accepted.clone(), ran_out.clone());
        real_tasks.push(tokio::spawn(async move {
            let mut left = worker.into_iter();
            while start.elapsed() < span {
                let Some((body, headers)) = left.next() else {
                    ran_out.fetch_add(1, Ordering::Relaxed);
                    break;
                };
                post_ok(&client, &url, body, &headers).await?;
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    let total = unknown.len();
    let mut lanes: Vec<Vec<(usize, Push)>> = (0..UNKNOWN_WORKERS).map(|_| Vec::new()).collect();
    for (j, push) in unknown.into_iter().enumerate() {
        lanes[j % UNKNOWN_WORKERS].push((j, push));
    }
    let mut hostile_tasks = Vec::new();
    for lane in lanes.into_iter().filter(|l| !l.is_empty()) {
        let (client, url) = (hostile.clone(), url.to_string());
        hostile_tasks.push(tokio::spawn(async move {
            let mut refused = 0usize;
            for (j, (body, headers)) in lane {
                let at = start + span.mul_f64(j as f64 / total as f64);
                tokio::time::sleep_until(at.into()).await;
                if post(&client, &url, body, &headers).await? == 403 {
                    refused += 1;
                }
            }
            Ok::<usize, String>(refused)
        }));
    }
    for t in real_tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let secs = start.elapsed().as_secs_f64();
    let mut unknown_refused = 0;
    for t in hostile_tasks {
        unknown_refused += t.await.map_err(|e| e.to_string())??;
    }
    let unknown_secs = start.elapsed().as_secs_f64();
    Ok(Phase {
        accepted: accepted.load(Ordering::Relaxed),
        secs,
        ran_out: ran_out.load(Ordering::Relaxed) > 0,
        chain_calls: c.chain_calls().await - calls_before,
        unknown_sent: total,
        unknown_refused,
        unknown_secs,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let pushes = env_num("BENCH_PUSHES", 1000);
    let concurrency = env_num("BENCH_CONCURRENCY", 8).max(1);
    let load_pushes = env_num("BENCH_LOAD_PUSHES", 4000);
    let n_real = env_num("BENCH_REAL", 100).max(1);
    let n_unknown = env_num("BENCH_UNKNOWN", 10_000);
    let secs = env_num("BENCH_SECS", 5).max(1) as u64;
    let real_max = env_num("BENCH_REAL_MAX", 300).max(1);

    // The accounts in the active set: one for the sequential pushes, one per concurrent pusher,
    // and the real orchestrators of part 2.
    let accounts: Vec<SecretKey> = (0..1 + concurrency + n_real).map(|_| lpbake_keystore::random_key()).collect();
    let pool: Vec<String> = accounts.iter().map(address_of).collect();
    let limits = "max_pushes_per_source = { burst = 1000000000, per_second = 1000000000 }\n\
                  max_pushes_per_account = { burst = 1000000000, per_second = 1000000000 }\n";
    let c = Collect::start_with("10m", &pool, limits).await;
    let members = c.metric("lpcollect_active_orchestrators").await;
    if members != pool.len() as f64 {
        return Err(format!("the collector read {members} active orchestrators, not {}", pool.len()));
    }
    let direct = format!("http://127.0.0.1:{}/api/v1/write", c.prom_port);
    let collector = format!("{}/api/v1/write", c.url);
    let client = reqwest::Client::builder().tcp_nodelay(true).build().map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let nodes: Vec<Node> =
        accounts.iter().enumerate().map(|(i, a)| Node::new(dir.path(), a, i)).collect::<Result<_, _>>()?;
    let (seq_node, load_nodes, real_nodes) = (&nodes[0], &nodes[1..1 + concurrency], &nodes[1 + concurrency..]);

    // Part 1. Warm up both paths (connections, the delegation cache).
    let base = now_ms();
    for (i, (body, headers)) in seq_node.pushes(100).into_iter().enumerate() {
        post_ok(&client, &collector, body, &headers).await?;
        post_ok(&client, &direct, direct_share("warm-direct", base + i as i64), &[]).await?;
    }

    // Sequential, interleaved: each push to one path, then its twin to the other.
    let through = seq_node.pushes(pushes);
    let base = now_ms();
    let (mut d_lat, mut c_lat) = (Vec::with_capacity(pushes), Vec::with_capacity(pushes));
    for (i, (body, headers)) in through.into_iter().enumerate() {
        let twin = direct_share("seq-direct", base + i as i64);
        let first_direct = i % 2 == 0;
        for to_direct in [first_direct, !first_direct] {
            let t = Instant::now();
            if to_direct {
                post_ok(&client, &direct, twin.clone(), &[]).await?;
                d_lat.push(t.elapsed());
            } else {
                post_ok(&client, &collector, body.clone(), &headers).await?;
                c_lat.push(t.elapsed());
            }
        }
    }
    d_lat.sort();
    c_lat.sort();

    // Concurrent: each worker its own series (and orchestrator), so no sample arrives out of order.
    let per_worker = load_pushes / concurrency;
    let base = now_ms() - per_worker as i64;
    let direct_work: Vec<Vec<Push>> = (0..concurrency)
        .map(|w| {
            (0..per_worker).map(|i| (direct_share(&format!("load-direct-{w}"), base + i as i64), vec![])).collect()
        })
        .collect();
    let collect_work: Vec<Vec<Push>> = load_nodes.iter().map(|n| n.pushes(per_worker)).collect();
    let d_time = load(&client, &direct, direct_work).await?;
    let c_time = load(&client, &collector, collect_work).await?;
    let samples = (per_worker * concurrency * SAMPLES_PER_PUSH) as f64;
    let (d_rate, c_rate) = (samples / d_time.as_secs_f64(), samples / c_time.as_secs_f64());

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("share push bench ({pushes} sequential pushes per path, {SAMPLES_PER_PUSH} samples each; {concurrency} pushers x {per_worker} pushes):");
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

    // Part 2. Every real orchestrator pushes once first (connections, the delegation cache).
    let warm: Vec<Vec<Push>> = real_nodes.iter().map(|n| n.pushes(1)).collect();
    load(&client, &collector, warm).await?;
    let before = phase(&c, &collector, real_nodes.iter().map(|n| n.pushes(real_max)).collect(), vec![], secs).await?;
    // The strangers: each a fresh account that delegated a reporting key (one key per 100).
    let strangers: Vec<Reporter> = (0..n_unknown.div_ceil(100))
        .map(|i| reporter(dir.path(), &format!("stranger-{i}")))
        .collect::<Result<_, _>>()?;
    let unknown: Vec<Push> = (0..n_unknown)
        .map(|j| {
            let reporter = &strangers[j / 100];
            let ts = now_ms() - 1;
            sign(reporter, &delegated(&lpbake_keystore::random_key(), reporter), ts, share(ts))
        })
        .collect();
    let hostile = phase(&c, &collector, real_nodes.iter().map(|n| n.pushes(real_max)).collect(), unknown, secs).await?;
    let after = phase(&c, &collector, real_nodes.iter().map(|n| n.pushes(real_max)).collect(), vec![], secs).await?;
    // Alone before and after, so that drift (Prometheus growing) weighs on both sides alike.
    let clean_rate = (before.rate() + after.rate()) / 2.0;
    let ratio = hostile.rate() / clean_rate;
    let accepted = c.count("accepted").await;
    let not_registered = c.count("not_registered").await;

    println!(
        "strangers bench ({n_real} real orchestrators pushing for {secs} s alone, then with {n_unknown} unknown accounts pushing alongside (each a fresh key with its own delegation), then alone again):"
    );
    for (name, p) in [("real alone", &before), ("real with strangers", &hostile), ("real alone again", &after)] {
        println!(
            "  {name:<19} {:.0} accepted pushes/s ({} in {:.2} s)   chain calls during the phase: {}",
            p.rate(),
            p.accepted,
            p.secs,
            p.chain_calls
        );
    }
    println!(
        "  strangers           {} pushes, {} refused 403 not_registered, sent over {:.2} s ({:.0}/s)",
        hostile.unknown_sent,
        hostile.unknown_refused,
        hostile.unknown_secs,
        hostile.unknown_sent as f64 / hostile.unknown_secs
    );
    println!(
        "  ratio               {ratio:.2} (with strangers / alone, {clean_rate:.0} pushes/s on average; at least 0.80 expected)"
    );
    println!(
        "  collector totals    accepted {accepted}, not_registered {not_registered}, chain calls {}",
        c.chain_calls().await
    );
    if before.ran_out || hostile.ran_out || after.ran_out {
        println!("  note: a real orchestrator ran out of signed pushes before the phase ended: raise BENCH_REAL_MAX");
    }
    if hostile.unknown_refused != hostile.unknown_sent {
        return Err(format!(
            "{} of {} unknown accounts' pushes were not refused 403",
            hostile.unknown_sent - hostile.unknown_refused,
            hostile.unknown_sent
        ));
    }
    if ratio < 0.8 {
        return Err(format!(
            "with {n_unknown} unknown accounts pushing, the real orchestrators' throughput fell to {ratio:.2} of the clean figure (below 0.80)"
        ));
    }
    Ok(())
}
