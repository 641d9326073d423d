//! Wall-clock time in Unix seconds (for comparing with block timestamps) and milliseconds (for
//! share samples and push timestamps); never written to an artifact.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as a float (sub-second precision for ages).
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Age in seconds of a block with Unix timestamp `ts` (never negative).
pub fn age_of(ts: u64) -> f64 {
    (unix_now() - ts as f64).max(0.0)
}
