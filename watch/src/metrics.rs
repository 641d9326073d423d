//! The Prometheus text exposition of lpwatch's own `lpwatch_*` metrics, rendered from the latest
//! snapshot and the pool, plus the filter applied to livepeer's relayed `/metrics`.

use crate::clock::{age_of, unix_now};
use crate::config::Config;
use crate::pool::Pool;
use crate::snapshot::Snapshot;
use crate::units::wei_to_eth;
use crate::upstream::Outcome;
use std::fmt::Write as _;

/// Escapes a label value.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn val(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, lv)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", esc(lv));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {v}");
    }
    fn gauge(&mut self, name: &str, help: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.head(name, "gauge", help);
            self.val(name, &[], v);
        }
    }
}

fn b(x: bool) -> f64 {
    if x {
        1.0
    } else {
        0.0
    }
}

/// Renders every `lpwatch_*` metric.
pub fn render(s: &Snapshot, cfg: &Config, pool: Option<&Pool>, start_time: f64) -> String {
    let mut o = Out(String::with_capacity(8192));
    o.head("lpwatch_build_info", "gauge", "lpwatch version (always 1).");
    o.val("lpwatch_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    o.gauge(
        "lpwatch_start_time_seconds",
        "Unix time lpwatch started (changes on every restart).",
        Some(start_time.floor()),
    );
    o.gauge(
        "lpwatch_healthy",
        "1 when every critical check is ok (what /healthz answers 200 for).",
        Some(b(s.healthy(&cfg.checks.critical))),
    );
    o.head("lpwatch_check_status", "gauge", "Check state: 0 ok, 1 degraded, 2 failing.");
    for (name, r) in &s.checks {
        o.val("lpwatch_check_status", &[("check", name.as_str())], f64::from(r.state.level()));
    }
    o.head("lpwatch_check_ok", "gauge", "1 when the check is ok.");
    for (name, r) in &s.checks {
        o.val("lpwatch_check_ok", &[("check", name.as_str())], b(r.state == crate::snapshot::State::Ok));
    }
    o.head("lpwatch_check_critical", "gauge", "1 when the check counts for /healthz.");
    for name in s.checks.keys() {
        o.val("lpwatch_check_critical", &[("check", name.as_str())], b(cfg.checks.critical.contains(name)));
    }
    o.head("lpwatch_loop_iterations_total", "counter", "Check loop passes completed.");
    o.val("lpwatch_loop_iterations_total", &[], s.iteration as f64);
    if s.iteration > 0 {
        o.gauge("lpwatch_loop_duration_seconds", "Duration of the last check loop pass.", Some(s.loop_seconds));
        o.gauge(
            "lpwatch_loop_last_seconds",
            "Seconds since the last check loop pass completed.",
            Some((unix_now() - s.completed_at).max(0.0)),
        );
    }

    // livepeer
    let lp = &s.livepeer;
    if s.iteration > 0 {
        o.gauge("lpwatch_livepeer_up", "1 when livepeer's CLI API answers /status.", Some(b(lp.up)));
    }
    if let Some(v) = &lp.version {
        o.head("lpwatch_livepeer_info", "gauge", "livepeer version from /status (always 1).");
        o.val("lpwatch_livepeer_info", &[("version", v)], 1.0);
    }
    o.gauge(
        "lpwatch_livepeer_transcoders",
        "Transcoders attached (registered remote ones, plus one for local transcoding).",
        lp.transcoders.map(|t| t as f64),
    );
    o.head("lpwatch_livepeer_restarts_total", "counter", "Times livepeer came back after being seen down.");
    o.val("lpwatch_livepeer_restarts_total", &[], lp.restarts as f64);

    // reward
    let r = &s.reward;
    o.gauge("lpwatch_current_round", "Current Livepeer round.", r.current_round.map(|x| x as f64));
    o.gauge(
        "lpwatch_last_reward_round",
        "Last round the orchestrator called reward() in.",
        r.last_reward_round.map(|x| x as f64),
    );
    o.gauge(
        "lpwatch_reward_rounds_behind",
        "Rounds since the last reward() call (0 when called this round or not active).",
        r.rounds_behind.map(|x| x as f64),
    );
    o.gauge(
        "lpwatch_reward_behind_seconds",
        "How long the orchestrator has been seen behind on reward().",
        r.behind_seconds,
    );
    o.gauge("lpwatch_orchestrator_active", "1 when the orchestrator is active in the current round.", r.active.map(b));
    if cfg.on_chain() {
        o.gauge(
            "lpwatch_reward_grace_seconds",
            "Configured checks.reward_grace.",
            Some(cfg.checks.reward_grace.as_secs_f64()),
        );
        o.gauge(
            "lpwatch_eth_balance_min_eth",
            "Configured checks.min_eth_balance.",
            Some(wei_to_eth(cfg.checks.min_eth_balance)),
        );
        o.gauge(
            "lpwatch_chain_head_max_age_seconds",
            "Configured checks.max_head_age.",
            Some(cfg.checks.max_head_age.as_secs_f64()),
        );
        o.gauge("lpwatch_chain_id_expected", "Chain id of the configured network.", cfg.chain_id.map(|c| c as f64));
    }
    o.gauge("lpwatch_eth_balance_eth", "ETH balance of the orchestrator account.", s.balance.eth);

    // chain
    let c = &s.chain;
    o.gauge("lpwatch_chain_head_number", "Latest block number seen.", c.head_number.map(|x| x as f64));
    o.gauge(
        "lpwatch_chain_head_age_seconds",
        "Age of the latest block seen (keeps growing while no upstream answers).",
        c.head_timestamp.map(age_of),
    );
    o.gauge("lpwatch_chain_syncing", "1 when the RPC node reports eth_syncing.", c.syncing.map(b));
    o.gauge("lpwatch_chain_id", "Chain id the active upstream reports.", c.chain_id.map(|x| x as f64));

    if let Some(pool) = pool {
        render_pool(&mut o, pool);
    }
    o.0
}

fn render_pool(o: &mut Out, pool: &Pool) {
    let active = pool.active();
    let hs: Vec<_> = pool.upstreams.iter().map(|u| (u.name(), u.health())).collect();
    o.head(
        "lpwatch_rpc_upstream_up",
        "gauge",
        "1 when the upstream answers, is on the right chain and its head is fresh.",
    );
    for (n, h) in &hs {
        o.val("lpwatch_rpc_upstream_up", &[("upstream", n)], b(h.up));
    }
    o.head("lpwatch_rpc_upstream_active", "gauge", "1 for the upstream proxied traffic goes to.");
    for (i, (n, _)) in hs.iter().enumerate() {
        o.val("lpwatch_rpc_upstream_active", &[("upstream", n)], b(active == Some(i)));
    }
    o.head("lpwatch_rpc_upstream_head_age_seconds", "gauge", "Age of the upstream's latest block.");
    for (n, h) in &hs {
        if let Some(ts) = h.head_timestamp {
            o.val("lpwatch_rpc_upstream_head_age_seconds", &[("upstream", n)], age_of(ts));
        }
    }
    o.head("lpwatch_rpc_upstream_head_number", "gauge", "The upstream's latest block number.");
    for (n, h) in &hs {
        if let Some(x) = h.head_number {
            o.val("lpwatch_rpc_upstream_head_number", &[("upstream", n)], x as f64);
        }
    }
    o.head("lpwatch_rpc_upstream_chain_id", "gauge", "Chain id the upstream reports.");
    for (n, h) in &hs {
        if let Some(x) = h.chain_id {
            o.val("lpwatch_rpc_upstream_chain_id", &[("upstream", n)], x as f64);
        }
    }
    o.head("lpwatch_rpc_upstream_probe_seconds", "gauge", "Duration of the last successful health probe.");
    for (n, h) in &hs {
        if let Some(d) = h.probe_latency {
            o.val("lpwatch_rpc_upstream_probe_seconds", &[("upstream", n)], d.as_secs_f64());
        }
    }
    o.head("lpwatch_rpc_requests_total", "counter", "Proxied requests by upstream and result.");
    for u in &pool.upstreams {
        for r in Outcome::ALL {
            o.val("lpwatch_rpc_requests_total", &[("upstream", u.name()), ("result", r.as_str())], u.counted(r) as f64);
        }
    }
    o.head("lpwatch_rpc_failovers_total", "counter", "Times proxied traffic moved to another upstream.");
    o.val("lpwatch_rpc_failovers_total", &[], pool.failovers() as f64);
}

/// livepeer's own metrics, minus anything claiming the `lpwatch_` namespace.
pub fn filter_relayed(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.lines() {
        let probe = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")).unwrap_or(line);
        if probe.starts_with("lpwatch_") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_filter() {
        let t = "# HELP livepeer_x x\n# TYPE livepeer_x gauge\nlivepeer_x 1\n# TYPE lpwatch_healthy gauge\nlpwatch_healthy 1";
        let f = filter_relayed(t);
        assert!(f.contains("livepeer_x 1\n"));
        assert!(!f.contains("lpwatch_"));
        assert_eq!(esc("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
