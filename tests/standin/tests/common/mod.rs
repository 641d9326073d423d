//! Helpers for the stand-in's integration tests: run the built `livepeer` on loopback ports, wait with bounds,
//! and speak just enough HTTP. Every wait is bounded; every spawned node is killed when dropped.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_livepeer");

#[path = "../../../support/free_port.rs"]
mod free_port;
pub use free_port::free_port;

/// Polls `check` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `livepeer` command with no `LP_*` variable inherited from the test environment.
pub fn command(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("LP_") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// The result of a short run: exit code, stdout, stderr.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `livepeer` with `args` and `envs` to completion (killed after 10 s).
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::spawn_in(dir, command(BIN, args), envs);
    let status = node.wait_exit(Duration::from_secs(10)).expect("livepeer should exit within 10 s");
    Ran { code: status.code(), stdout: node.stdout(), stderr: node.log() }
}

/// A running process whose stdout and stderr go to files; killed on drop.
pub struct Node {
    pub child: Child,
    pub dir: tempfile::TempDir,
}

impl Node {
    /// Starts `livepeer` with `args` plus `-dataDir` in a fresh temporary directory.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data").display().to_string();
        let mut all: Vec<&str> = vec!["-dataDir", &data_dir];
        all.extend_from_slice(args);
        Node::spawn_in(dir, command(BIN, &all), envs)
    }

    /// Starts `cmd` with its output captured in `dir`.
    pub fn spawn_in(dir: tempfile::TempDir, mut cmd: Command, envs: &[(&str, &str)]) -> Node {
        let out = std::fs::File::create(dir.path().join("stdout")).unwrap();
        let err = std::fs::File::create(dir.path().join("stderr")).unwrap();
        // A private HOME, so a default `~/.lpData/<network>` lands in the temporary directory.
        cmd.env("HOME", dir.path()).envs(envs.iter().copied()).stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().expect("spawn");
        Node { child, dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Everything the process wrote to stderr (its glog lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("stderr")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.path("stdout")).unwrap_or_default()
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status
    }

    /// Sends a signal (by name, e.g. "TERM") to this process only.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(ok.success(), "kill -{name} failed");
    }

    /// Waits until `GET /status` answers on `cli`, failing the test with the node's log if it does not.
    pub fn wait_ready(&mut self, cli: &str) {
        let ready = wait_until(Duration::from_secs(10), || get(cli, "/status").is_some_and(|r| r.status == 200));
        if !ready {
            let exited = self.child.try_wait().unwrap();
            panic!("node not ready on {cli} (exit: {exited:?}); log:\n{}", self.log());
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response, as far as the tests need it.
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// `GET path` on `addr` over plain HTTP; `None` if nothing answers.
pub fn get(addr: &str, path: &str) -> Option<Reply> {
    let mut tcp = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Reply { status, headers: head.to_string(), body: body.to_string() })
}

/// `POST path` on `addr` with a form body and extra header lines; the status and the raw body.
pub fn post_form(addr: &str, path: &str, headers: &str, form: &str) -> Option<(u16, Vec<u8>)> {
    let mut tcp = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        tcp,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .ok()?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = std::str::from_utf8(&raw[..split]).ok()?.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, raw[split + 4..].to_vec()))
}

/// `GET /status` as JSON.
pub fn status(cli: &str) -> serde_json::Value {
    let reply = get(cli, "/status").expect("status answers");
    assert_eq!(reply.status, 200);
    serde_json::from_str(&reply.body).expect("status is JSON")
}

/// Writes `content` to `name` in `dir` and returns the path as a string.
pub fn write_file(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}
