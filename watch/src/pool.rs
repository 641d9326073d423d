//! The failover pool: probes every upstream (answers, right chain id, head not stale), orders
//! them (healthy first, in configured order), serves lpwatch's own read-only calls, and forwards
//! proxied requests without ever replaying one that may have reached an upstream.

use crate::bounded::{read_body, BodyError};
use crate::clock::age_of;
use crate::config::Config;
use crate::jsonrpc::{self, quantity_u64, RpcError};
use crate::upstream::{Health, Outcome, Upstream};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NONE: usize = usize::MAX;
/// Cap for probe and check answers (a `latest` block with its tx hashes fits easily).
const SMALL_BODY: usize = 4 << 20;

/// An answer to relay to the proxy's client.
#[derive(Debug)]
pub struct Relayed {
    pub status: u16,
    pub content_type: Option<reqwest::header::HeaderValue>,
    pub body: Bytes,
}

/// The result of forwarding one proxied request.
#[derive(Debug)]
pub enum Forwarded {
    Answer(Relayed),
    /// lpwatch answers itself with this HTTP status and JSON-RPC error message.
    Failed {
        status: u16,
        message: String,
    },
}

/// The upstreams and the HTTP client shared by probes, checks and the proxy.
#[derive(Debug)]
pub struct Pool {
    pub upstreams: Vec<Arc<Upstream>>,
    client: reqwest::Client,
    expected_chain: u64,
    max_head_age: Duration,
    probe_timeout: Duration,
    request_timeout: Duration,
    max_response: usize,
    active: AtomicUsize,
    failovers: AtomicU64,
    next_id: AtomicU64,
}

impl Pool {
    pub fn new(cfg: &Config) -> Result<Pool, String> {
        let client = crate::client::builder(crate::USER_AGENT, cfg.rpc.upstreams.iter().map(|u| u.url.expose()))
            .connect_timeout(cfg.rpc.probe_timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(cfg.rpc.max_concurrent)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Pool {
            upstreams: cfg.rpc.upstreams.iter().cloned().map(|u| Arc::new(Upstream::new(u))).collect(),
            client,
            expected_chain: cfg.chain_id.unwrap_or(0),
            max_head_age: cfg.checks.max_head_age,
            probe_timeout: cfg.rpc.probe_timeout,
            request_timeout: cfg.rpc.request_timeout,
            max_response: cfg.rpc.max_response_bytes,
            active: AtomicUsize::new(NONE),
            failovers: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        })
    }

    /// Indexes of usable upstreams: healthy ones first, then not yet probed ones, then those
    /// known to be down (as a last resort), each in configured order; upstreams on the wrong
    /// chain are left out.
    pub fn candidates(&self) -> Vec<usize> {
        let mut ranked: Vec<(u8, usize)> = Vec::with_capacity(self.upstreams.len());
        for (i, u) in self.upstreams.iter().enumerate() {
            let h = u.health();
            if h.wrong_chain {
                continue;
            }
            let rank = if h.up {
                0
            } else if !h.probed {
                1
            } else {
                2
            };
            ranked.push((rank, i));
        }
        ranked.sort();
        ranked.into_iter().map(|(_, i)| i).collect()
    }

    /// The upstream proxied traffic went to last (or the first candidate before any traffic).
    pub fn active(&self) -> Option<usize> {
        match self.active.load(Ordering::Relaxed) {
            NONE => self.candidates().first().copied(),
            i => Some(i),
        }
    }

    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    fn set_active(&self, idx: usize) {
        let prev = self.active.swap(idx, Ordering::Relaxed);
        if prev != idx && prev != NONE {
            self.failovers.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                from = self.upstreams[prev].name(),
                to = self.upstreams[idx].name(),
                "RPC traffic moved to another upstream"
            );
        }
    }

    /// One JSON-RPC call to one upstream, bounded in time and size.
    async fn call_one(&self, up: &Upstream, method: &str, params: Value, timeout: Duration) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let max = SMALL_BODY.min(self.max_response);
        jsonrpc::call(&self.client, up.cfg.url.expose(), id, method, params, max, timeout).await
    }

    /// A read-only call for lpwatch's own checks: tried on each candidate until one answers
    /// (replaying a read is harmless). A JSON-RPC error answer is final.
    pub async fn call(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, RpcError> {
        let mut errors = Vec::new();
        let deadline = Instant::now() + timeout;
        for idx in self.candidates() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                errors.push("out of time".to_string());
                break;
            }
            let up = &self.upstreams[idx];
            match self.call_one(up, method, params.clone(), left).await {
                Ok(v) => return Ok(v),
                Err(e @ RpcError::Rpc { .. }) => return Err(e),
                Err(e) => {
                    if matches!(e, RpcError::Connect(_) | RpcError::Timeout) {
                        up.mark_down(&format!("{method}: {e}"));
                    }
                    errors.push(format!("{}: {e}", up.name()));
                }
            }
        }
        if errors.is_empty() {
            errors.push("every upstream is on the wrong chain".into());
        }
        Err(RpcError::NoUpstream(errors.join("; ")))
    }

    /// Probes one upstream: `eth_chainId` and the latest block.
    pub async fn probe(&self, idx: usize) {
        let up = &self.upstreams[idx];
        let start = Instant::now();
        let t = self.probe_timeout;
        let result = async {
            let chain = quantity_u64(&self.call_one(up, "eth_chainId", json!([]), t).await?)?;
            let left = t.saturating_sub(start.elapsed());
            let block = self.call_one(up, "eth_getBlockByNumber", json!(["latest", false]), left).await?;
            let number = quantity_u64(block.get("number").unwrap_or(&Value::Null))?;
            let ts = quantity_u64(block.get("timestamp").unwrap_or(&Value::Null))?;
            Ok::<_, RpcError>((chain, number, ts))
        };
        let result = tokio::time::timeout(t, result).await.unwrap_or(Err(RpcError::Timeout));
        let prev = up.health();
        let h = match result {
            Ok((chain, number, ts)) => {
                let age = age_of(ts);
                let (up_now, wrong, reason) = if chain != self.expected_chain {
                    (false, true, format!("chain id {chain}, expected {}", self.expected_chain))
                } else if age > self.max_head_age.as_secs_f64() {
                    (false, false, format!("head #{number} is {age:.0}s old (max {}s)", self.max_head_age.as_secs()))
                } else {
                    (true, false, format!("head #{number}, {age:.0}s old"))
                };
                Health {
                    up: up_now,
                    probed: true,
                    wrong_chain: wrong,
                    reason,
                    chain_id: Some(chain),
                    head_number: Some(number),
                    head_timestamp: Some(ts),
                    probe_latency: Some(start.elapsed()),
                }
            }
            Err(e) => Health {
                up: false,
                probed: true,
                reason: jsonrpc::truncate(&e.to_string(), 300),
                // Keep what we knew (chain id, head): the head age keeps growing while it is
                // unreachable, and an upstream on the wrong chain stays excluded.
                probe_latency: None,
                ..prev.clone()
            },
        };
        if h.up != prev.up || h.wrong_chain != prev.wrong_chain || !prev.probed {
            if h.up {
                tracing::info!(upstream = up.name(), reason = %h.reason, "RPC upstream healthy");
            } else {
                tracing::warn!(upstream = up.name(), reason = %h.reason, "RPC upstream unhealthy");
            }
        }
        up.set_health(h);
    }

    /// Probes every upstream concurrently.
    pub async fn probe_all(&self) {
        let probes = (0..self.upstreams.len()).map(|i| self.probe(i));
        futures_join_all(probes).await;
    }

    /// Forwards a proxied request body. Only a failed connection (nothing sent) or an HTTP 429
    /// (refused before acceptance) moves on to the next upstream; anything else is final.
    pub async fn forward(&self, body: Bytes) -> Forwarded {
        let candidates = self.candidates();
        if candidates.is_empty() {
            return Forwarded::Failed {
                status: 503,
                message: "no usable RPC upstream (every one is on the wrong chain)".into(),
            };
        }
        let mut refused = Vec::new();
        let mut last_429: Option<Relayed> = None;
        for idx in candidates {
            let up = &self.upstreams[idx];
            let sent = self
                .client
                .post(up.cfg.url.expose().clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .timeout(self.request_timeout)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if e.is_connect() => {
                    up.count(Outcome::ConnectError);
                    up.mark_down("connection failed");
                    refused.push(format!("{}: {}", up.name(), jsonrpc::transport_error(e)));
                    continue;
                }
                Err(e) => {
                    let (o, status, what) = if e.is_timeout() {
                        (Outcome::Timeout, 504, "timed out")
                    } else {
                        (Outcome::Error, 502, "failed")
                    };
                    up.count(o);
                    up.mark_down(&format!("request {what}"));
                    return Forwarded::Failed {
                        status,
                        message: format!(
                            "upstream {} {what} after the request was sent; not retried \
                             elsewhere because it may have been executed ({})",
                            up.name(),
                            jsonrpc::transport_error(e)
                        ),
                    };
                }
            };
            let status = resp.status().as_u16();
            let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).cloned();
            let body = match read_body(resp, self.max_response).await {
                Ok(b) => b,
                Err(e) => {
                    let (o, code) = match e {
                        BodyError::TooLarge { .. } => (Outcome::TooLarge, 502),
                        BodyError::Timeout => (Outcome::Timeout, 504),
                        BodyError::Io(_) => (Outcome::Error, 502),
                    };
                    up.count(o);
                    if o != Outcome::TooLarge {
                        up.mark_down("response failed");
                    }
                    return Forwarded::Failed {
                        status: code,
                        message: format!("upstream {}: {e}; not retried", up.name()),
                    };
                }
            };
            if status == 429 {
                up.count(Outcome::RateLimited);
                up.mark_down("rate limited (HTTP 429)");
                refused.push(format!("{}: HTTP 429", up.name()));
                last_429 = Some(Relayed { status, content_type, body });
                continue;
            }
            up.count(if (200..300).contains(&status) { Outcome::Ok } else { Outcome::HttpError });
            self.set_active(idx);
            return Forwarded::Answer(Relayed { status, content_type, body });
        }
        match last_429 {
            Some(r) => Forwarded::Answer(r),
            None => Forwarded::Failed {
                status: 502,
                message: format!("no RPC upstream accepted the connection: {}", refused.join("; ")),
            },
        }
    }
}

/// Awaits all futures concurrently (a tiny `join_all`, to avoid a dependency for one use).
async fn futures_join_all<F: std::future::Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut pending: Vec<_> = set.iter_mut().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for slot in pending.iter_mut() {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    all_done = false;
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// Probes every upstream now and then every `interval`, until the process ends.
pub async fn run_probes(pool: Arc<Pool>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        pool.probe_all().await;
    }
}
