//! The status endpoint: `GET /healthz` (200 only when every critical check is ok, JSON with
//! every check) and `GET /metrics` (lpwatch's gauges plus livepeer's own metrics, relayed
//! read-only so nothing else of the CLI port is exposed, and with `[share]` the last share).

use crate::config::Config;
use crate::livepeer::LivepeerCli;
use crate::metrics::{filter_relayed, render};
use crate::pool::Pool;
use crate::server::{respond, Handler, Resp};
use crate::share::Latest;
use crate::snapshot::Board;
use bytes::Bytes;
use hyper::Request;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// What the status endpoint reads.
#[derive(Clone, Debug)]
pub struct Status {
    pub cfg: Arc<Config>,
    pub board: Arc<Board>,
    pub pool: Option<Arc<Pool>>,
    pub cli: LivepeerCli,
    pub start_time: f64,
    /// With `[share]`: the last share, served with the rest.
    pub share: Option<Arc<Latest>>,
}

impl Handler for Status {
    async fn handle(self, req: Request<Bytes>) -> Resp {
        if req.method() != hyper::Method::GET && req.method() != hyper::Method::HEAD {
            return respond(405, "text/plain", "only GET\n");
        }
        match req.uri().path() {
            "/healthz" => self.healthz(),
            "/metrics" => self.metrics().await,
            "/" => respond(200, "text/plain", "lpwatch: GET /healthz, GET /metrics\n"),
            _ => respond(404, "text/plain", "not found: GET /healthz or /metrics\n"),
        }
    }

    fn refuse(&self, status: u16, why: &str) -> Resp {
        respond(status, "text/plain", format!("{why}\n"))
    }
}

impl Status {
    /// The `/healthz` JSON.
    pub fn health_json(&self) -> (bool, Value) {
        let s = self.board.latest();
        let healthy = s.healthy(&self.cfg.checks.critical);
        let mut checks = Map::new();
        for (name, r) in &s.checks {
            let critical = self.cfg.checks.critical.contains(name);
            checks
                .insert(name.as_str().to_string(), json!({"state": r.state, "reason": r.reason, "critical": critical}));
        }
        let worst = s.checks.values().map(|r| r.state).max();
        let status = if s.iteration == 0 {
            "starting"
        } else if healthy {
            match worst {
                Some(w) if w != crate::snapshot::State::Ok => "ok_with_warnings",
                _ => "ok",
            }
        } else {
            "unhealthy"
        };
        let mut body = json!({
            "status": status,
            "healthy": healthy,
            "network": self.cfg.network,
            "iteration": s.iteration,
            "checked_at": s.completed_at,
            "checks": checks,
            "livepeer": s.livepeer,
            "reward": s.reward,
            "balance": s.balance,
            "chain": s.chain,
        });
        if let Some(pool) = &self.pool {
            let active = pool.active().map(|i| pool.upstreams[i].name().to_string());
            let ups: Vec<Value> = pool
                .upstreams
                .iter()
                .map(|u| {
                    let h = u.health();
                    json!({"name": u.name(), "up": h.up, "reason": h.reason,
                           "chain_id": h.chain_id, "head_number": h.head_number})
                })
                .collect();
            body["rpc"] = json!({"active": active, "failovers": pool.failovers(), "upstreams": ups});
        }
        (healthy, body)
    }

    fn healthz(&self) -> Resp {
        let (healthy, body) = self.health_json();
        let text = serde_json::to_vec_pretty(&body).unwrap_or_default();
        respond(if healthy { 200 } else { 503 }, "application/json", text)
    }

    async fn metrics(&self) -> Resp {
        let s = self.board.latest();
        let mut text = render(&s, &self.cfg, self.pool.as_deref(), self.start_time);
        if self.cfg.livepeer.relay_metrics {
            let t = self.cfg.checks.timeout.min(Duration::from_secs(3));
            let relayed = self.cli.metrics(t).await;
            text.push_str(
                "# HELP lpwatch_livepeer_metrics_relay_ok 1 when livepeer's /metrics was relayed below.\n\
                 # TYPE lpwatch_livepeer_metrics_relay_ok gauge\n",
            );
            match relayed {
                Ok(body) => {
                    text.push_str("lpwatch_livepeer_metrics_relay_ok 1\n");
                    text.push_str(&filter_relayed(&body));
                }
                Err(e) => {
                    tracing::debug!("livepeer /metrics not relayed: {e}");
                    text.push_str("lpwatch_livepeer_metrics_relay_ok 0\n");
                }
            }
        }
        if let Some(share) = &self.share {
            text.push_str(&share.text());
        }
        respond(200, "text/plain; version=0.0.4; charset=utf-8", text)
    }
}
