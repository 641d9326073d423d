//! Standalone transcoders and their orchestrator: registration over the TLS service port with the shared
//! secret (literal or from a file), counting in `/status`, retry while the orchestrator is down, refusal of
//! a wrong secret (fatal to the registration loop, as upstream).

mod common;

use std::time::Duration;

use common::{free_port, status, wait_until, write_file, Node};

fn loopback() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn start_orchestrator(cli: &str, service: &str, secret: &str) -> Node {
    let args = ["-orchestrator", "-orchSecret", secret, "-cliAddr", cli, "-serviceAddr", service, "-httpAddr", service];
    let mut node = Node::start(&args, &[]);
    node.wait_ready(cli);
    node
}

fn start_transcoder(orch: &str, secret: &str, extra: &[&str]) -> Node {
    let cli = loopback();
    let mut args = vec!["-transcoder", "-orchAddr", orch, "-orchSecret", secret, "-cliAddr", &cli];
    args.extend_from_slice(extra);
    let mut node = Node::start(&args, &[]);
    node.wait_ready(&cli);
    node
}

fn registered(cli: &str) -> u64 {
    status(cli)["RegisteredTranscodersNumber"].as_u64().unwrap()
}

#[test]
fn registers_with_a_secret_file_and_unregisters_when_gone() {
    let (cli, service) = (loopback(), loopback());
    let _orch = start_orchestrator(&cli, &service, "s3cret");
    let dir = tempfile::tempdir().unwrap();
    let secret_file = write_file(dir.path(), "secret", "s3cret\n");
    let mut transcoder = start_transcoder(&service, &secret_file, &["-maxSessions", "3"]);

    assert!(wait_until(Duration::from_secs(10), || registered(&cli) == 1), "log:\n{}", transcoder.log());
    let s = status(&cli);
    assert_eq!(s["RegisteredTranscoders"][0]["Capacity"], 3);
    assert!(s["RegisteredTranscoders"][0]["Address"].as_str().unwrap().starts_with("127.0.0.1:"));

    transcoder.signal("TERM");
    assert_eq!(transcoder.wait_exit(Duration::from_secs(3)).and_then(|s| s.code()), Some(0));
    assert!(wait_until(Duration::from_secs(10), || registered(&cli) == 0), "the orchestrator should notice");
}

#[test]
fn wrong_secret_is_refused() {
    let (cli, service) = (loopback(), loopback());
    let orch = start_orchestrator(&cli, &service, "right");
    let transcoder = start_transcoder(&service, "wrong", &[]);
    let refused = wait_until(Duration::from_secs(10), || {
        transcoder.log().contains("Terminating transcoder because of Invalid secret")
    });
    assert!(refused, "log:\n{}", transcoder.log());
    assert!(transcoder.log().contains("Could not register transcoder to orchestrator Invalid secret"));
    assert!(orch.log().contains("Invalid secret"));
    assert_eq!(registered(&cli), 0);
}

#[test]
fn retries_until_the_orchestrator_is_up() {
    let (cli, service) = (loopback(), loopback());
    let transcoder = start_transcoder(&service, "s", &[]);
    let failed_once = wait_until(Duration::from_secs(10), || {
        transcoder.log().contains("Could not register transcoder to orchestrator")
    });
    assert!(failed_once, "log:\n{}", transcoder.log());
    let _orch = start_orchestrator(&cli, &service, "s");
    assert!(wait_until(Duration::from_secs(15), || registered(&cli) == 1), "log:\n{}", transcoder.log());
    assert!(transcoder.log().matches("Registering transcoder to").count() >= 2);
}
