//! The spec reader under hostile input: credentials in source URLs, unbounded or special files
//! named `*.toml`, file names that would become paths outside the output, and runtime config
//! that exposes the livepeer CLI API or carries a secret. Each is refused at read time with an
//! error naming the file, line and key, and the fix.

use std::path::Path;

const TOOL: &str = r#"[component]
version = "1"
license = "MIT"
[component.source]
url = "https://example.org/tool.tar.gz"
[[component.install]]
from = "tool/bin/tool"
to = "/usr/local/bin/tool"
mode = 0o755
[image]
base = "scratch"
components = ["tool"]
user = "65532:65532"
entrypoint = ["/usr/local/bin/tool"]
cmd = ["-network", "offchain"]
ports = ["8935/tcp"]
[image.env]
HOME = "/var/lib/tool"
"#;

/// The error of loading a spec directory holding `files`, or the empty string if it loads.
fn load_err(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    load_dir(dir.path())
}

fn load_dir(dir: &Path) -> String {
    match lpbake::spec::load(dir) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// `TOOL` with `from` replaced by `to`, which must occur.
fn tool_with(from: &str, to: &str) -> String {
    assert!(TOOL.contains(from), "{from}");
    TOOL.replacen(from, to, 1)
}

#[test]
fn the_base_spec_loads() {
    assert_eq!(load_err(&[("tool.toml", TOOL)]), "");
}

#[test]
fn credentials_in_source_urls_are_refused() {
    for (line, from, to) in [
        (5, "https://example.org/tool.tar.gz", "https://user:token@example.org/tool.tar.gz"),
        (5, "https://example.org/tool.tar.gz", "https://example.org/tool.tar.gz?access_token=ghp_abc"),
        (5, "https://example.org/tool.tar.gz", "https://example.org/tool.tar.gz?X-Amz-Signature=abc"),
        (
            6,
            "url = \"https://example.org/tool.tar.gz\"",
            "url = \"https://example.org/tool.tar.gz\"\nchecksums = \"https://bot:pw@example.org/sums.txt\"",
        ),
    ] {
        let err = load_err(&[("tool.toml", &tool_with(from, to))]);
        assert!(err.contains(&format!("tool.toml:{line}")), "{to}: {err}");
        assert!(err.contains("component.source.") && err.contains("credential"), "{to}: {err}");
        assert!(err.contains("fix:"), "{err}");
        assert!(
            !err.contains("ghp_abc") && !err.contains(":pw@") && !err.contains(":token@"),
            "secret repeated: {err}"
        );
    }
}

#[test]
fn plain_http_to_a_remote_host_is_refused_at_read_time() {
    for url in ["http://example.org/tool.tar.gz", "http://127.0.0.1.example/tool.tar.gz"] {
        let err = load_err(&[("tool.toml", &tool_with("https://example.org/tool.tar.gz", url))]);
        assert!(err.contains("tool.toml:5") && err.contains("plain http"), "{url}: {err}");
    }
    let ok = tool_with("https://example.org/tool.tar.gz", "http://127.0.0.1:8080/tool.tar.gz");
    assert_eq!(load_err(&[("tool.toml", &ok)]), "");
}

/// Runs `f` on another thread and fails if it has not returned within 10 s (a FIFO read hangs).
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the spec read did not return within 10 s")
}

#[test]
fn special_files_named_toml_are_refused_without_reading() {
    // A link to /dev/zero: an endless read.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tool.toml"), TOOL).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.toml")).unwrap();
    let path = dir.path().to_path_buf();
    let err = within_10s(move || load_dir(&path));
    assert!(err.contains("zero.toml") && err.contains("not a regular file") && err.contains("fix:"), "{err}");

    // A FIFO: opening it waits for a writer.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tool.toml"), TOOL).unwrap();
    let fifo = dir.path().join("pipe.toml");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils) runs");
    assert!(status.success());
    let path = dir.path().to_path_buf();
    let err = within_10s(move || load_dir(&path));
    assert!(err.contains("pipe.toml") && err.contains("not a regular file"), "{err}");
}

#[test]
fn oversized_spec_files_are_refused() {
    let big = format!("{TOOL}\n# {}\n", "x".repeat(2 << 20));
    let err = load_err(&[("tool.toml", &big)]);
    assert!(err.contains("tool.toml") && err.contains("larger than") && err.contains("fix:"), "{err}");
}

#[test]
fn names_that_would_escape_the_output_are_refused() {
    for name in ["...toml", "a..b.toml", "Tool.toml", "-x.toml", "a b.toml"] {
        let err = load_err(&[("tool.toml", TOOL), (name, "")]);
        let stem = name.trim_end_matches(".toml");
        assert!(err.contains(&format!("`{stem}` is not a valid image or component name")), "{name}: {err}");
        assert!(err.contains("rename the file"), "{name}: {err}");
    }
}

#[test]
fn the_livepeer_cli_port_is_never_exposed() {
    for (line, from, to) in [
        (16, "ports = [\"8935/tcp\"]", "ports = [\"8935/tcp\", \"7935/tcp\"]"),
        (16, "ports = [\"8935/tcp\"]", "ports = [\"7935/udp\"]"),
        (
            15,
            "cmd = [\"-network\", \"offchain\"]",
            "cmd = [\"-network\", \"offchain\", \"-cliAddr\", \"0.0.0.0:7935\"]",
        ),
        (15, "cmd = [\"-network\", \"offchain\"]", "cmd = [\"-cliAddr=:7935\"]"),
        (18, "HOME = \"/var/lib/tool\"", "LP_CLIADDR = \"0.0.0.0:7935\""),
        (
            16,
            "cmd = [\"-network\", \"offchain\"]\nports = [\"8935/tcp\"]",
            "cmd = [\"-cliAddr\", \"127.0.0.1:9000\"]\nports = [\"9000/tcp\"]",
        ),
    ] {
        let err = load_err(&[("tool.toml", &tool_with(from, to))]);
        assert!(err.contains(&format!("tool.toml:{line}")), "{to}: {err}");
        assert!(err.contains("CLI API") && err.contains("fix:"), "{to}: {err}");
    }
    let ok = tool_with("cmd = [\"-network\", \"offchain\"]", "cmd = [\"-cliAddr\", \"127.0.0.1:7935\"]");
    assert_eq!(load_err(&[("tool.toml", &ok)]), "");
}

#[test]
fn secrets_in_env_and_argv_are_refused() {
    for (line, from, to) in [
        (18, "HOME = \"/var/lib/tool\"", "ETH_PASSWORD = \"hunter2\""),
        (18, "HOME = \"/var/lib/tool\"", "LP_ETHPASSWORD = \"hunter2\""),
        (18, "HOME = \"/var/lib/tool\"", "RPC_API_TOKEN = \"hunter2\""),
        (15, "cmd = [\"-network\", \"offchain\"]", "cmd = [\"-ethPassword\", \"hunter2\"]"),
        (15, "cmd = [\"-network\", \"offchain\"]", "cmd = [\"-orchSecret=hunter2\"]"),
        (
            14,
            "entrypoint = [\"/usr/local/bin/tool\"]",
            "entrypoint = [\"/usr/local/bin/tool\", \"-ethPassword\", \"hunter2\"]",
        ),
    ] {
        let err = load_err(&[("tool.toml", &tool_with(from, to))]);
        assert!(err.contains(&format!("tool.toml:{line}")), "{to}: {err}");
        assert!(err.contains("credential file") || err.contains("image.credentials"), "{to}: {err}");
        assert!(!err.contains("hunter2"), "the refusal must not repeat the secret: {err}");
    }
    let ok = tool_with(
        "cmd = [\"-network\", \"offchain\"]",
        "cmd = [\"-ethPassword\", \"/run/credentials/tool.service/eth-password\", \"-orchSecret\", \"/run/secrets/orch-secret\"]",
    );
    assert_eq!(load_err(&[("tool.toml", &ok)]), "");
}
