//! lpwatch's checks as its config names them (`checks.critical`) and how often they may run
//! (`checks.interval`). lpwatch reads both from its config; lpbake reads the appliance's
//! `[lpwatch]` with the same rules before it renders them into that config.

use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::time::Duration;

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
    /// Every check, in the order lpwatch lists them.
    pub const ALL: [CheckName; 6] = [
        CheckName::Livepeer,
        CheckName::Reward,
        CheckName::EthBalance,
        CheckName::ChainHead,
        CheckName::ChainId,
        CheckName::Rpc,
    ];

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

    /// Every name, comma-separated, for messages.
    pub fn names() -> String {
        CheckName::ALL.map(CheckName::as_str).join(", ")
    }
}

impl FromStr for CheckName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CheckName::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a check: use some of {}", CheckName::names()))
    }
}

/// The longest `checks.interval`: a loop slower than an hour would see a missed reward() only
/// after the default grace (2 h) is mostly gone, and the watchdog's silence bound is counted
/// from it.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// `checks.interval`: above zero and at most [`MAX_INTERVAL`].
pub fn interval(d: Duration) -> Result<(), String> {
    if d.is_zero() || d > MAX_INTERVAL {
        return Err("checks.interval must be above zero and at most 1h".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_intervals_are_bounded() {
        for c in CheckName::ALL {
            assert_eq!(c.as_str().parse::<CheckName>(), Ok(c));
        }
        assert!("vibes".parse::<CheckName>().unwrap_err().contains("eth_balance"));
        assert!(interval(Duration::from_secs(5)).is_ok() && interval(MAX_INTERVAL).is_ok());
        assert!(interval(Duration::ZERO).is_err() && interval(MAX_INTERVAL + Duration::from_nanos(1)).is_err());
    }
}
