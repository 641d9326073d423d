//! The checks, one module each, and their typed names (from `lpbake_rules::checks`, the rules
//! lpbake reads the appliance's `critical` with). Every check turns what it reads into a
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
use std::sync::Arc;

pub use lpbake_rules::checks::CheckName;

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
