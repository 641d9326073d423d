//! Human units in the config files (lpwatch's own, and the appliance's that lpbake renders into
//! it): durations (`"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`, read and written by humantime) and
//! ETH amounts (`"0.05"`, exact to the wei), with serde adapters that give clear errors.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// Wei per ETH.
pub const WEI_PER_ETH: u128 = 1_000_000_000_000_000_000;

/// Parses a duration such as `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"` or `"1h 30m"` (humantime).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?} ({e}): write a number and a unit, e.g. \"500ms\", \"30s\", \"5m\", \"2h\", \"1d\"")
    })
}

/// Formats a duration the way [`parse_duration`] reads it (`"2h"`, `"1s 500ms"`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Parses a decimal ETH amount (`"0.05"`, `"2"`) into wei, exactly.
pub fn parse_eth(text: &str) -> Result<u128, String> {
    let t = text.trim();
    let bad = || format!("invalid ETH amount {text:?}: write a decimal number such as \"0.05\"");
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    if frac.len() > 18 {
        return Err(format!("ETH amount {text:?} has more than 18 decimals"));
    }
    let int_wei = if int.is_empty() {
        0
    } else {
        int.parse::<u128>().ok().and_then(|i| i.checked_mul(WEI_PER_ETH)).ok_or_else(bad)?
    };
    let frac_wei = if frac.is_empty() { 0 } else { format!("{frac:0<18}").parse::<u128>().map_err(|_| bad())? };
    int_wei.checked_add(frac_wei).ok_or_else(bad)
}

/// Wei as a float number of ETH (for gauges; exact enough for alert thresholds).
pub fn wei_to_eth(wei: u128) -> f64 {
    (wei / WEI_PER_ETH) as f64 + (wei % WEI_PER_ETH) as f64 / WEI_PER_ETH as f64
}

/// A config duration (deserialized from a string such as `"30s"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(Dur).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// A config ETH amount in wei, written as a string (`"0.05"`) or a number (`0.05`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Eth(pub u128);

impl<'de> Deserialize<'de> for Eth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(u64),
            F(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::I(i) => i.to_string(),
            Raw::F(f) => f.to_string(),
        };
        parse_eth(&text).map(Eth).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Eth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frac = format!("{:018}", self.0 % WEI_PER_ETH);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            write!(f, "{}", self.0 / WEI_PER_ETH)
        } else {
            write!(f, "{}.{}", self.0 / WEI_PER_ETH, frac)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-5s").is_err());
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("99999999999999999d").is_err());
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s 500ms");
        assert_eq!(parse_duration("1s 500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn eth_amounts() {
        assert_eq!(parse_eth("0.05").unwrap(), 50_000_000_000_000_000);
        assert_eq!(parse_eth("2").unwrap(), 2 * WEI_PER_ETH);
        assert_eq!(parse_eth(".5").unwrap(), WEI_PER_ETH / 2);
        assert_eq!(parse_eth("0.000000000000000001").unwrap(), 1);
        assert!(parse_eth("0.0000000000000000001").is_err());
        assert!(parse_eth("1e3").is_err());
        assert!(parse_eth("").is_err());
        assert!(parse_eth("-1").is_err());
        assert_eq!(Eth(parse_eth("0.05").unwrap()).to_string(), "0.05");
        assert!((wei_to_eth(1_500_000_000_000_000_000) - 1.5).abs() < 1e-12);
    }
}
