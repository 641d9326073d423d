//! A binary under test run as a child that can neither hang a test nor eat the machine: its
//! address space is capped (`prlimit --as`, util-linux) and it is killed after a deadline. For
//! refusals that must come at once: a regression (a read waiting for a FIFO's writer, or one
//! that never ends) fails the test with a message saying so, instead of hanging CI or filling
//! memory; [`refused`] says what such a refusal must look like. Included by path into each
//! crate's tests (`#[path = ".../tests/support/capped_child.rs"]`).

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The most address space the child may map: plenty for a refusal, a few seconds of an
/// endless read.
pub const ADDRESS_SPACE: u64 = 4 << 30;
/// How long the child may run before it is killed and the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// `program` run through `prlimit --as=ADDRESS_SPACE`, stdin closed; add its arguments and
/// environment, then [`run`] it.
pub fn capped(program: &Path) -> Command {
    let mut c = Command::new("prlimit");
    c.arg(format!("--as={ADDRESS_SPACE}")).arg("--").arg(program).stdin(Stdio::null());
    c
}

/// How a capped child ended.
pub struct Ended {
    pub status: ExitStatus,
    /// Its stdout, then its stderr.
    pub output: String,
    pub took: Duration,
}

/// Runs `cmd` (from [`capped`]) to its end; kills it and fails the test if it runs past [`DEADLINE`].
pub fn run(cmd: &mut Command) -> Ended {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run prlimit (util-linux): {e}; run `make deps`"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let said = stderr.join().unwrap_or_default();
            panic!("{cmd:?} still ran after {DEADLINE:?} (a read waited on a FIFO or never ended); killed it. stderr:\n{said}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = start.elapsed();
    let output = format!("{}{}", stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    Ended { status, output, took }
}

/// Makes a FIFO at `path` with coreutils' `mkfifo`.
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("cannot run mkfifo (coreutils): {e}; run `make deps`"));
    assert!(status.success(), "mkfifo {} failed", path.display());
}

/// A refusal takes well under this (the deadline that kills a hung child is longer).
pub const PROMPT: Duration = Duration::from_secs(10);

/// Asserts that `ended` is a prompt refusal: a failure, one error with its fix, naming `file`
/// and saying `also`.
pub fn refused(ended: &Ended, file: &Path, also: &str) {
    let text = &ended.output;
    assert!(!ended.status.success(), "should have failed:\n{text}");
    assert!(ended.took < PROMPT, "took {:?}:\n{text}", ended.took);
    assert_eq!(text.matches("fix:").count(), 1, "one error with its fix:\n{text}");
    assert!(text.contains(&file.display().to_string()), "does not name {}:\n{text}", file.display());
    assert!(text.contains(also), "does not say {also:?}:\n{text}");
}
