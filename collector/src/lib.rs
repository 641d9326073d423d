//! The shared-metrics collector, which the community runs in front of a Prometheus remote-write
//! receiver (`lpshare-collector CONFIG`; a node never runs it). Each push is checked cheapest
//! first (`Collector::write`): size, rate limit of its source, its account in the active set
//! (`chain`, read once per refresh, never per push), signatures and delegation
//! ([`lpshare::proof`]), rate limit of its account (`limits`), no replay, then its content
//! (`check`: grammar, plausible values, timestamps, series per push and per orchestrator); what
//! passes is forwarded with an `orchestrator` label, the rest is refused with its own status and
//! counted (`/metrics`: `lpcollect_pushes_total`).
//! It also serves the public map (`/`, `map.html`) of the aggregates that may be published
//! (`/api/cells`, by `public` under `lpbake_rules::disclosure`'s rules), and the raw series to
//! orchestrators who sign in (`/api/challenge`, `/api/session`, `/api/raw`, with `signin`).
//! `config` reads its file.

pub mod chain;
pub mod check;
pub mod config;
pub mod limits;
pub mod public;
pub mod signin;

use bytes::Bytes;
use chain::Registry;
use config::CollectCfg;
use hyper::Request;
use limits::{Limiter, Source};
use lpbake_keystore::Address;
use lpbake_net::server::{respond, serve, wait_for_signal, Handler, Limits, Peer, Resp};
use lpshare::proof::{Refusal, Signed, Verifier};
use lpshare::remote_write::{self, Label};
use signin::Sessions;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the collector names itself to the servers it asks (the chain's RPC, Prometheus).
pub const USER_AGENT: &str = concat!("lpshare-collector/", env!("CARGO_PKG_VERSION"));

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
    /// Over the rate limit of its source or its account: 429 with `Retry-After`.
    RateLimited,
    Oversized,
    Malformed,
    /// A value no node reports (NaN, negative, past its plausible bound).
    Implausible,
    /// A sample dated outside the push's signed time (in its future, or over an hour before).
    BadTimestamp,
    /// More series than a share holds, or than one orchestrator may feed in a day.
    TooManySeries,
    /// Prometheus refused the samples (e.g. too old): sending them again cannot help.
    Rejected,
    /// The chain or Prometheus could not be reached: the pusher keeps it and tries again.
    Unavailable,
}

impl Outcome {
    const ALL: [Outcome; 15] = [
        Outcome::Accepted,
        Outcome::Unsigned,
        Outcome::Stale,
        Outcome::NotDelegated,
        Outcome::BadSignature,
        Outcome::Replay,
        Outcome::NotRegistered,
        Outcome::RateLimited,
        Outcome::Oversized,
        Outcome::Malformed,
        Outcome::Implausible,
        Outcome::BadTimestamp,
        Outcome::TooManySeries,
        Outcome::Rejected,
        Outcome::Unavailable,
    ];

    /// Its label in `lpcollect_pushes_total{result}`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Unsigned => "unsigned",
            Outcome::Stale => "stale",
            Outcome::NotDelegated => "not_delegated",
            Outcome::BadSignature => "bad_signature",
            Outcome::Replay => "replay",
            Outcome::NotRegistered => "not_registered",
            Outcome::RateLimited => "rate_limited",
            Outcome::Oversized => "oversized",
            Outcome::Malformed => "malformed",
            Outcome::Implausible => "implausible",
            Outcome::BadTimestamp => "bad_timestamp",
            Outcome::TooManySeries => "too_many_series",
            Outcome::Rejected => "rejected",
            Outcome::Unavailable => "unavailable",
        }
    }

    /// The HTTP status the pusher gets.
    pub fn status(self) -> u16 {
        match self {
            Outcome::Accepted => 204,
            Outcome::Unsigned | Outcome::Stale | Outcome::BadSignature => 401,
            Outcome::NotDelegated | Outcome::NotRegistered => 403,
            Outcome::Replay => 409,
            Outcome::RateLimited => 429,
            // Sending it again cannot help (unlike a rate limit): the node drops it.
            Outcome::Implausible | Outcome::TooManySeries => 422,
            Outcome::Oversized => 413,
            Outcome::Malformed | Outcome::BadTimestamp | Outcome::Rejected => 400,
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

impl From<&check::Refusal> for Outcome {
    fn from(r: &check::Refusal) -> Outcome {
        match r {
            check::Refusal::Malformed(_) => Outcome::Malformed,
            check::Refusal::Implausible(_) => Outcome::Implausible,
            check::Refusal::Timestamp(_) => Outcome::BadTimestamp,
            check::Refusal::TooManySeries(_) => Outcome::TooManySeries,
        }
    }
}

/// The replay set: push signatures and their timestamps, and when it was last pruned.
#[derive(Default)]
struct Seen {
    signatures: HashMap<Vec<u8>, i64>,
    pruned_ms: i64,
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
    registry: Arc<Registry>,
    /// Pushes per source address (or IPv6 /64), then per account.
    per_source: Limiter<Source>,
    per_account: Limiter<Address>,
    client: reqwest::Client,
    /// Push signatures seen, with their timestamps: a replay repeats one. Only pushes of active
    /// orchestrators within their rate limit get here, so it holds at most about
    /// members × (burst + rate × 2 × window) entries.
    seen: Mutex<Seen>,
    /// The distinct series each orchestrator fed in the last day.
    series: check::SeriesBook,
    /// The public aggregates last computed, and the instant they are for (Unix seconds).
    published: tokio::sync::Mutex<Option<(u64, String)>>,
    counts: Mutex<BTreeMap<Outcome, u64>>,
}

impl Collector {
    pub fn new(cfg: CollectCfg) -> Result<Collector, String> {
        let registry = Arc::new(Registry::new(&cfg)?);
        let per_source = Limiter::new(cfg.per_source, limits::MAX_KEYS);
        let per_account = Limiter::new(cfg.per_account, limits::MAX_KEYS);
        let client = lpbake_net::client::builder(crate::USER_AGENT, [&cfg.forward, &cfg.query])
            .build()
            .map_err(|e| e.to_string())?;
        let counts = Mutex::new(Outcome::ALL.iter().map(|o| (*o, 0)).collect());
        let verifier = Verifier::new(cfg.chain_id, cfg.window);
        let (sessions, seen) = (Sessions::default(), Mutex::new(Seen::default()));
        let sharers = Mutex::new(HashMap::new());
        Ok(Collector(Arc::new(State {
            cfg,
            verifier,
            sessions,
            sharers,
            registry,
            per_source,
            per_account,
            client,
            seen,
            series: check::SeriesBook::default(),
            published: tokio::sync::Mutex::new(None),
            counts,
        })))
    }

    fn count(&self, outcome: Outcome, why: &str) -> Resp {
        *self.0.counts.lock().unwrap_or_else(|p| p.into_inner()).entry(outcome).or_default() += 1;
        match outcome {
            Outcome::Accepted => {}
            // What strangers send by the thousand is counted, not logged one by one.
            Outcome::NotRegistered | Outcome::RateLimited => {
                tracing::debug!("push refused ({}): {why}", outcome.label())
            }
            _ => tracing::info!("push refused ({}): {why}", outcome.label()),
        }
        respond(outcome.status(), "text/plain", format!("{}: {why}\n", outcome.label()))
    }

    /// Checks one push and forwards it, cheapest checks first, so that a stranger costs little:
    /// the rate limit of its source; the account its delegation names in the active set (a set
    /// lookup, no chain call and no signature recovery: a self-made key costs nothing more); the
    /// signatures (which prove that account); the rate limit of the account (only ever spent by
    /// pushes it signed); the replay set (which only ever holds pushes of active orchestrators);
    /// then the content.
    async fn write(&self, req: Request<Bytes>) -> Resp {
        let s = &self.0;
        if let Some(source) = source(&req) {
            if let Err(wait) = s.per_source.take(Source::of(source), std::time::Instant::now()) {
                return self.limited(wait, "too many pushes from this address");
            }
        }
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        // What the delegation claims, before it is checked: an account outside the active set is
        // refused whatever its signatures; one inside must still prove it below.
        if let Some(claimed) = header(lpshare::proof::DELEGATION).and_then(lpshare::proof::claimed_orchestrator) {
            if let Some(resp) = self.unregistered(&claimed) {
                return resp;
            }
        }
        let signed = match s.verifier.verify(header, req.body(), lpbake_net::clock::unix_ms()) {
            Ok(signed) => signed,
            Err(r) => return self.count(r.into(), "the push's signature or delegation does not hold"),
        };
        if let Some(resp) = self.unregistered(&signed.orchestrator) {
            return resp;
        }
        if let Err(wait) = s.per_account.take(signed.orchestrator, std::time::Instant::now()) {
            return self.limited(wait, &format!("too many pushes for {}", signed.orchestrator));
        }
        if !self.first_time(&signed) {
            return self.count(Outcome::Replay, "this push was received before");
        }
        let mut write = match remote_write::decode(req.body()) {
            Ok(w) => w,
            Err(e) => return self.count(Outcome::Malformed, &e),
        };
        let checked = check::push(&write, signed.timestamp_ms)
            .and_then(|()| s.series.admit(signed.orchestrator, &write, std::time::Instant::now()));
        if let Err(r) = checked {
            return self.count((&r).into(), r.why());
        }
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

    /// `None` if `who` is in the active set (no chain call); else the refusal, also when the set
    /// is not known (503: the node tries again).
    fn unregistered(&self, who: &Address) -> Option<Resp> {
        match self.0.registry.is_active(who) {
            Ok(true) => None,
            Ok(false) => Some(self.count(Outcome::NotRegistered, &format!("{who} is not an active orchestrator"))),
            Err(e) => Some(self.count(Outcome::Unavailable, &format!("cannot read the chain: {e}"))),
        }
    }

    /// A 429 with `Retry-After`.
    fn limited(&self, wait: Duration, why: &str) -> Resp {
        let mut resp = self.count(Outcome::RateLimited, &format!("{why}; try again in {wait:.1?}"));
        resp.headers_mut().insert(hyper::header::RETRY_AFTER, limits::retry_after(wait).into());
        resp
    }

    /// Records the push's signature; false if it was seen within the window. Forgets what is
    /// older than twice the window, looking at most once every tenth of a window (a scan of the
    /// whole set on every push would cost more the more pushes it holds).
    fn first_time(&self, signed: &Signed) -> bool {
        let mut seen = self.0.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (now, window) = (lpbake_net::clock::unix_ms(), self.0.cfg.window.as_millis() as i64);
        if now - seen.pruned_ms >= window / 10 {
            seen.signatures.retain(|_, ts| *ts >= now - 2 * window);
            seen.pruned_ms = now;
        }
        seen.signatures.insert(signed.signature.clone(), signed.timestamp_ms).is_none()
    }

    /// Sends accepted samples on. A 4xx from Prometheus is final ([`Outcome::Rejected`], the
    /// node drops the body); no answer or a 5xx is [`Outcome::Unavailable`] (the node retries).
    async fn forward(&self, body: Vec<u8>) -> Result<(), (Outcome, String)> {
        let mut req = self.0.client.post(self.0.cfg.forward.clone()).timeout(Duration::from_secs(10)).body(body);
        for (name, value) in remote_write::HEADERS {
            req = req.header(name, value);
        }
        let resp = req.send().await.map_err(|e| (Outcome::Unavailable, lpbake_net::jsonrpc::transport_error(e)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let why = format!("HTTP {}: {}", status.as_u16(), lpbake_net::jsonrpc::truncate(text.trim(), 200));
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
        match self.0.registry.is_active(who) {
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

    /// `GET /api/raw` with `Authorization: Bearer TOKEN`: the signed-in orchestrator's own latest
    /// series (Prometheus's answer to a query the collector writes, never one the caller does), while
    /// it may still read (checked again on every request).
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
        let query = format!("{{__name__=~\"lpshare_.+\",orchestrator=\"{who}\"}}");
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
                .map_err(lpbake_net::jsonrpc::transport_error)?;
            let status = resp.status().as_u16();
            Ok::<_, String>((status, lpbake_net::bounded::read_body(resp, 8 << 20).await.map_err(|e| e.to_string())?))
        };
        match answer.await {
            Ok((status, body)) => respond(status, "application/json", body),
            Err(e) => respond(502, "text/plain", format!("cannot query Prometheus: {e}\n")),
        }
    }

    /// The public aggregates at the latest instant aligned to `publish_every`, computed once
    /// for it (one request at a time computes; the others wait and share the answer).
    async fn published(&self) -> Result<String, String> {
        let every = self.0.cfg.publish_every.as_secs().max(1);
        let at = lpbake_net::clock::unix_ms().max(0) as u64 / 1000 / every * every;
        let mut cached = self.0.published.lock().await;
        match cached.as_ref() {
            Some((when, json)) if *when == at => Ok(json.clone()),
            _ => {
                let json = public::json(&public::read(&self.0.client, &self.0.cfg.query, at).await?).to_string();
                *cached = Some((at, json.clone()));
                Ok(json)
            }
        }
    }

    fn metrics(&self) -> Resp {
        let mut out = String::from(
            "# HELP lpcollect_pushes_total Pushes received, by how they ended.\n# TYPE lpcollect_pushes_total counter\n",
        );
        for (outcome, n) in self.0.counts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!("lpcollect_pushes_total{{result=\"{}\"}} {n}\n", outcome.label()));
        }
        let r = &self.0.registry;
        let active = r.active();
        out.push_str(&format!(
            "# HELP lpcollect_chain_calls_total eth_calls made to read the active orchestrators (none per push).\n\
             # TYPE lpcollect_chain_calls_total counter\nlpcollect_chain_calls_total {}\n\
             # HELP lpcollect_active_set_reads_total Complete reads of the active orchestrators from the chain.\n\
             # TYPE lpcollect_active_set_reads_total counter\nlpcollect_active_set_reads_total {}\n\
             # HELP lpcollect_active_orchestrators Orchestrators in the active set last read.\n\
             # TYPE lpcollect_active_orchestrators gauge\nlpcollect_active_orchestrators {}\n\
             # HELP lpcollect_active_set_round The round the active set was last read for.\n\
             # TYPE lpcollect_active_set_round gauge\nlpcollect_active_set_round {}\n",
            r.chain_calls(),
            r.reads(),
            active.as_ref().map_or(0, |a| a.members.len()),
            active.as_ref().map_or(0, |a| a.round),
        ));
        respond(200, "text/plain; version=0.0.4", out)
    }
}

/// Where a request comes from: its peer, or, when the peer is a proxy on this machine (a loopback
/// address: nodes push over https, so a TLS proxy usually fronts the collector), the address that
/// proxy appended last to `X-Forwarded-For` (the one it saw; earlier entries are the client's word).
fn source(req: &Request<Bytes>) -> Option<std::net::IpAddr> {
    let Peer(peer) = req.extensions().get::<Peer>()?;
    if !peer.ip().is_loopback() {
        return Some(peer.ip());
    }
    let forwarded = req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).next_back();
    Some(forwarded.and_then(|v| v.rsplit(',').next()?.trim().parse().ok()).unwrap_or(peer.ip()))
}

/// How recently an orchestrator must have shared to read raw series.
const SHARED_WITHIN: Duration = Duration::from_secs(24 * 3600);

impl Handler for Collector {
    async fn handle(self, req: Request<Bytes>) -> Resp {
        match (req.method().as_str(), req.uri().path()) {
            ("POST", "/api/v1/write") => self.write(req).await,
            ("GET", "/metrics") => self.metrics(),
            ("GET", "/") => respond(200, "text/html; charset=utf-8", include_str!("map.html")),
            ("GET", "/api/challenge") => respond(200, "text/plain", self.0.sessions.challenge()),
            ("POST", "/api/session") => self.sign_in(req).await,
            ("GET", "/api/raw") => self.raw(req).await,
            ("GET", "/api/cells") => match self.published().await {
                Ok(json) => respond(200, "application/json", json),
                Err(e) => respond(502, "text/plain", format!("cannot read the aggregates from Prometheus: {e}\n")),
            },
            _ => respond(
                404,
                "text/plain",
                "lpshare-collector: POST /api/v1/write, GET /metrics, / (the map), /api/cells\n",
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

/// Starts the collector on `cfg.listen` in the current runtime: serving once this returns.
pub async fn start(cfg: CollectCfg) -> Result<(), String> {
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
    tokio::spawn(collector.0.registry.clone().watch());
    tokio::spawn(serve(listener, limits, collector));
    Ok(())
}

/// Runs the collector until SIGINT or SIGTERM.
pub async fn run(cfg: CollectCfg) -> Result<(), String> {
    start(cfg).await?;
    wait_for_signal().await;
    Ok(())
}
