//! Is livepeer up: its CLI API answers `/status` with a version, and enough transcoders are
//! attached (local transcoding counts as one). Counts down-to-up transitions as restarts.

use crate::config::LivepeerCfg;
use crate::livepeer::{LivepeerCli, NodeStatus};
use crate::snapshot::{CheckResult, LivepeerFacts};
use std::time::Duration;

/// The livepeer check and what it remembers between passes.
#[derive(Debug, Default)]
pub struct LivepeerCheck {
    was_up: Option<bool>,
    restarts: u64,
}

/// Judges one `/status` answer.
pub fn evaluate(s: &NodeStatus, min_transcoders: u64) -> CheckResult {
    let attached = s.registered_transcoders + u64::from(s.local_transcoding);
    let what = format!(
        "livepeer {} up, {} transcoder(s) attached{}",
        s.version,
        s.registered_transcoders,
        if s.local_transcoding { " + local transcoding" } else { "" }
    );
    if attached < min_transcoders {
        CheckResult::degraded(format!("{what}; at least {min_transcoders} needed (livepeer.min_transcoders)"))
    } else {
        CheckResult::ok(what)
    }
}

impl LivepeerCheck {
    pub async fn run(
        &mut self,
        cli: &LivepeerCli,
        cfg: &LivepeerCfg,
        timeout: Duration,
    ) -> (CheckResult, LivepeerFacts) {
        let result = cli.status(timeout).await;
        let up = result.is_ok();
        if self.was_up == Some(false) && up {
            self.restarts += 1;
        }
        self.was_up = Some(up);
        match result {
            Ok(s) => {
                let verdict = evaluate(&s, cfg.min_transcoders);
                let facts = LivepeerFacts {
                    up: true,
                    version: Some(s.version),
                    transcoders: Some(s.registered_transcoders + u64::from(s.local_transcoding)),
                    restarts: self.restarts,
                };
                (verdict, facts)
            }
            Err(e) => (
                CheckResult::failing(format!("livepeer is down: {e}")),
                LivepeerFacts { up: false, restarts: self.restarts, ..Default::default() },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::State;

    #[test]
    fn transcoders_count() {
        let mut s = NodeStatus { version: "0.9.1".into(), local_transcoding: true, ..NodeStatus::default() };
        assert_eq!(evaluate(&s, 1).state, State::Ok);
        s.local_transcoding = false;
        assert_eq!(evaluate(&s, 1).state, State::Degraded);
        assert_eq!(evaluate(&s, 0).state, State::Ok);
        s.registered_transcoders = 2;
        assert_eq!(evaluate(&s, 2).state, State::Ok);
    }
}
