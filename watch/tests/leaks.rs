//! Upstream URLs carry API keys (in the path, the query or the user info, as hosted RPC
//! providers do). Whatever goes wrong with an upstream, the key must reach no person and no
//! client: not `/healthz`, not `/metrics`, not a log line, not a JSON-RPC error body, not a
//! check reason. Upstreams are named by their label only.

mod common;

use common::fake::{self, Reply};
use common::{free_port, Lpwatch};
use lpwatch::config::{Config, Overrides};
use lpwatch::pool::{Forwarded, Pool};
use serde_json::json;
use std::time::Duration;

const SECRET: &str = "SECRETKEY";
const PING: &[u8] = br#"{"jsonrpc":"2.0","id":42,"method":"test_ping","params":[]}"#;

/// One upstream for each way a request fails: refused connection (key in the path), closed
/// without an answer (key in the query), answer cut off (key in the user info).
struct Upstreams {
    urls: [String; 3],
    _fakes: [fake::Fake; 2],
}

async fn upstreams() -> Upstreams {
    let closes = fake::start(|_| Reply::Close).await;
    let cuts = fake::start(|_| Reply::Cut).await;
    let urls = [
        format!("http://127.0.0.1:{}/v2/{SECRET}", free_port()),
        format!("{}/rpc?apikey={SECRET}", closes.url),
        format!("http://user:{SECRET}@{}/", cuts.url.trim_start_matches("http://")),
    ];
    Upstreams { urls, _fakes: [closes, cuts] }
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "the API key leaked into {what}:\n{text}");
}

fn config(upstreams: &[&str]) -> String {
    let mut t = String::from(
        "network = \"devnet\"\nchain_id = 1337\n[rpc]\nprobe_interval = \"300ms\"\nprobe_timeout = \"1s\"\nrequest_timeout = \"1s\"\n",
    );
    for (i, u) in upstreams.iter().enumerate() {
        t.push_str(&format!("[[rpc.upstream]]\nname = \"up{i}\"\nurl = \"{u}\"\n"));
    }
    t
}

#[tokio::test]
async fn pool_errors_name_upstreams_by_label_only() {
    let ups = upstreams().await;
    for url in &ups.urls {
        let cfg = Config::from_toml(&config(&[url]), &Overrides::default()).expect("config");
        let pool = Pool::new(&cfg).expect("pool");
        let message = match pool.forward(PING.into()).await {
            Forwarded::Answer(r) => String::from_utf8_lossy(&r.body).into_owned(),
            Forwarded::Failed { message, .. } => message,
        };
        assert!(message.contains("up0"), "the upstream is named by its label: {message}");
        assert_no_secret("a proxied request's error", &message);
        let err = pool.call("eth_blockNumber", json!([]), Duration::from_secs(1)).await.expect_err("must fail");
        assert_no_secret("a check's read error", &err.to_string());
        pool.probe_all().await;
        assert_no_secret("a probe reason", &pool.upstreams[0].health().reason);
        assert_no_secret("the pool's debug form", &format!("{pool:?}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_never_shows_an_upstream_key() {
    let client = reqwest::Client::new();
    let ups = upstreams().await;
    let [a, b, c] = &ups.urls;
    let w = Lpwatch::start(&config(&[a, b, c]), true, &[]).await;
    let (_, body) = w.wait_check(&client, "rpc", "failing", Duration::from_secs(10)).await;
    let healthz = body.to_string();
    assert!(healthz.contains("up0") && healthz.contains("up2"), "{healthz}");
    assert_no_secret("/healthz", &healthz);
    assert_no_secret("/metrics", &w.metrics(&client).await);

    let proxy = w.rpc.clone().expect("proxy");
    let r = client.post(&proxy).header("content-type", "application/json").body(PING).send().await.expect("post");
    let status = r.status().as_u16();
    let text = r.text().await.expect("error body");
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("up1"), "{text}");
    assert_no_secret("a JSON-RPC error body", &text);

    // A few more probe rounds, then the whole log (debug level).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let log = w.log();
    assert!(log.contains("up0"), "{log}");
    assert_no_secret("the log", &log);
}
