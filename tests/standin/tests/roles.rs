//! Roles and their default listen addresses, checked inside a private network namespace (`unshare -rn`)
//! so the real default ports are free and nothing else on the machine is touched; plus the role refusals.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::{command, free_port, run, wait_until, Node, BIN};

/// Listening TCP sockets of `pid`'s network namespace, as `host:port` with `*` for every interface.
fn listening(pid: u32) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 4 || fields[3] != "0A" {
                continue;
            }
            let (ip, port) = fields[1].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            let host = match (v6, ip) {
                (false, "00000000") | (true, "00000000000000000000000000000000") => "*".to_string(),
                (false, hex) => {
                    let b = u32::from_str_radix(hex, 16).unwrap().to_le_bytes();
                    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
                }
                (true, hex) => format!("[{hex}]"),
            };
            found.insert(format!("{host}:{port}"));
        }
    }
    found
}

/// Starts the stand-in with `args` in a new network namespace and checks it listens on exactly `expected`.
fn assert_listens(args: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let mut all = vec!["-rn", BIN, "-dataDir", &data];
    all.extend_from_slice(args);
    let mut node = Node::spawn_in(dir, command("unshare", &all), &[]);
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    let mut seen = BTreeSet::new();
    let ok = wait_until(Duration::from_secs(10), || {
        seen = listening(node.child.id());
        seen == expected
    });
    let exited = node.child.try_wait().unwrap();
    assert!(ok, "{args:?}: listening on {seen:?}, expected {expected:?} (exit: {exited:?}); log:\n{}", node.log());
}

#[test]
fn default_addresses_per_role() {
    let unshare = Command::new("unshare").args(["-rn", "true"]).status();
    assert!(
        unshare.is_ok_and(|s| s.success()),
        "this test needs `unshare -rn` (util-linux) and user/network namespaces to bind the default ports privately"
    );
    assert_listens(&["-orchestrator", "-transcoder"], &["127.0.0.1:7935", "*:8935"]);
    assert_listens(&["-orchestrator", "-orchSecret", "s"], &["127.0.0.1:7935", "*:8935"]);
    assert_listens(
        &["-orchestrator", "-transcoder", "-serviceAddr", "203.0.113.7:18935"],
        &["127.0.0.1:7935", "*:18935"],
    );
    assert_listens(&["-transcoder", "-orchSecret", "s", "-orchAddr", "127.0.0.1:8935"], &["127.0.0.1:6935"]);
    assert_listens(&["-gateway"], &["127.0.0.1:1935", "127.0.0.1:5935", "127.0.0.1:9935"]);
    assert_listens(&["-broadcaster"], &["127.0.0.1:1935", "127.0.0.1:5935", "127.0.0.1:9935"]);
    assert_listens(
        &["-gateway", "-cliAddr", ":15935", "-httpAddr", "0.0.0.0", "-rtmpAddr", "127.0.0.1:11935"],
        &["*:9935", "127.0.0.1:11935", "127.0.0.1:15935"],
    );
}

#[test]
fn no_role_exits_2() {
    let ran = run(&[], &[]);
    assert_eq!(ran.code, Some(2));
    assert!(ran.stderr.contains(
        "No services enabled; must be at least one of -gateway, -transcoder, -aiWorker, -orchestrator, -redeemer, -reward or -initializeRound"
    ), "{}", ran.stderr);
}

#[test]
fn role_prerequisites_are_enforced() {
    let cli = format!("127.0.0.1:{}", free_port());
    let cases: [(&[&str], &str); 4] = [
        (&["-orchestrator"], "Running an orchestrator requires an -orchSecret for standalone mode or -transcoder for orchestrator+transcoder mode"),
        (&["-transcoder", "-orchSecret", "s", "-cliAddr", &cli], "Missing -orchAddr"),
        (&["-transcoder", "-orchAddr", "127.0.0.1:1", "-cliAddr", &cli], "Missing -orchSecret"),
        (&["-gateway", "-maxSessions", "0"], "-maxSessions must be 'auto' or greater than zero"),
    ];
    for (args, message) in cases {
        let ran = run(args, &[]);
        assert_eq!(ran.code, Some(1), "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(message), "{args:?}: {}", ran.stderr);
    }
    let ran = run(&["-gateway", "-network", "arbitrum-one-mainnet"], &[]);
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("Need to specify an Ethereum node JSON-RPC URL using -ethUrl"));
}
