//! One JSON-RPC upstream: its last known health (from probes and from failed requests) and its
//! request counters. The URL may hold an API key, so only `name` is ever shown.

use crate::config::UpstreamCfg;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What happened to one proxied request, as counted in `lpwatch_rpc_requests_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An answer with a 2xx status was relayed.
    Ok,
    /// An answer with another status was relayed.
    HttpError,
    /// The connection could not be made: nothing was sent, the next upstream was tried.
    ConnectError,
    /// HTTP 429: the upstream refused the request before accepting it; the next was tried.
    RateLimited,
    /// No complete answer within `rpc.request_timeout` after sending; not retried.
    Timeout,
    /// The answer exceeded `rpc.max_response_bytes`; not retried.
    TooLarge,
    /// Any other failure after sending; not retried.
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::HttpError,
        Outcome::ConnectError,
        Outcome::RateLimited,
        Outcome::Timeout,
        Outcome::TooLarge,
        Outcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::HttpError => "http_error",
            Outcome::ConnectError => "connect_error",
            Outcome::RateLimited => "rate_limited",
            Outcome::Timeout => "timeout",
            Outcome::TooLarge => "too_large",
            Outcome::Error => "error",
        }
    }
}

/// What the last probe (or failed request) said about an upstream.
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// Usable: answers, right chain, head fresh.
    pub up: bool,
    /// Has been probed (or has failed a request) at least once.
    pub probed: bool,
    /// Answered with another chain id: never used, not even as a last resort.
    pub wrong_chain: bool,
    pub reason: String,
    pub chain_id: Option<u64>,
    pub head_number: Option<u64>,
    /// Unix seconds of the latest block seen.
    pub head_timestamp: Option<u64>,
    pub probe_latency: Option<Duration>,
}

/// An upstream, its health and its counters.
#[derive(Debug)]
pub struct Upstream {
    pub cfg: UpstreamCfg,
    health: Mutex<Health>,
    counts: [AtomicU64; Outcome::ALL.len()],
}

impl Upstream {
    pub fn new(cfg: UpstreamCfg) -> Self {
        Upstream {
            cfg,
            health: Mutex::new(Health { reason: "not probed yet".into(), ..Health::default() }),
            counts: Default::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn health(&self) -> Health {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }

    pub fn set_health(&self, h: Health) {
        if let Ok(mut g) = self.health.lock() {
            *g = h;
        }
    }

    /// Marks the upstream down after a failed request, keeping what the last probe learnt.
    pub fn mark_down(&self, reason: &str) {
        if let Ok(mut g) = self.health.lock() {
            g.up = false;
            g.probed = true;
            g.reason = reason.to_string();
        }
    }

    pub fn count(&self, o: Outcome) {
        self.counts[o as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn counted(&self, o: Outcome) -> u64 {
        self.counts[o as usize].load(Ordering::Relaxed)
    }
}
