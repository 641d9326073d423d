//! The values of lpwatch's opt-in `[share]` that lpbake's `[lpwatch.share]` renders into it:
//! the cell size, the named extras and the interval. lpwatch reads its config with these rules,
//! and lpbake checks the appliance with them, so a share lpbake bakes is a share lpwatch runs.

use serde::Deserialize;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How coarse a cell is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellSize {
    /// A square of this many degrees of latitude and longitude, named by its south-west corner.
    Degrees(u8),
    Country,
    Continent,
}

impl FromStr for CellSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "country" => Ok(CellSize::Country),
            "continent" => Ok(CellSize::Continent),
            _ => match s.strip_suffix("deg").and_then(|n| n.parse::<u8>().ok()) {
                // Squares that tile the globe exactly.
                Some(n) if n > 0 && 90 % n == 0 => Ok(CellSize::Degrees(n)),
                _ => Err(format!(
                    "{s:?} is not a cell size: use \"Ndeg\" with N dividing 90 (1, 2, 3, 5, 6, 9, 10, 15, 18, 30, 45, 90), \
                     \"country\" or \"continent\""
                )),
            },
        }
    }
}

impl fmt::Display for CellSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CellSize::Degrees(n) => write!(f, "{n}deg"),
            CellSize::Country => f.write_str("country"),
            CellSize::Continent => f.write_str("continent"),
        }
    }
}

/// A series beyond the minimal set, shared only when named in `share.extras`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Extra {
    /// Transcoders attached, their capacity and their load.
    Transcoders,
    /// livepeer's segment success rate.
    SuccessRate,
}

impl Extra {
    pub const ALL: [Extra; 2] = [Extra::SuccessRate, Extra::Transcoders];

    /// Its name in `share.extras`.
    pub fn as_str(self) -> &'static str {
        match self {
            Extra::Transcoders => "transcoders",
            Extra::SuccessRate => "success_rate",
        }
    }
}

impl FromStr for Extra {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Extra::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| {
            format!("{s:?} is not a shared extra: use some of {}", Extra::ALL.map(Extra::as_str).join(", "))
        })
    }
}

/// The shortest share interval.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Every share interval is below this: Prometheus's 5-minute lookback, so that a cell's series
/// do not drop out between shares.
pub const INTERVAL_BELOW: Duration = Duration::from_secs(300);

/// `share.interval`: from 1s to under 5m.
pub fn interval(d: Duration) -> Result<(), String> {
    if d < MIN_INTERVAL || d >= INTERVAL_BELOW {
        return Err("share.interval must be from 1s to under 5m (2m is the default)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_sizes_extras_and_intervals() {
        assert_eq!("5deg".parse(), Ok(CellSize::Degrees(5)));
        assert_eq!("country".parse(), Ok(CellSize::Country));
        for bad in ["7deg", "0deg", "5", "region", "500deg"] {
            let err = bad.parse::<CellSize>().unwrap_err();
            assert!(err.contains(bad) && err.contains("continent"), "{err}");
        }
        assert_eq!(CellSize::Degrees(10).to_string(), "10deg");
        for e in Extra::ALL {
            assert_eq!(e.as_str().parse::<Extra>(), Ok(e));
        }
        assert!("addresses".parse::<Extra>().unwrap_err().contains("success_rate"));
        assert!(interval(Duration::from_secs(120)).is_ok() && interval(MIN_INTERVAL).is_ok());
        assert!(interval(Duration::from_millis(999)).is_err() && interval(INTERVAL_BELOW).is_err());
    }
}
