//! `lpwatch collect`: the collector the community runs in front of a Prometheus remote-write
//! receiver. Each push is checked in order (size, signatures and delegation with
//! [`crate::share::proof`], no replay, the orchestrator active on chain, only allowlisted series
//! with at most `cell` and `region` labels); what passes is forwarded with an `orchestrator` label, the
//! rest is refused with its own status and counted (`/metrics`: `lpcollect_pushes_total`).
//! It also serves the public map (`/`, `map.html`) of the aggregates that
//! `rules/lpshare.rules.yml` records (`/api/cells`, read by `public`), and the raw series to
//! orchestrators who sign in (`/api/challenge`, `/api/session`, `/api/raw`, with `signin`).
//! `config` reads its file, `chain` asks the chain who is an orchestrator.

pub mod chain;
pub mod config;
pub mod public;
pub mod signin;

use crate::abi::Address;
use crate::server::{respond, serve, Handler, Limits, Resp};
use crate::share::proof::{Refusal, Signed, Verifier};
use crate::share::remote_write::{self, Label, WriteRequest};
use crate::share::set::allowlist;
use bytes::Bytes;
use chain::Registry;
use config::CollectCfg;
use hyper::Request;
use signin::Sessions;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a push ended: the label of its counter, and the status the pusher gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Accepted,
    Unsigned,
    Stale,
    NotDelegated,
    BadSignature,
    Replay,
    NotRegistered,
    Oversized,
    Malformed,
    /// Prometheus refused the samples (e.g. too old): sending them again cannot help.
    Rejected,
    /// The chain or Prometheus could not be reached: the pusher keeps it and tries again.
    Unavailable,
}

impl Outcome {
    const ALL: [Outcome; 11] = [
        Outcome::Accepted,
        Outcome::Unsigned,
        Outcome::Stale,
        Outcome::NotDelegated,
        Outcome::BadSignature,
        Outcome::Replay,
        Outcome::NotRegistered,
        Outcome::Oversized,
        Outcome::Malformed,
        Outcome::Rejected,
        Outcome::Unavailable,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Unsigned => "unsigned",
            Outcome::Stale => "stale",
            Outcome::NotDelegated => "not_delegated",
            Outcome::BadSignature => "bad_signature",
            Outcome::Replay => "replay",
            Outcome::NotRegistered => "not_registered",
            Outcome::Oversized => "oversized",
            Outcome::Malformed => "malformed",
            Outcome::Rejected => "rejected",
            Outcome::Unavailable => "unavailable",
        }
    }

    fn status(self) -> u16 {
        match self {
            Outcome::Accepted => 204,
            Outcome::Unsigned | Outcome::Stale | Outcome::BadSignature => 401,
            Outcome::NotDelegated | Outcome::NotRegistered => 403,
            Outcome::Replay => 409,
            Outcome::Oversized => 413,
            Outcome::Malformed | Outcome::Rejected => 400,
            Outcome::Unavailable => 503,
        }
    }
}

impl From<Refusal> for Outcome {
    fn from(r: Refusal) -> Outcome {
        match r {
            Refusal::Unsigned => Outcome::Unsigned,
            Refusal::Stale => Outcome::Stale,
            Refusal::NotDelegated => Outcome::NotDelegated,
            Refusal::BadSignature => Outcome::BadSignature,
        }
    }
}

/// The collector: its config, the chain, the pushes seen within the window, the counters.
#[derive(Clone)]
pub struct Collector(Arc<State>);

struct State {
    cfg: CollectCfg,
    verifier: Verifier,
    sessions: Sessions,
    /// Orchestrators whose pushes were accepted, and when last: only they may read raw series.
    sharers: Mutex<HashMap<Address, std::time::Instant>>,
    registry: Registry,
    client: reqwest::Client,
    /// Push signatures seen, with their timestamps: a replay repeats one.
    seen: Mutex<HashMap<Vec<u8>, i64>>,
    counts: Mutex<BTreeMap<Outcome, u64>>,
}

impl Collector {
    pub fn new(cfg: CollectCfg) -> Result<Collector, String> {
        let registry = Registry::new(&cfg)?;
        let client = crate::client::builder([&cfg.forward, &cfg.query]).build().map_err(|e| e.to_string())?;
        let counts = Mutex::new(Outcome::ALL.iter().map(|o| (*o, 0)).collect());
        let verifier = Verifier::new(cfg.chain_id, cfg.window);
        let (sessions, seen) = (Sessions::default(), Mutex::new(HashMap::new()));
        let sharers = Mutex::new(HashMap::new());
        Ok(Collector(Arc::new(State { cfg, verifier, sessions, sharers, registry, client, seen, counts })))
    }

    fn count(&self, outcome: Outcome, why: &str) -> Resp {
        *self.0.counts.lock().unwrap_or_else(|p| p.into_inner()).entry(outcome).or_default() += 1;
        if outcome != Outcome::Accepted {
            tracing::info!("push refused ({}): {why}", outcome.label());
        }
        respond(outcome.status(), "text/plain", format!("{}: {why}\n", outcome.label()))
    }

    /// Checks one push and forwards it.
    async fn write(&self, req: Request<Bytes>) -> Resp {
        let s = &self.0;
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        let signed = match s.verifier.verify(header, req.body(), crate::clock::unix_ms()) {
            Ok(signed) => signed,
            Err(r) => return self.count(r.into(), "the push's signature or delegation does not hold"),
        };
        if !self.first_time(&signed) {
            return self.count(Outcome::Replay, "this push was received before");
        }
        match s.registry.is_active(&signed.orchestrator).await {
            Ok(true) => {}
            Ok(false) => {
                return self
                    .count(Outcome::NotRegistered, &format!("{} is not an active orchestrator", signed.orchestrator))
            }
            Err(e) => return self.count(Outcome::Unavailable, &format!("cannot read the chain: {e}")),
        }
        let mut write = match remote_write::decode(req.body()).and_then(|w| allowed(&w).map(|()| w)) {
            Ok(w) => w,
            Err(e) => return self.count(Outcome::Malformed, &e),
        };
        for ts in &mut write.timeseries {
            ts.labels.push(Label { name: "orchestrator".into(), value: signed.orchestrator.to_string() });
            ts.labels.sort_by(|a, b| a.name.cmp(&b.name));
        }
        match self.forward(remote_write::compress(&write)).await {
            Ok(()) => {
                s.sharers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(signed.orchestrator, std::time::Instant::now());
                self.count(Outcome::Accepted, "")
            }
            Err((outcome, e)) => self.count(outcome, &format!("Prometheus: {e}")),
        }
    }

    /// Records the push's signature; false if it was seen within the window. Forgets what is older.
    fn first_time(&self, signed: &Signed) -> bool {
        let mut seen = self.0.seen.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = crate::clock::unix_ms() - 2 * self.0.cfg.window.as_millis() as i64;
        seen.retain(|_, ts| *ts >= oldest);
        seen.insert(signed.signature.clone(), signed.timestamp_ms).is_none()
    }

    /// Sends accepted samples on. A 4xx from Prometheus is final ([`Outcome::Rejected`], the
    /// node drops the body); no answer or a 5xx is [`Outcome::Unavailable`] (the node retries).
    async fn forward(&self, body: Vec<u8>) -> Result<(), (Outcome, String)> {
        let mut req = self.0.client.post(self.0.cfg.forward.clone()).timeout(Duration::from_secs(10)).body(body);
        for (name, value) in remote_write::HEADERS {
            req = req.header(name, value);
        }
        let resp = req.send().await.map_err(|e| (Outcome::Unavailable, crate::jsonrpc::transport_error(e)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let why = format!("HTTP {}: {}", status.as_u16(), crate::jsonrpc::truncate(text.trim(), 200));
        Err((if status.is_client_error() { Outcome::Rejected } else { Outcome::Unavailable }, why))
    }

    /// `POST /api/session` (form: `challenge`, `signature`): a token for an active orchestrator.
    async fn sign_in(&self, req: Request<Bytes>) -> Resp {
        let form: HashMap<String, String> = url::form_urlencoded::parse(req.body()).into_owned().collect();
        let (Some(challenge), Some(signature)) = (form.get("challenge"), form.get("signature")) else {
            return respond(400, "text/plain", "a form with challenge and signature\n");
        };
        let who = match self.0.sessions.answer(challenge, signature) {
            Ok(who) => who,
            Err(e) => return respond(401, "text/plain", format!("{e}\n")),
        };
        if let Err(resp) = self.may_read(&who).await {
            return resp;
        }
        let token = self.0.sessions.open(who);
        respond(
            200,
            "application/json",
            serde_json::json!({"token": token, "orchestrator": who.to_string()}).to_string(),
        )
    }

    /// Whether `who` may read raw series: an active orchestrator that shared within the last day.
    async fn may_read(&self, who: &Address) -> Result<(), Resp> {
        match self.0.registry.is_active(who).await {
            Ok(true) => {}
            Ok(false) => return Err(respond(403, "text/plain", format!("{who} is not an active orchestrator\n"))),
            Err(e) => return Err(respond(503, "text/plain", format!("cannot read the chain: {e}\n"))),
        }
        let shared = self.0.sharers.lock().unwrap_or_else(|p| p.into_inner()).get(who).copied();
        if shared.is_none_or(|at| at.elapsed() >= SHARED_WITHIN) {
            let why = format!("{who} has not shared in the last day: raw series are for sharers\n");
            return Err(respond(403, "text/plain", why));
        }
        Ok(())
    }

    /// `GET /api/raw?query=Q` with `Authorization: Bearer TOKEN`: Prometheus's answer to Q, for a
    /// signed-in orchestrator that may still read (checked again on every request).
    async fn raw(&self, req: Request<Bytes>) -> Resp {
        let bearer =
            req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let Some(who) = bearer.and_then(|t| self.0.sessions.holder(t.trim())) else {
            let why = "sign in first: GET /api/challenge, sign it with your account, POST /api/session\n";
            return respond(401, "text/plain", why);
        };
        if let Err(resp) = self.may_read(&who).await {
            return resp;
        }
        let query = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v.into_owned());
        let Some(query) = query else { return respond(400, "text/plain", "?query=PROMQL\n") };
        let Ok(mut url) = self.0.cfg.query.join("api/v1/query") else {
            return respond(500, "text/plain", "bad query URL\n");
        };
        url.query_pairs_mut().append_pair("query", &query);
        let answer = async {
            let resp = self
                .0
                .client
                .get(url)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map_err(crate::jsonrpc::transport_error)?;
            let status = resp.status().as_u16();
            Ok::<_, String>((status, crate::bounded::read_body(resp, 8 << 20).await.map_err(|e| e.to_string())?))
        };
        match answer.await {
            Ok((status, body)) => respond(status, "application/json", body),
            Err(e) => respond(502, "text/plain", format!("cannot query Prometheus: {e}\n")),
        }
    }

    fn metrics(&self) -> Resp {
        let mut out = String::from(
            "# HELP lpcollect_pushes_total Pushes received, by how they ended.\n# TYPE lpcollect_pushes_total counter\n",
        );
        for (outcome, n) in self.0.counts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!("lpcollect_pushes_total{{result=\"{}\"}} {n}\n", outcome.label()));
        }
        respond(200, "text/plain; version=0.0.4", out)
    }
}

/// The most series one push may carry, and the longest label value: a share has a few dozen
/// series with short cell names.
const MAX_SERIES: usize = 2_000;
const MAX_LABEL_VALUE: usize = 64;
/// How recently an orchestrator must have shared to read raw series.
const SHARED_WITHIN: Duration = Duration::from_secs(24 * 3600);

/// Every series a share may hold: a name from the allowlist, at most one `cell` and one `region`
/// label of bounded length, and one sample.
fn allowed(w: &WriteRequest) -> Result<(), String> {
    let names = allowlist();
    if w.timeseries.len() > MAX_SERIES {
        return Err(format!("{} series, more than the {MAX_SERIES} a share may hold", w.timeseries.len()));
    }
    for ts in &w.timeseries {
        let mut seen: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        seen.sort_unstable();
        if seen.windows(2).any(|p| p[0] == p[1]) {
            return Err("a series repeats a label".into());
        }
        if let Some(l) = ts.labels.iter().find(|l| l.value.len() > MAX_LABEL_VALUE) {
            return Err(format!("label {:?} is longer than {MAX_LABEL_VALUE} bytes", l.name));
        }
        let name = ts.labels.iter().find(|l| l.name == "__name__").map(|l| l.value.as_str()).unwrap_or("");
        if !names.contains(&name) {
            return Err(format!("series {name:?} is not one a share holds"));
        }
        if let Some(l) = ts.labels.iter().find(|l| !["__name__", "cell", "region"].contains(&l.name.as_str())) {
            return Err(format!("label {:?} is not one a share holds", l.name));
        }
        if ts.samples.len() != 1 {
            return Err(format!("series {name:?} has {} samples, not one", ts.samples.len()));
        }
    }
    Ok(())
}

impl Handler for Collector {
    async fn handle(self, req: Request<Bytes>) -> Resp {
        match (req.method().as_str(), req.uri().path()) {
            ("POST", "/api/v1/write") => self.write(req).await,
            ("GET", "/metrics") => self.metrics(),
            ("GET", "/") => respond(200, "text/html; charset=utf-8", include_str!("map.html")),
            ("GET", "/api/challenge") => respond(200, "text/plain", self.0.sessions.challenge()),
            ("POST", "/api/session") => self.sign_in(req).await,
            ("GET", "/api/raw") => self.raw(req).await,
            ("GET", "/api/cells") => match public::read(&self.0.client, &self.0.cfg.query).await {
                Ok(a) => respond(200, "application/json", serde_json::to_vec(&a).unwrap_or_default()),
                Err(e) => respond(502, "text/plain", format!("cannot read the aggregates from Prometheus: {e}\n")),
            },
            _ => respond(
                404,
                "text/plain",
                "lpwatch collect: POST /api/v1/write, GET /metrics, / (the map), /api/cells\n",
            ),
        }
    }

    fn refuse(&self, status: u16, why: &str) -> Resp {
        if status == 413 {
            return self.count(Outcome::Oversized, why);
        }
        respond(status, "text/plain", format!("{why}\n"))
    }
}

/// Runs the collector until SIGINT or SIGTERM.
pub async fn run(cfg: CollectCfg) -> Result<(), String> {
    let listener =
        tokio::net::TcpListener::bind(cfg.listen).await.map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let limits = Limits {
        max_connections: 256,
        header_timeout: Duration::from_secs(5),
        body_timeout: Duration::from_secs(10),
        max_body: cfg.max_body_bytes,
    };
    let forward = format!("{}://{}", cfg.forward.scheme(), cfg.forward.host_str().unwrap_or("?"));
    tracing::info!("collecting shares on http://{}/api/v1/write, forwarding to {forward}", cfg.listen);
    let collector = Collector::new(cfg)?;
    tokio::spawn(serve(listener, limits, collector));
    crate::app::wait_for_signal().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::remote_write::{Sample, TimeSeries};

    fn series(labels: &[(&str, &str)], samples: usize) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
            samples: vec![Sample { value: 1.0, timestamp: 1 }; samples],
        }
    }

    #[test]
    fn only_what_a_share_holds_is_allowed() {
        let ok = series(&[("__name__", "lpshare_streams"), ("cell", "N50E010-5deg"), ("region", "europe")], 1);
        assert_eq!(allowed(&WriteRequest { timeseries: vec![ok.clone()] }), Ok(()));
        let long = "x".repeat(MAX_LABEL_VALUE + 1);
        for (bad, why) in [
            (series(&[("__name__", "node_cpu_seconds_total")], 1), "is not one a share holds"),
            (series(&[("__name__", "lpshare_streams"), ("instance", "10.0.0.1:7936")], 1), "label \"instance\""),
            (series(&[("__name__", "lpshare_streams"), ("cell", "a"), ("cell", "b")], 1), "repeats a label"),
            (series(&[("__name__", "lpshare_streams"), ("cell", &long)], 1), "longer than"),
            (series(&[("__name__", "lpshare_streams")], 2), "2 samples"),
        ] {
            let err = allowed(&WriteRequest { timeseries: vec![bad] }).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        let many = WriteRequest { timeseries: vec![ok; MAX_SERIES + 1] };
        assert!(allowed(&many).unwrap_err().contains("more than"));
    }
}
