//! Can the orchestrator pay gas: the ETH balance of its account (`eth_getBalance`, falling back
//! to livepeer's `/ethBalance`) against `checks.min_eth_balance` and `checks.warn_eth_balance`.

use super::Ctx;
use crate::abi::Address;
use crate::jsonrpc::{quantity_u128_saturating, truncate};
use crate::snapshot::{BalanceFacts, CheckResult};
use crate::units::{wei_to_eth, Eth};
use serde_json::json;

/// Judges a balance in wei.
pub fn evaluate(wei: u128, min: u128, warn: Option<u128>) -> CheckResult {
    let have = Eth(wei);
    if wei < min {
        CheckResult::failing(format!(
            "ETH balance {have} is below checks.min_eth_balance {}: top up the account or reward() and ticket redemption will fail",
            Eth(min)
        ))
    } else if warn.is_some_and(|w| wei < w) {
        CheckResult::degraded(format!("ETH balance {have} is below checks.warn_eth_balance {}", Eth(warn.unwrap_or(0))))
    } else {
        CheckResult::ok(format!("ETH balance {have}"))
    }
}

/// Reads the balance and judges it.
pub async fn run(ctx: &Ctx, addr: Option<Address>) -> (CheckResult, BalanceFacts) {
    let Some(addr) = addr else {
        return (CheckResult::address_unknown(), BalanceFacts::default());
    };
    let timeout = ctx.cfg.checks.timeout;
    let chain = match &ctx.pool {
        Some(pool) => pool
            .call("eth_getBalance", json!([addr.to_string(), "latest"]), timeout)
            .await
            .and_then(|v| quantity_u128_saturating(&v))
            .map_err(|e| e.to_string()),
        None => Err("no chain configured".to_string()),
    };
    let (wei, source, note) = match chain {
        Ok(w) => (w, "chain", String::new()),
        Err(chain_err) => match ctx.cli.eth_balance(timeout).await {
            Ok(w) => (
                w,
                "livepeer_cli",
                format!(" (from livepeer's CLI API: chain read failed: {})", truncate(&chain_err, 200)),
            ),
            Err(cli_err) => {
                return (
                    CheckResult::failing(format!(
                        "cannot read the balance of {addr}: chain: {}; livepeer CLI: {cli_err}",
                        truncate(&chain_err, 300)
                    )),
                    BalanceFacts::default(),
                )
            }
        },
    };
    let c = &ctx.cfg.checks;
    let mut verdict = evaluate(wei, c.min_eth_balance, c.warn_eth_balance);
    verdict.reason.push_str(&note);
    (verdict, BalanceFacts { wei: Some(wei.to_string()), eth: Some(wei_to_eth(wei)), source: Some(source) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::State;
    use crate::units::WEI_PER_ETH;

    #[test]
    fn thresholds() {
        let min = WEI_PER_ETH / 10;
        assert_eq!(evaluate(WEI_PER_ETH, min, None).state, State::Ok);
        assert_eq!(evaluate(min - 1, min, None).state, State::Failing);
        assert_eq!(evaluate(min, min, Some(2 * min)).state, State::Degraded);
        assert_eq!(evaluate(u128::MAX, min, Some(2 * min)).state, State::Ok);
    }
}
