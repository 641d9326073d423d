//! The checks, one module each. Every check turns what it reads into a state (ok / degraded /
//! failing) with a reason a person can act on, plus the numbers exported as metrics.

pub mod balance;
pub mod chain;
pub mod livepeer;
pub mod reward;
pub mod rpc;

use crate::config::Config;
use crate::livepeer::LivepeerCli;
use crate::pool::Pool;
use std::sync::Arc;

/// What every check may read from.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub cfg: Arc<Config>,
    /// `None` on `offchain`.
    pub pool: Option<Arc<Pool>>,
    pub cli: LivepeerCli,
}
