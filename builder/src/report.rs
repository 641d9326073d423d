//! How a command talks to its operator: progress bars on a terminal, plain step lines
//! otherwise, nothing but errors with `--quiet`, and JSON lines with `--json`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Human,
    Quiet,
    Json,
}

/// Reports steps, warnings and progress of long work.
#[derive(Clone, Debug)]
pub struct Reporter {
    mode: Mode,
    tty: bool,
}

impl Reporter {
    pub fn new(mode: Mode) -> Self {
        Reporter { mode, tty: std::io::stderr().is_terminal() }
    }

    /// A step the operator may want to see ("fetching X", "layer Y cached").
    pub fn step(&self, msg: impl AsRef<str>) {
        match self.mode {
            Mode::Human => eprintln!("{}", msg.as_ref()),
            Mode::Json => self.event("step", msg.as_ref()),
            Mode::Quiet => {}
        }
    }

    /// Something the operator should act on; shown even with `--quiet`.
    pub fn warn(&self, msg: impl AsRef<str>) {
        match self.mode {
            Mode::Json => self.event("warning", msg.as_ref()),
            _ => eprintln!("warning: {}", msg.as_ref()),
        }
    }

    fn event(&self, kind: &str, msg: &str) {
        eprintln!("{}", serde_json::json!({ "event": kind, "message": msg }));
    }

    pub fn json(&self) -> bool {
        self.mode == Mode::Json
    }

    /// A byte progress bar (hidden unless on a terminal in human mode).
    pub fn bytes(&self, total: Option<u64>, msg: impl Into<String>) -> ProgressBar {
        if self.mode != Mode::Human || !self.tty {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let style = match total {
            Some(_) => "{msg:40!} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {wide_bar} {eta:>4}",
            None => "{msg:40!} {bytes:>10} {bytes_per_sec:>12} {spinner}",
        };
        bar.set_style(ProgressStyle::with_template(style).expect("valid template"));
        bar.set_message(msg.into());
        bar
    }
}
