//! Is the chain view fresh and the right one: the latest block's age and `eth_syncing` (head
//! check), and the chain id every upstream reported to the probes (chain id check).

use crate::clock::age_of;
use crate::jsonrpc::{quantity_u64, truncate};
use crate::pool::Pool;
use crate::snapshot::{ChainFacts, CheckResult};
use serde_json::{json, Value};
use std::time::Duration;

/// The head check and the last head it saw (its age keeps growing while no upstream answers).
#[derive(Debug, Default)]
pub struct HeadCheck {
    last: Option<(u64, u64)>,
}

/// Judges a head of age `age` seconds.
pub fn evaluate_head(number: u64, age: f64, syncing: bool, max_age: Duration) -> CheckResult {
    if age > max_age.as_secs_f64() {
        CheckResult::failing(format!(
            "chain head #{number} is {age:.0}s old, above checks.max_head_age {}s: the RPC node is stale or stopped",
            max_age.as_secs()
        ))
    } else if syncing {
        CheckResult::degraded(format!("the RPC node is syncing (head #{number}, {age:.0}s old)"))
    } else {
        CheckResult::ok(format!("chain head #{number}, {age:.0}s old"))
    }
}

impl HeadCheck {
    pub async fn run(&mut self, pool: &Pool, max_age: Duration, timeout: Duration) -> (CheckResult, ChainFacts) {
        let (block, syncing) = tokio::join!(
            pool.call("eth_getBlockByNumber", json!(["latest", false]), timeout),
            pool.call("eth_syncing", json!([]), timeout)
        );
        let head = block.map_err(|e| e.to_string()).and_then(|b| {
            let n = quantity_u64(b.get("number").unwrap_or(&Value::Null)).map_err(|e| e.to_string())?;
            let t = quantity_u64(b.get("timestamp").unwrap_or(&Value::Null)).map_err(|e| e.to_string())?;
            Ok((n, t))
        });
        match head {
            Ok((n, t)) => {
                // Keep the newest head seen: a lagging fallback upstream must not move it back.
                if self.last.is_none_or(|(ln, _)| n >= ln) {
                    self.last = Some((n, t));
                }
                let syncing = syncing.map(|v| v != Value::Bool(false)).unwrap_or(false);
                let age = age_of(t);
                (
                    evaluate_head(n, age, syncing, max_age),
                    ChainFacts {
                        head_number: Some(n),
                        head_timestamp: Some(t),
                        head_age_seconds: Some(age),
                        syncing: Some(syncing),
                        chain_id: None,
                    },
                )
            }
            Err(e) => {
                let e = truncate(&e, 300);
                match self.last {
                    Some((n, t)) => {
                        let age = age_of(t);
                        let mut v = evaluate_head(n, age, false, max_age);
                        if v.state == crate::snapshot::State::Ok {
                            v = CheckResult::degraded(format!(
                                "cannot read the chain head ({e}); last head #{n} is {age:.0}s old"
                            ));
                        } else {
                            v.reason = format!("{}; cannot read the chain head: {e}", v.reason);
                        }
                        (
                            v,
                            ChainFacts {
                                head_number: Some(n),
                                head_timestamp: Some(t),
                                head_age_seconds: Some(age),
                                ..Default::default()
                            },
                        )
                    }
                    None => (CheckResult::failing(format!("cannot read the chain head: {e}")), ChainFacts::default()),
                }
            }
        }
    }
}

/// The chain id check, from what the probes learnt: some upstream must be on `expected`.
pub fn chain_id(pool: &Pool, expected: u64) -> (CheckResult, Option<u64>) {
    let mut right = Vec::new();
    let mut wrong = Vec::new();
    let mut silent = Vec::new();
    for u in &pool.upstreams {
        let h = u.health();
        match h.chain_id {
            Some(id) if id == expected => right.push(u.name().to_string()),
            Some(id) => wrong.push(format!("{} is on chain {id}", u.name())),
            None => silent.push(u.name().to_string()),
        }
    }
    let active_chain = pool.active().and_then(|i| pool.upstreams[i].health().chain_id);
    let verdict = if right.is_empty() {
        let mut why = wrong.clone();
        if !silent.is_empty() {
            why.push(format!("no chain id yet from {}", silent.join(", ")));
        }
        CheckResult::failing(format!("no RPC upstream is on chain {expected}: {}", why.join("; ")))
    } else if !wrong.is_empty() {
        CheckResult::degraded(format!(
            "chain {expected} via {}, but {} (that upstream is never used)",
            right.join(", "),
            wrong.join("; ")
        ))
    } else {
        CheckResult::ok(format!("chain {expected} via {}", right.join(", ")))
    };
    (verdict, active_chain.or(if right.is_empty() { None } else { Some(expected) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::State;

    #[test]
    fn head_verdicts() {
        let max = Duration::from_secs(60);
        assert_eq!(evaluate_head(5, 3.0, false, max).state, State::Ok);
        assert_eq!(evaluate_head(5, 3.0, true, max).state, State::Degraded);
        assert_eq!(evaluate_head(5, 61.0, false, max).state, State::Failing);
    }
}
