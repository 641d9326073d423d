//! Are the RPC upstreams usable: ok when all are healthy, degraded when only some are (failover
//! is carrying the load), failing when none is.

use crate::pool::Pool;
use crate::snapshot::CheckResult;

/// Judges the pool from its upstreams' last known health.
pub fn check(pool: &Pool) -> CheckResult {
    let mut up = Vec::new();
    let mut down = Vec::new();
    for u in &pool.upstreams {
        let h = u.health();
        if h.up {
            up.push(u.name().to_string());
        } else {
            down.push(format!("{} ({})", u.name(), h.reason));
        }
    }
    let active = pool.active().map(|i| pool.upstreams[i].name().to_string()).unwrap_or_else(|| "none".into());
    if up.is_empty() {
        CheckResult::failing(format!("every RPC upstream is down: {}", down.join("; ")))
    } else if !down.is_empty() {
        CheckResult::degraded(format!(
            "{} of {} RPC upstreams healthy (active: {active}); down: {}",
            up.len(),
            pool.upstreams.len(),
            down.join("; ")
        ))
    } else {
        CheckResult::ok(format!("{} RPC upstream(s) healthy (active: {active})", up.len()))
    }
}
