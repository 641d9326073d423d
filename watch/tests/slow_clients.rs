//! Slow clients (slow-loris) on loopback: connections that trickle their request headers to the
//! status port, or their request body to the proxy, must delay neither `/healthz` (a load
//! balancer's probe) nor a normal proxied call: each answers within 1 s (the upstream here
//! answers at once).

mod common;

use common::fake::{self, good_upstream};
use common::Lpwatch;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Slow clients on each port.
const SLOW_CLIENTS: usize = 100;
const PING: &[u8] = br#"{"jsonrpc":"2.0","id":42,"method":"test_ping","params":[]}"#;

/// Until `until`, keeps a connection to `addr` open, sending `start` and then one byte of
/// `trickle` every 300 ms; reconnects when lpwatch closes it, as an attacker would.
async fn slow_client(addr: SocketAddr, start: Vec<u8>, until: Instant) {
    while Instant::now() < until {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if s.write_all(&start).await.is_err() {
            continue;
        }
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if s.write_all(b"x").await.is_err() {
                break;
            }
        }
    }
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().expect("loopback address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_delay_neither_healthz_nor_the_proxy() {
    let upstream = fake::start(good_upstream(1337, "good")).await;
    let config = format!(
        "network = \"devnet\"\nchain_id = 1337\n[[rpc.upstream]]\nname = \"good\"\nurl = \"{}\"\n",
        upstream.url
    );
    let w = Lpwatch::start(&config, true, &[]).await;
    let proxy = w.rpc.clone().expect("proxy");

    let until = Instant::now() + Duration::from_secs(20);
    let mut attackers = tokio::task::JoinSet::new();
    // On each port: headers trickled to the status port, a body trickled to the proxy.
    let body_head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{";
    for _ in 0..SLOW_CLIENTS {
        attackers.spawn(slow_client(addr(&w.http), b"GET /healthz HTTP/1.1\r\nHost: a\r\n".to_vec(), until));
        attackers.spawn(slow_client(addr(&proxy), body_head.to_vec(), until));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Fresh connections each time, as a load balancer's probe makes them.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let mut worst_healthz = Duration::ZERO;
    let mut worst_call = Duration::ZERO;
    for _ in 0..3 {
        let start = Instant::now();
        let r = client.get(format!("{}/healthz", w.http)).timeout(Duration::from_secs(30)).send().await;
        worst_healthz = worst_healthz.max(start.elapsed());
        assert!(r.is_ok(), "/healthz failed under slow clients: {r:?}");

        let start = Instant::now();
        let r = client
            .post(&proxy)
            .header("content-type", "application/json")
            .body(PING)
            .timeout(Duration::from_secs(40))
            .send()
            .await
            .and_then(|r| r.error_for_status());
        worst_call = worst_call.max(start.elapsed());
        let text = match r {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => format!("{e}"),
        };
        assert!(text.contains("ok:good"), "proxied call under slow clients: {text}");
    }
    eprintln!(
        "under {SLOW_CLIENTS} slow clients: worst /healthz {:.3}s, worst proxied call {:.3}s",
        worst_healthz.as_secs_f64(),
        worst_call.as_secs_f64()
    );
    attackers.abort_all();
    assert!(worst_healthz < Duration::from_secs(1), "/healthz took {worst_healthz:?}");
    assert!(worst_call < Duration::from_secs(1), "a proxied call took {worst_call:?}");
}
