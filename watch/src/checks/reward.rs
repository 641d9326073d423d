//! Was reward() called this round: the current round (RoundsManager `currentRound()`) against
//! the orchestrator's last reward round (BondingManager `getTranscoder(addr)`), read from the
//! chain with `eth_call`, or from livepeer's CLI API when the chain read fails.

use super::Ctx;
use crate::abi::{self, Address, TranscoderInfo};
use crate::jsonrpc::{data_bytes, truncate};
use crate::snapshot::{CheckResult, RewardFacts};
use crate::units::format_duration;
use serde_json::json;
use std::time::{Duration, Instant};

/// The reward check and when it first saw the orchestrator behind.
#[derive(Debug, Default)]
pub struct RewardCheck {
    behind_since: Option<Instant>,
}

/// Whether `t` is an active orchestrator in `round` (only those can and must call reward()).
pub fn is_active(t: &TranscoderInfo, round: u64) -> bool {
    t.activation_round > 0 && t.activation_round <= round && round < t.deactivation_round
}

/// Judges the numbers; `behind_for` is how long the orchestrator has been seen behind.
pub fn evaluate(current: u64, t: &TranscoderInfo, behind_for: Duration, grace: Duration) -> CheckResult {
    let last = t.last_reward_round;
    if !is_active(t, current) {
        return CheckResult::ok(format!(
            "not an active orchestrator in round {current}: no reward due (last reward round {last})"
        ));
    }
    if last >= current {
        return CheckResult::ok(format!("reward called for round {current}"));
    }
    let behind = current - last;
    if behind_for >= grace {
        CheckResult::failing(format!(
            "reward() not called for round {current}: last reward round {last} ({behind} round(s) \
             behind) for {} (grace {})",
            format_duration(Duration::from_secs(behind_for.as_secs())),
            format_duration(grace)
        ))
    } else {
        CheckResult::ok(format!(
            "reward for round {current} pending: last reward round {last}, within grace ({} of {})",
            format_duration(Duration::from_secs(behind_for.as_secs())),
            format_duration(grace)
        ))
    }
}

async fn from_chain(ctx: &Ctx, addr: &Address, timeout: Duration) -> Result<(u64, TranscoderInfo), String> {
    let (Some(pool), Some(c)) = (&ctx.pool, ctx.cfg.contracts) else {
        return Err("no contract addresses configured".into());
    };
    let call = |to: Address, data: String| {
        pool.call("eth_call", json!([{"to": to.to_string(), "data": data}, "latest"]), timeout)
    };
    let (round, info) = tokio::join!(
        call(c.rounds_manager, abi::current_round_call()),
        call(c.bonding_manager, abi::get_transcoder_call(addr))
    );
    let round = round.map_err(|e| format!("RoundsManager.currentRound(): {e}"))?;
    let round = abi::decode_round(&data_bytes(&round).map_err(|e| e.to_string())?)?;
    let info = info.map_err(|e| format!("BondingManager.getTranscoder(): {e}"))?;
    let info = abi::decode_transcoder(&data_bytes(&info).map_err(|e| e.to_string())?)?;
    Ok((round, info))
}

async fn from_cli(ctx: &Ctx, timeout: Duration) -> Result<(u64, TranscoderInfo), String> {
    let (round, info) = tokio::join!(ctx.cli.current_round(timeout), ctx.cli.orchestrator_info(timeout));
    Ok((round.map_err(|e| e.to_string())?, info.map_err(|e| e.to_string())?))
}

impl RewardCheck {
    pub async fn run(&mut self, ctx: &Ctx, addr: Option<Address>) -> (CheckResult, RewardFacts) {
        let timeout = ctx.cfg.checks.timeout;
        let Some(addr) = addr else {
            return (CheckResult::address_unknown(), RewardFacts::default());
        };
        let mut facts = RewardFacts { orchestrator: Some(addr.to_string()), ..Default::default() };
        let (current, info, note) = match from_chain(ctx, &addr, timeout).await {
            Ok((r, i)) => {
                facts.source = Some("chain");
                (r, i, String::new())
            }
            Err(chain_err) => match from_cli(ctx, timeout).await {
                Ok((r, i)) => {
                    facts.source = Some("livepeer_cli");
                    (r, i, format!(" (read from livepeer's CLI API: chain read failed: {})", truncate(&chain_err, 200)))
                }
                Err(cli_err) => {
                    return (
                        CheckResult::failing(format!(
                            "cannot read rounds: chain: {}; livepeer CLI: {}",
                            truncate(&chain_err, 300),
                            truncate(&cli_err, 200)
                        )),
                        facts,
                    )
                }
            },
        };
        let active = is_active(&info, current);
        let behind = if active { current.saturating_sub(info.last_reward_round) } else { 0 };
        if behind == 0 {
            self.behind_since = None;
        } else if self.behind_since.is_none() {
            self.behind_since = Some(Instant::now());
        }
        let behind_for = self.behind_since.map_or(Duration::ZERO, |t| t.elapsed());
        facts.current_round = Some(current);
        facts.last_reward_round = Some(info.last_reward_round);
        facts.rounds_behind = Some(behind);
        facts.behind_seconds = Some(behind_for.as_secs_f64());
        facts.active = Some(active);
        let mut verdict = evaluate(current, &info, behind_for, ctx.cfg.checks.reward_grace);
        verdict.reason.push_str(&note);
        (verdict, facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::State;

    fn info(last: u64) -> TranscoderInfo {
        TranscoderInfo { last_reward_round: last, activation_round: 1, deactivation_round: u64::MAX }
    }

    #[test]
    fn verdicts() {
        let grace = Duration::from_secs(3600);
        assert_eq!(evaluate(10, &info(10), Duration::ZERO, grace).state, State::Ok);
        let pending = evaluate(11, &info(10), Duration::from_secs(60), grace);
        assert_eq!(pending.state, State::Ok);
        assert!(pending.reason.contains("pending"), "{}", pending.reason);
        let late = evaluate(11, &info(10), Duration::from_secs(3600), grace);
        assert_eq!(late.state, State::Failing);
        assert!(late.reason.contains("round 11"), "{}", late.reason);
        assert_eq!(evaluate(11, &info(10), Duration::ZERO, Duration::ZERO).state, State::Failing);
    }

    #[test]
    fn inactive_orchestrators_owe_nothing() {
        let mut t = info(3);
        t.deactivation_round = 10;
        assert!(!is_active(&t, 10));
        assert_eq!(evaluate(10, &t, Duration::from_secs(1 << 20), Duration::ZERO).state, State::Ok);
        t.activation_round = 0;
        assert!(!is_active(&t, 5));
    }
}
