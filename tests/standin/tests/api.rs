//! The CLI HTTP API: `/status` in go-livepeer's shape, off-chain answers of the chain endpoints,
//! `/metrics` only with `-monitor`, the gateway's `/healthz`, and a prompt exit 0 on SIGTERM/SIGINT.

mod common;

use std::time::{Duration, Instant};

use common::{free_port, get, status, Node};

fn loopback() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn orchestrator(extra: &[&str]) -> (Node, String, String) {
    let (cli, service) = (loopback(), loopback());
    let mut args = vec!["-orchestrator", "-cliAddr", &cli, "-serviceAddr", &service, "-httpAddr", &service];
    args.extend_from_slice(extra);
    let mut node = Node::start(&args, &[]);
    node.wait_ready(&cli);
    (node, cli, service)
}

#[test]
fn status_has_go_livepeers_fields_in_order() {
    let (_node, cli, _) = orchestrator(&["-transcoder"]);
    let reply = get(&cli, "/status").unwrap();
    assert!(reply.headers.contains("Content-Type: application/json"));
    let keys = [
        "Manifests",
        "InternalManifests",
        "StreamInfo",
        "OrchestratorPool",
        "OrchestratorPoolInfos",
        "Version",
        "GolangRuntimeVersion",
        "GOArch",
        "GOOS",
        "RegisteredTranscodersNumber",
        "RegisteredTranscoders",
        "LocalTranscoding",
        "BroadcasterPrices",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| reply.body.find(&format!("\"{k}\":")).expect(k)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", reply.body);

    let s = status(&cli);
    assert!(s["Version"].as_str().unwrap().ends_with("-standin"));
    assert_eq!(s["GOOS"], "linux");
    assert_eq!(s["LocalTranscoding"], true);
    assert_eq!(s["RegisteredTranscodersNumber"], 0);
    assert_eq!(s["RegisteredTranscoders"], serde_json::json!([]));
    assert_eq!(s["OrchestratorPool"], serde_json::json!([]));
    assert_eq!(get(&cli, "/IsOrchestrator").unwrap().body, "true");
}

#[test]
fn chain_endpoints_answer_like_an_offchain_node() {
    let (_node, cli, _) = orchestrator(&["-orchSecret", "s"]);
    for path in ["/orchestratorInfo", "/currentRound", "/ethAddr", "/ethBalance", "/tokenBalance", "/signMessage"] {
        let reply = get(&cli, path).unwrap();
        assert_eq!((reply.status, reply.body.as_str()), (500, "missing ETH client\n"), "{path}");
        assert!(reply.headers.contains("Content-Type: text/plain; charset=utf-8"));
    }
    let reply = get(&cli, "/nothing").unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (404, "404 page not found\n"));
    assert_eq!(status(&cli)["LocalTranscoding"], false);
}

#[test]
fn metrics_only_with_monitor() {
    let (_node, cli, _) = orchestrator(&["-orchSecret", "s"]);
    assert_eq!(get(&cli, "/metrics").unwrap().status, 404);

    let (_node, cli, _) = orchestrator(&["-orchSecret", "s", "-monitor", "-maxSessions", "12"]);
    let reply = get(&cli, "/metrics").unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.headers.contains("Content-Type: text/plain; version=0.0.4"));
    for line in [
        "# TYPE livepeer_transcoders_number gauge",
        "livepeer_transcoders_number{node_id=",
        "livepeer_transcoders_capacity{",
        "livepeer_current_sessions_total{",
        "livepeer_versions{compiler=\"gc\"",
    ] {
        assert!(reply.body.contains(line), "missing {line:?} in\n{}", reply.body);
    }
    assert!(reply
        .body
        .lines()
        .any(|l| l.starts_with("livepeer_max_sessions_total{") && l.ends_with(",node_type=\"orch\"} 12")));
}

#[test]
fn gateway_reports_its_orchestrators_and_health() {
    let (cli, http, rtmp, orch) = (loopback(), loopback(), loopback(), loopback());
    let mut node =
        Node::start(&["-gateway", "-cliAddr", &cli, "-httpAddr", &http, "-rtmpAddr", &rtmp, "-orchAddr", &orch], &[]);
    node.wait_ready(&cli);
    let s = status(&cli);
    assert_eq!(s["OrchestratorPool"], serde_json::json!([format!("https://{orch}")]));
    assert_eq!(s["OrchestratorPoolInfos"][0]["Url"], format!("https://{orch}"));
    assert_eq!(s["LocalTranscoding"], true);
    let health = get(&http, "/healthz").unwrap();
    assert_eq!((health.status, health.body.as_str()), (200, ""));
}

#[test]
fn sigterm_and_sigint_exit_0_promptly() {
    for signal in ["TERM", "INT"] {
        let (mut node, _, _) = orchestrator(&["-transcoder"]);
        let sent = Instant::now();
        node.signal(signal);
        let status = node.wait_exit(Duration::from_secs(3)).expect("exits within 3 s");
        assert_eq!(status.code(), Some(0), "SIG{signal}");
        assert!(sent.elapsed() < Duration::from_secs(3));
        assert!(node.log().contains("Exiting Livepeer: "));
    }
}
