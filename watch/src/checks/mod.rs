//! The checks, one module each, and their typed names. Every check turns what it reads into a
//! state (ok / degraded / failing) with a reason a person can act on, plus the numbers exported
//! as metrics.

pub mod balance;
pub mod chain;
pub mod livepeer;
pub mod reward;
pub mod rpc;

use crate::config::Config;
use crate::livepeer::LivepeerCli;
use crate::pool::Pool;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The name of a check: the key of its result in every snapshot, and its spelling in
/// `/healthz`, metric labels and `checks.critical` (serde writes and reads it, snake_case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    Livepeer,
    Reward,
    EthBalance,
    ChainHead,
    ChainId,
    Rpc,
}

impl CheckName {
    /// Critical by default: all but `rpc` (one upstream down while another carries the load is
    /// worth a metric, not pulling the node out of a load balancer).
    pub const DEFAULT_CRITICAL: [CheckName; 5] =
        [CheckName::Livepeer, CheckName::Reward, CheckName::EthBalance, CheckName::ChainHead, CheckName::ChainId];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Livepeer => "livepeer",
            CheckName::Reward => "reward",
            CheckName::EthBalance => "eth_balance",
            CheckName::ChainHead => "chain_head",
            CheckName::ChainId => "chain_id",
            CheckName::Rpc => "rpc",
        }
    }
}

/// What every check may read from.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub cfg: Arc<Config>,
    /// `None` on `offchain`.
    pub pool: Option<Arc<Pool>>,
    pub cli: LivepeerCli,
}

#[cfg(test)]
mod tests {
    use super::CheckName;

    #[test]
    fn a_check_is_spelt_the_same_everywhere() {
        use CheckName::*;
        for c in [Livepeer, Reward, EthBalance, ChainHead, ChainId, Rpc] {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
            assert_eq!(serde_json::from_value::<CheckName>(serde_json::json!(c.as_str())).unwrap(), c);
        }
    }
}
