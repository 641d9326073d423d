//! The lpwatch binary at its edges: `--help`, config errors, `--check-config` redaction, the
//! CLI API fallback for rounds and balance, and systemd `Type=notify` with watchdog pings.

mod common;

use common::fake::{self, good_upstream, Reply};
use common::{metric, Lpwatch, DEV};
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

fn lpwatch(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lpwatch"));
    c.args(args).env_remove("LPWATCH_RPC_UPSTREAMS");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run lpwatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_teaches_and_errors_are_clear() {
    let (code, out, _) = lpwatch(&["--help"], &[]);
    assert_eq!(code, 0);
    for want in ["/healthz", "-ethUrl", "LPWATCH_RPC_UPSTREAMS", "url_file", "--check-config", "WATCHDOG=1"] {
        assert!(out.contains(want), "--help lacks {want}:\n{out}");
    }
    // The collector is its own program: the node's binary carries no server it never runs.
    let (code, _, err) = lpwatch(&["collect", "/etc/collector.toml"], &[]);
    assert!(code == 2 && err.contains("unrecognized subcommand 'collect'"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[checks]\nintervall = \"5s\"\n").expect("write");
    let (code, _, err) = lpwatch(&["--config", bad.to_str().unwrap_or_default()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.toml") && err.contains("intervall") && err.contains("line"), "{err}");

    let (code, _, err) = lpwatch(&["--network", "devnet"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("chain_id"), "{err}");

    let (code, out, err) = lpwatch(
        &["--check-config", "--network", "arbitrum-one-mainnet"],
        &[("LPWATCH_RPC_UPSTREAMS", "https://arb.example/v2/SECRET-KEY,http://127.0.0.1:8545")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("chain_id = 42161"), "{out}");
    assert!(out.contains("https://arb.example"), "{out}");
    assert!(!out.contains("SECRET-KEY"), "secret leaked: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_and_balance_fall_back_to_the_cli_api() {
    let client = reqwest::Client::new();
    // The upstream answers, but every contract call and balance comes back malformed.
    let upstream = fake::start(good_upstream(1337, "not-hex")).await;
    let cli = fake::start(|req| match req.path.as_str() {
        "/status" => Reply::json(json!({"Version": "0.9.1", "RegisteredTranscodersNumber": 0, "LocalTranscoding": true})),
        "/currentRound" => Reply::Full(200, "text/plain", b"105".to_vec()),
        "/orchestratorInfo" => Reply::Full(
            200,
            "application/json",
            br#"{"Transcoder":{"LastRewardRound":104,"ActivationRound":1,"DeactivationRound":115792089237316195423570985008687907853269984665640564039457584007913129639935},"PriceInfo":null}"#.to_vec(),
        ),
        "/ethAddr" => Reply::Full(200, "text/plain", DEV.as_bytes().to_vec()),
        "/ethBalance" => Reply::Full(200, "text/plain", b"2000000000000000000".to_vec()),
        _ => Reply::Full(404, "text/plain", b"404 page not found".to_vec()),
    })
    .await;
    let config = format!(
        r#"
network = "devnet"
chain_id = 1337
[livepeer]
cli_url = "{}"
[contracts]
rounds_manager = "0x0000000000000000000000000000000000000001"
bonding_manager = "0x0000000000000000000000000000000000000002"
[[rpc.upstream]]
url = "{}"
[rpc]
probe_interval = "300ms"
[checks]
interval = "300ms"
timeout = "1s"
reward_grace = "0s"
min_eth_balance = "1"
"#,
        cli.url, upstream.url
    );
    let w = Lpwatch::start(&config, false, &[]).await;
    let (_, body) = w.wait_check(&client, "reward", "failing", Duration::from_secs(10)).await;
    assert_eq!(body["reward"]["source"], json!("livepeer_cli"), "{body:#}");
    assert_eq!(body["reward"]["orchestrator"], json!(DEV));
    let reason = body["checks"]["reward"]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("round 105") && reason.contains("CLI API"), "{reason}");
    let (_, body) = w.wait_check(&client, "eth_balance", "ok", Duration::from_secs(10)).await;
    assert_eq!(body["balance"]["source"], json!("livepeer_cli"), "{body:#}");
    let m = w.metrics(&client).await;
    assert_eq!(metric(&m, "lpwatch_reward_rounds_behind"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "lpwatch_eth_balance_eth"), Some(2.0));
    assert!(upstream.count("eth_call") >= 2, "tried the chain first");
    // lpwatch only ever reads from the CLI port.
    for path in ["/reward", "/bond", "/transferTokens", "/unbond"] {
        assert_eq!(cli.count(path), 0, "{path} must never be called");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_systemd_it_is_ready_and_pings_the_watchdog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let cli = fake::start(|_| Reply::json(json!({"Version": "0.9.1", "LocalTranscoding": true}))).await;
    let config =
        format!("network = \"offchain\"\n[livepeer]\ncli_url = \"{}\"\n[checks]\ninterval = \"200ms\"\n", cli.url);
    let path = sock_path.to_str().expect("utf-8 path").to_string();
    let _w = Lpwatch::start(&config, false, &[("NOTIFY_SOCKET", &path), ("WATCHDOG_USEC", "300000")]).await;
    let mut got = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) && !got.iter().any(|m: &String| m == "WATCHDOG=1") {
        let mut buf = [0u8; 512];
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert!(got.first().is_some_and(|m| m.starts_with("READY=1")), "{got:?}");
    assert!(got.iter().any(|m| m == "WATCHDOG=1"), "{got:?}");
}
