//! What one pass of the check loop found: a state and reason per check plus the numbers behind
//! them. `/healthz` and `/metrics` only ever read the latest snapshot.

use crate::checks::CheckName;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

/// A check's verdict. Only `Ok` counts as healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ok,
    Degraded,
    Failing,
}

impl State {
    /// The gauge value: 0 ok, 1 degraded, 2 failing.
    pub fn level(self) -> u8 {
        self as u8
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Degraded => "degraded",
            State::Failing => "failing",
        }
    }
}

/// One check's verdict and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    pub state: State,
    pub reason: String,
}

impl CheckResult {
    pub fn ok(reason: impl Into<String>) -> Self {
        CheckResult { state: State::Ok, reason: reason.into() }
    }
    pub fn degraded(reason: impl Into<String>) -> Self {
        CheckResult { state: State::Degraded, reason: reason.into() }
    }
    pub fn failing(reason: impl Into<String>) -> Self {
        CheckResult { state: State::Failing, reason: reason.into() }
    }

    /// The result of a check that needs the orchestrator's address when nobody knows it.
    pub fn address_unknown() -> Self {
        CheckResult::failing(
            "orchestrator address unknown: set livepeer.orchestrator_address, or make livepeer's CLI /ethAddr answer",
        )
    }
}

/// Numbers from the livepeer check.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LivepeerFacts {
    pub up: bool,
    pub version: Option<String>,
    pub transcoders: Option<u64>,
    pub restarts: u64,
}

/// Numbers from the reward check.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RewardFacts {
    pub orchestrator: Option<String>,
    pub current_round: Option<u64>,
    pub last_reward_round: Option<u64>,
    pub rounds_behind: Option<u64>,
    pub behind_seconds: Option<f64>,
    pub active: Option<bool>,
    /// `chain` or `livepeer_cli`.
    pub source: Option<&'static str>,
}

/// Numbers from the balance check.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BalanceFacts {
    pub wei: Option<String>,
    pub eth: Option<f64>,
    pub source: Option<&'static str>,
}

/// Numbers from the chain checks.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChainFacts {
    pub head_number: Option<u64>,
    pub head_timestamp: Option<u64>,
    pub head_age_seconds: Option<f64>,
    pub syncing: Option<bool>,
    pub chain_id: Option<u64>,
}

/// Everything one pass of the loop found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    /// Passes completed since start (0: nothing checked yet).
    pub iteration: u64,
    /// Unix time the pass ended.
    pub completed_at: f64,
    pub loop_seconds: f64,
    pub checks: BTreeMap<CheckName, CheckResult>,
    pub livepeer: LivepeerFacts,
    pub reward: RewardFacts,
    pub balance: BalanceFacts,
    pub chain: ChainFacts,
}

impl Snapshot {
    /// Every critical check that runs is ok (and at least one pass has completed).
    pub fn healthy(&self, critical: &BTreeSet<CheckName>) -> bool {
        self.iteration > 0 && critical.iter().all(|c| self.checks.get(c).is_none_or(|r| r.state == State::Ok))
    }
}

/// The latest snapshot, shared by the loop (writer) and the HTTP server (readers).
#[derive(Debug, Default)]
pub struct Board {
    latest: RwLock<Snapshot>,
}

impl Board {
    pub fn publish(&self, s: Snapshot) {
        if let Ok(mut g) = self.latest.write() {
            *g = s;
        }
    }
    pub fn latest(&self) -> Snapshot {
        self.latest.read().map(|g| g.clone()).unwrap_or_default()
    }
}
