//! Flags as the real binary takes them: Go syntax and errors (exit 2, message and usage on stdout),
//! `-version`, and the precedence command line > `LP_*` environment > `-config` file.

mod common;

use common::{free_port, get, run, wait_until, write_file, Node};
use std::time::Duration;

#[test]
fn unknown_flag_exits_2_with_gos_message_and_usage() {
    let ran = run(&["-nope"], &[]);
    assert_eq!(ran.code, Some(2));
    assert!(ran.stdout.starts_with("flag provided but not defined: -nope\nUsage of "), "{}", ran.stdout);
    assert!(ran.stdout.contains("\n  -orchestrator\n") && ran.stdout.contains("\n  -cliAddr string\n"));
}

#[test]
fn bad_values_exit_2_with_gos_messages() {
    let cases: [(&[&str], &str); 4] = [
        (&["-extraNodes", "many"], "invalid value \"many\" for flag -extraNodes: parse error"),
        (&["-orchestrator=maybe"], "invalid boolean value \"maybe\" for -orchestrator: parse error"),
        (&["-discoveryTimeout", "10"], "invalid value \"10\" for flag -discoveryTimeout: parse error"),
        (&["-cliAddr"], "flag needs an argument: -cliAddr"),
    ];
    for (args, message) in cases {
        let ran = run(args, &[]);
        assert_eq!(ran.code, Some(2), "{args:?}");
        assert_eq!(ran.stdout.lines().next(), Some(message), "{args:?}");
    }
}

#[test]
fn help_prints_usage_and_exits_0() {
    let ran = run(&["-h"], &[]);
    assert_eq!(ran.code, Some(0));
    assert!(ran.stdout.starts_with("Usage of "));
}

#[test]
fn version_ends_in_standin() {
    for args in [&["-version"][..], &["--version"], &["-version=true", "-network", "x"]] {
        let ran = run(args, &[]);
        assert_eq!(ran.code, Some(0), "{args:?}");
        let mut lines = ran.stdout.lines();
        assert_eq!(lines.next(), Some("Livepeer Node Version: 0.9.1-standin"));
        assert!(lines.next().unwrap().starts_with("Golang runtime version: "));
        assert!(lines.next().unwrap().starts_with("Architecture: "));
        assert_eq!(lines.next(), Some("Operating system: linux"));
    }
}

#[test]
fn parsing_stops_at_the_first_non_flag() {
    let ran = run(&["-version", "positional", "-nope"], &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.stdout);
    assert!(ran.stdout.starts_with("Livepeer Node Version: "));
    let ran = run(&["-version", "--", "-nope"], &[]);
    assert_eq!(ran.code, Some(0));
}

#[test]
fn env_values_are_checked_and_fatal() {
    let ran = run(&[], &[("LP_ORCHESTRATOR", "yes")]);
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains(
        "Error parsing config: error parsing env vars: error setting flag \"orchestrator\" from env var \"LP_ORCHESTRATOR\": parse error"
    ), "{}", ran.stderr);
}

#[test]
fn config_file_flags_are_checked_and_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_file(dir.path(), "lp.conf", "# a comment\n\ngateway\nnope 1\n");
    let ran = run(&["-config", &conf], &[]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("Error parsing config: config file flag \"nope\" not defined in flag set"),
        "{}",
        ran.stderr
    );

    let ran = run(&["-config", "/nonexistent/lp.conf"], &[]);
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("Error parsing config: open /nonexistent/lp.conf: no such file or directory"));
}

/// Which of the candidate CLI addresses the node ends up serving.
fn serving(node: &mut Node, candidates: &[&str]) -> String {
    let mut found = None;
    let up = wait_until(Duration::from_secs(10), || {
        found = candidates.iter().find(|a| get(a, "/status").is_some_and(|r| r.status == 200)).map(|a| a.to_string());
        found.is_some()
    });
    assert!(up, "no CLI answered; log:\n{}", node.log());
    found.unwrap()
}

#[test]
fn command_line_beats_env_beats_config_file() {
    let [from_file, from_env, from_args] = [0; 3].map(|_| format!("127.0.0.1:{}", free_port()));
    let (rtmp, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let dir = tempfile::tempdir().unwrap();
    let conf = write_file(
        dir.path(),
        "lp.conf",
        &format!("gateway\ncliAddr {from_file}  # trailing comment\nrtmpAddr {rtmp}\nhttpAddr {http}\n"),
    );
    let all = [from_file.as_str(), &from_env, &from_args];

    let mut node = Node::start(&["-config", &conf, "-cliAddr", &from_args], &[("LP_CLIADDR", &from_env)]);
    assert_eq!(serving(&mut node, &all), from_args);
    drop(node);

    let mut node = Node::start(&["-config", &conf], &[("LP_CLIADDR", &from_env)]);
    assert_eq!(serving(&mut node, &all), from_env);
    drop(node);

    let mut node = Node::start(&[], &[("LP_CONFIG", &conf)]);
    assert_eq!(serving(&mut node, &all), from_file);
}

#[test]
fn bool_flags_come_from_env_too() {
    let cli = format!("127.0.0.1:{}", free_port());
    let (rtmp, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let envs = [("LP_GATEWAY", "true"), ("LP_CLIADDR", cli.as_str()), ("LP_RTMPADDR", &rtmp), ("LP_HTTPADDR", &http)];
    let mut node = Node::start(&[], &envs);
    node.wait_ready(&cli);
    assert_eq!(get(&cli, "/IsOrchestrator").unwrap().body, "false");
    assert!(node.log().contains("Livepeer Running in Gateway Mode"));

    // The environment beats the file for bools as well: `LP_GATEWAY=false` leaves no role.
    let dir = tempfile::tempdir().unwrap();
    let conf = write_file(dir.path(), "lp.conf", "gateway true\n");
    let ran = run(&["-config", &conf], &[("LP_GATEWAY", "false")]);
    assert_eq!(ran.code, Some(2));
    assert!(ran.stderr.contains("No services enabled; must be at least one of -gateway"), "{}", ran.stderr);
}
