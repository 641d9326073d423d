//! RPC failover through the lpwatch proxy with two real `geth --dev` upstreams sharing the dev
//! account: transactions go to the first; killing it moves traffic to the second within 5 s,
//! and the nonces on both chains prove no transaction was lost or sent twice.

mod common;

use common::{metric, rpc, rpc_raw, wait_for, Geth, Lpwatch, DEV};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

async fn nonce(client: &reqwest::Client, url: &str) -> u64 {
    let v = rpc(client, url, "eth_getTransactionCount", json!([DEV, "pending"])).await;
    u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap_or(u64::MAX)
}

/// An lpwatch config proxying to `upstreams` (name, url) in order, with fast probes and checks;
/// `checks_extra` is appended to the [checks] table.
fn proxy_config(upstreams: &[(&str, &str)], checks_extra: &str) -> String {
    let ups: String =
        upstreams.iter().map(|(name, url)| format!("[[rpc.upstream]]\nname = \"{name}\"\nurl = \"{url}\"\n")).collect();
    format!(
        "network = \"devnet\"\nchain_id = 1337\n[livepeer]\ncli_url = \"http://127.0.0.1:9\"\n\
         orchestrator_address = \"{DEV}\"\n{ups}[rpc]\nprobe_interval = \"300ms\"\nprobe_timeout = \"1s\"\n\
         [checks]\ninterval = \"500ms\"\ntimeout = \"1s\"{checks_extra}\n"
    )
}

/// A transfer with a unique value, so every transaction (and hash) is distinct across chains.
fn tx(value: u64) -> Value {
    json!([{"from": DEV, "to": "0x000000000000000000000000000000000000dEaD",
            "value": format!("0x{value:x}"), "gas": "0x5208"}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_active_upstream_moves_traffic_without_loss_or_duplicates() {
    let client = reqwest::Client::new();
    let (a, b) = tokio::join!(Geth::start(1), Geth::start(1));
    let mut a = a;
    let config = proxy_config(&[("a", &a.url), ("b", &b.url)], "\nmax_head_age = \"10s\"");
    let w = Lpwatch::start(&config, true, &[]).await;
    let proxy = w.rpc.clone().expect("proxy url");

    wait_for("both upstreams up", Duration::from_secs(15), Duration::from_millis(100), || {
        let (client, w) = (client.clone(), &w);
        async move {
            let m = w.metrics(&client).await;
            (metric(&m, r#"lpwatch_rpc_upstream_up{upstream="a"}"#) == Some(1.0)
                && metric(&m, r#"lpwatch_rpc_upstream_up{upstream="b"}"#) == Some(1.0))
            .then_some(())
        }
    })
    .await;

    // Phase 1: everything goes to a.
    const N: u64 = 20;
    let mut hashes = HashSet::new();
    for i in 0..N {
        let v = rpc_raw(&client, &proxy, "eth_sendTransaction", tx(i + 1)).await;
        let h = v["result"].as_str().unwrap_or_else(|| panic!("tx {i} via proxy failed: {v}"));
        assert!(hashes.insert(h.to_string()), "duplicate hash {h}");
    }
    assert_eq!(nonce(&client, &a.url).await, N, "a got every phase-1 transaction once");
    assert_eq!(nonce(&client, &b.url).await, 0, "b got none");

    // Kill a between requests; every later request must land on b, once.
    a.proc.kill();
    let killed = Instant::now();
    // Let the kernel's FIN reach lpwatch's idle keep-alive connection to a, as it would between
    // two requests in real life (a request written into a dying socket is, rightly, not replayed).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut first_on_b = None;
    for i in 0..N {
        let v = rpc_raw(&client, &proxy, "eth_sendTransaction", tx(N + i + 1)).await;
        let h = v["result"]
            .as_str()
            .unwrap_or_else(|| panic!("tx {i} after the kill failed: {v}\n{}", common::tail(&w.log(), 30)));
        assert!(hashes.insert(h.to_string()), "duplicate hash {h}");
        first_on_b.get_or_insert_with(|| killed.elapsed());
    }
    let moved = first_on_b.expect("some request after the kill");
    assert!(moved < Duration::from_secs(5), "traffic moved after {moved:?}");
    assert_eq!(nonce(&client, &b.url).await, N, "b got every phase-2 transaction exactly once");
    assert_eq!(hashes.len() as u64, 2 * N);

    let m = w.metrics(&client).await;
    let ok = |u: &str| metric(&m, &format!(r#"lpwatch_rpc_requests_total{{upstream="{u}",result="ok"}}"#));
    assert_eq!(ok("a"), Some(N as f64), "{m}");
    assert_eq!(ok("b"), Some(N as f64), "{m}");
    assert_eq!(metric(&m, "lpwatch_rpc_failovers_total"), Some(1.0), "{m}");
    assert_eq!(metric(&m, r#"lpwatch_rpc_upstream_active{upstream="b"}"#), Some(1.0));
    for r in ["timeout", "error", "too_large"] {
        let v = metric(&m, &format!(r#"lpwatch_rpc_requests_total{{upstream="a",result="{r}"}}"#));
        assert_eq!(v, Some(0.0), "a {r}: nothing was sent and lost");
    }

    // The probes notice too, and the rpc check says so.
    let (_, body) = w.wait_check(&client, "rpc", "degraded", Duration::from_secs(5)).await;
    assert_eq!(body["rpc"]["active"], json!("b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_upstream_is_skipped() {
    let client = reqwest::Client::new();
    let geth = Geth::start(1).await;
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let config = proxy_config(&[("dead", &dead), ("geth", &geth.url)], "");
    let w = Lpwatch::start(&config, true, &[]).await;
    let proxy = w.rpc.clone().expect("proxy url");
    for i in 0..5 {
        let v = rpc_raw(&client, &proxy, "eth_sendTransaction", tx(i + 1)).await;
        assert!(v["result"].is_string(), "{v}");
    }
    assert_eq!(nonce(&client, &geth.url).await, 5);
    let m = w.metrics(&client).await;
    assert_eq!(metric(&m, r#"lpwatch_rpc_upstream_up{upstream="dead"}"#), Some(0.0));
    assert_eq!(metric(&m, r#"lpwatch_rpc_requests_total{upstream="geth",result="ok"}"#), Some(5.0));
    assert_eq!(metric(&m, r#"lpwatch_rpc_upstream_active{upstream="geth"}"#), Some(1.0));
}
