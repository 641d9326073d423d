//! The `lpshare-collector` binary's edges: `--help` teaches the config file, and a config it
//! cannot run with is one message naming the file, the line or key and the fix, exit code 2,
//! never the RPC URL (it may hold an API key).

use std::process::{Command, Output};

fn collector(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lpshare-collector")).args(args).output().expect("run lpshare-collector")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_shows_the_config_file_and_the_checks() {
    let o = collector(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for needle in ["forward =", "rpc_url_file", "window =", "active set", "at least 3 orchestrators", "429"] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn a_config_it_cannot_run_with_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let o = collector(&[missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.toml") && stderr(&o).contains("fix:"), "{}", stderr(&o));

    let secret = "https://arb.example.org/v2/s3cr3tKEY";
    let cases = [
        (
            format!("forward = \"http://127.0.0.1:9090/api/v1/write\"\nrpc_url = \"{secret}\"\nnetwrk = \"x\"\n"),
            "line 3",
        ),
        (
            format!(
                "forward = \"http://127.0.0.1:9090/api/v1/write\"\nrpc_url = \"{secret}\"\nnetwork = \"nowhere\"\n"
            ),
            "network",
        ),
        (
            "forward = \"http://127.0.0.1:9090/api/v1/write\"\nnetwork = \"arbitrum-one-mainnet\"\n".to_string(),
            "rpc_url",
        ),
        (format!("forward = 7\nrpc_url = \"{secret}\"\n"), "line 1"),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("collector.toml");
        std::fs::write(&path, &text).unwrap();
        let o = collector(&[path.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains("collector.toml") && err.contains(expected), "{text}: {err}");
        assert!(!err.contains("s3cr3t"), "the RPC URL was quoted: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one message: {err}");
    }
}
