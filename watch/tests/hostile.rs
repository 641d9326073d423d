//! Hostile peers: upstreams and a livepeer CLI that hang, trickle, answer endlessly, answer
//! garbage, rate-limit or sit on the wrong chain. Everything must end in bounded time with a
//! clear state, and a request that reached an upstream must never be replayed to another.

mod common;

use common::fake::{self, good_upstream, Reply};
use common::{metric, Lpwatch};
use lpwatch::config::{Config, Overrides};
use lpwatch::livepeer::LivepeerCli;
use lpwatch::pool::{Forwarded, Pool};
use serde_json::json;
use std::time::{Duration, Instant};

const PING: &[u8] = br#"{"jsonrpc":"2.0","id":42,"method":"test_ping","params":[]}"#;

fn config(upstreams: &[&str]) -> Config {
    let mut t = String::from(
        "network = \"devnet\"\nchain_id = 1337\n[rpc]\nprobe_timeout = \"1s\"\nrequest_timeout = \"1s\"\nmax_response_bytes = 65536\n",
    );
    for u in upstreams {
        t.push_str(&format!("[[rpc.upstream]]\nurl = \"{u}\"\n"));
    }
    Config::from_toml(&t, &Overrides::default()).expect("config")
}

fn answer(f: Forwarded) -> (u16, String) {
    match f {
        Forwarded::Answer(r) => (r.status, String::from_utf8_lossy(&r.body).into_owned()),
        Forwarded::Failed { status, message } => (status, message),
    }
}

#[tokio::test]
async fn probes_give_every_bad_upstream_a_clear_reason_in_bounded_time() {
    let hang = fake::start(|_| Reply::Hang).await;
    let endless = fake::start(|_| Reply::Endless).await;
    let trickle = fake::start(|_| Reply::Trickle).await;
    let garbage = fake::start(|_| Reply::Full(200, "text/html", b"<html>nope".to_vec())).await;
    let wrong = fake::start(good_upstream(5, "wrong")).await;
    let good = fake::start(good_upstream(1337, "good")).await;
    let urls = [&hang.url, &endless.url, &trickle.url, &garbage.url, &wrong.url, &good.url];
    let cfg = config(&urls.map(String::as_str));
    let pool = Pool::new(&cfg).expect("pool");
    let start = Instant::now();
    pool.probe_all().await;
    assert!(start.elapsed() < Duration::from_secs(3), "probes took {:?}", start.elapsed());
    let reasons: Vec<_> = pool.upstreams.iter().map(|u| (u.health().up, u.health().reason)).collect();
    assert!(!reasons[0].0 && reasons[0].1.contains("timed out"), "{:?}", reasons[0]);
    assert!(!reasons[1].0 && reasons[1].1.contains("larger than"), "{:?}", reasons[1]);
    assert!(!reasons[2].0 && reasons[2].1.contains("timed out"), "{:?}", reasons[2]);
    assert!(!reasons[3].0 && reasons[3].1.contains("invalid JSON-RPC"), "{:?}", reasons[3]);
    assert!(!reasons[4].0 && reasons[4].1.contains("chain id 5"), "{:?}", reasons[4]);
    assert!(reasons[5].0, "{:?}", reasons[5]);
    // Healthy first; the wrong chain is never a candidate, not even as a last resort.
    assert_eq!(pool.candidates(), vec![5, 0, 1, 2, 3]);
}

#[tokio::test]
async fn a_request_that_reached_a_hanging_upstream_is_not_replayed() {
    let hang = fake::start(|_| Reply::Hang).await;
    let good = fake::start(good_upstream(1337, "good")).await;
    let pool = Pool::new(&config(&[&hang.url, &good.url])).expect("pool");
    let start = Instant::now();
    let (status, msg) = answer(pool.forward(PING.into()).await);
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(status, 504, "{msg}");
    assert!(msg.contains("not retried"), "{msg}");
    assert_eq!(hang.count("test_ping"), 1);
    assert_eq!(good.count("test_ping"), 0, "never replayed");
    // The hanging upstream is now marked down: the next request goes to the good one.
    let (status, body) = answer(pool.forward(PING.into()).await);
    assert_eq!((status, body.contains("ok:good")), (200, true), "{body}");
}

#[tokio::test]
async fn refused_connections_and_rate_limits_move_on_once() {
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let limited = fake::start(|_| {
        Reply::Full(
            429,
            "application/json",
            br#"{"jsonrpc":"2.0","id":42,"error":{"code":-32005,"message":"rate limited"}}"#.to_vec(),
        )
    })
    .await;
    let good = fake::start(good_upstream(1337, "good")).await;
    let pool = Pool::new(&config(&[&dead, &limited.url, &good.url])).expect("pool");
    let (status, body) = answer(pool.forward(PING.into()).await);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ok:good"));
    assert_eq!(limited.count("test_ping"), 1);
    assert_eq!(good.count("test_ping"), 1);
    let up = |i: usize| pool.upstreams[i].counted(lpwatch::upstream::Outcome::ConnectError);
    assert_eq!(up(0), 1);
    assert_eq!(pool.upstreams[1].counted(lpwatch::upstream::Outcome::RateLimited), 1);

    // Every upstream refusing: the client gets lpwatch's error with its own id.
    let pool = Pool::new(&config(&[&dead])).expect("pool");
    let (status, msg) = answer(pool.forward(PING.into()).await);
    assert_eq!(status, 502);
    assert!(msg.contains("no RPC upstream accepted"), "{msg}");
}

#[tokio::test]
async fn huge_and_trickling_answers_are_cut_off_and_not_replayed() {
    let endless = fake::start(|_| Reply::Endless).await;
    let trickle = fake::start(|_| Reply::Trickle).await;
    let good = fake::start(good_upstream(1337, "good")).await;
    for (bad, expect) in [(&endless, 502), (&trickle, 504)] {
        let pool = Pool::new(&config(&[&bad.url, &good.url])).expect("pool");
        let start = Instant::now();
        let (status, msg) = answer(pool.forward(PING.into()).await);
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
        assert_eq!(status, expect, "{msg}");
    }
    assert_eq!(good.count("test_ping"), 0);
}

#[tokio::test]
async fn a_hostile_livepeer_cli_gives_a_clear_error_in_bounded_time() {
    let t = Duration::from_millis(800);
    let cases: Vec<(fake::Fake, &str)> = vec![
        (fake::start(|_| Reply::Hang).await, "time"),
        (fake::start(|_| Reply::Endless).await, "larger than"),
        (fake::start(|_| Reply::Trickle).await, "time"),
        (fake::start(|_| Reply::Full(200, "application/json", b"{not json".to_vec())).await, "not NodeStatus JSON"),
        (fake::start(|_| Reply::json(json!({"Version": ""}))).await, "no Version"),
        (fake::start(|_| Reply::Full(500, "text/plain", b"missing ETH client".to_vec())).await, "HTTP 500"),
    ];
    for (f, want) in &cases {
        let cli = LivepeerCli::new(f.url.parse().expect("url")).expect("client");
        let start = Instant::now();
        let err = cli.status(t).await.expect_err("must fail").to_string();
        assert!(start.elapsed() < t + Duration::from_millis(500), "{want}: {:?}", start.elapsed());
        assert!(err.contains(want), "wanted {want:?} in {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_survives_hostile_peers_and_says_why() {
    let client = reqwest::Client::new();
    let cli = fake::start(|req| match req.path.as_str() {
        "/status" => Reply::Endless,
        "/metrics" => Reply::Trickle,
        _ => Reply::Full(200, "text/plain", b"\xff\xfe garbage".to_vec()),
    })
    .await;
    let hang = fake::start(|_| Reply::Hang).await;
    let wrong = fake::start(good_upstream(5, "wrong")).await;
    let config = format!(
        r#"
network = "devnet"
chain_id = 1337
[livepeer]
cli_url = "{}"
[[rpc.upstream]]
name = "hang"
url = "{}"
[[rpc.upstream]]
name = "wrong"
url = "{}"
[rpc]
probe_interval = "300ms"
probe_timeout = "500ms"
request_timeout = "1s"
max_request_bytes = 4096
[checks]
interval = "300ms"
timeout = "500ms"
"#,
        cli.url, hang.url, wrong.url
    );
    let w = Lpwatch::start(&config, true, &[]).await;
    let (code, body) = w.wait_check(&client, "chain_id", "failing", Duration::from_secs(10)).await;
    assert_eq!(code, 503);
    for check in ["livepeer", "reward", "eth_balance", "chain_head", "rpc"] {
        assert_eq!(body["checks"][check]["state"], json!("failing"), "{check}: {body:#}");
    }
    assert!(body["checks"]["chain_id"]["reason"].as_str().unwrap_or("").contains("chain 5"), "{body:#}");
    assert!(body["checks"]["livepeer"]["reason"].as_str().unwrap_or("").contains("larger than"), "{body:#}");
    assert!(body["checks"]["reward"]["reason"].as_str().unwrap_or("").contains("orchestrator address unknown"));

    // /metrics stays quick although livepeer's /metrics trickles.
    let start = Instant::now();
    let m = w.metrics(&client).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(metric(&m, "lpwatch_livepeer_metrics_relay_ok"), Some(0.0));
    assert_eq!(metric(&m, "lpwatch_healthy"), Some(0.0));

    // The proxy refuses oversized and non-POST requests without bothering an upstream.
    let proxy = w.rpc.clone().expect("proxy");
    let big = vec![b' '; 8192];
    let r = client.post(&proxy).body(big).send().await.expect("post");
    assert_eq!(r.status().as_u16(), 413);
    let r = client.get(&proxy).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 405);
    // A request to the only chain-correct (hanging) upstream fails in bounded time.
    let start = Instant::now();
    let r = client.post(&proxy).header("content-type", "application/json").body(PING).send().await.expect("post");
    assert!(start.elapsed() < Duration::from_secs(4));
    assert_eq!(r.status().as_u16(), 504);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json error body");
    assert_eq!(v["id"], json!(42));
    assert_eq!(wrong.count("test_ping"), 0, "the wrong chain never gets traffic");

    let mut p = w.proc;
    assert!(p.alive(), "lpwatch still running");
}
