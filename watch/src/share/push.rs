//! The share loop: with `[share]`, every `share.interval` lpwatch makes a share and keeps it for
//! its `/metrics`. With `share.endpoint` set it also puts the share's remote-write body in the
//! on-disk queue, then sends the queue oldest first, each body signed by the reporting key at
//! the moment it is sent. A body the endpoint refuses (4xx but
//! 429) is dropped and logged; one that cannot be delivered stays for the next round. Nothing
//! is sent before the orchestrator's account has delegated the reporting key (asked once of
//! livepeer's `/signMessage`, then kept beside the key). lpwatch only connects out: it opens no
//! port for sharing.

use super::geo::Geo;
use super::proof::{delegation_text, Delegation, Reporter};
use super::queue::Queue;
use super::{gateways, kernel_bytes_ratio, remote_write, set, Latest, ShareError};
use crate::config::{Config, SecretUrl, ShareCfg};
use crate::livepeer::LivepeerCli;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tries per queued body and round; waits 1 s, then 2 s between them.
const ATTEMPTS: u32 = 3;
/// The longest one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest kept delegation read (its text and the signature's hex: a few hundred bytes).
const MAX_DELEGATION_BYTES: u64 = 4 << 10;

/// How a round of sending ended.
#[derive(Debug, PartialEq, Eq)]
enum Drained {
    /// Sent what could be sent; the rest waits.
    Done,
    /// The endpoint does not take the delegation (403 `not_delegated`).
    NotDelegated,
}

/// What an endpoint did with one body.
enum Sent {
    Accepted,
    /// Refused for good (a 4xx other than 429): sending it again cannot help. `u16` the status.
    Refused(u16, String),
    /// Not delivered (no connection, a timeout, 429, 5xx): it stays queued.
    Failed(String),
}

/// The share loop: the geo database and where shares go, ready before lpwatch serves.
pub struct Sharer {
    cfg: Arc<Config>,
    geo: Geo,
    latest: Arc<Latest>,
    push: Option<Pusher>,
}

/// Where shares are sent, with `share.endpoint`.
struct Pusher {
    endpoint: SecretUrl,
    queue: Queue,
    client: reqwest::Client,
    reporter: Reporter,
}

impl Sharer {
    /// The share loop for `cfg`, keeping each share in `latest`; `None` without `[share]`.
    pub fn new(cfg: Arc<Config>, latest: Arc<Latest>) -> Result<Option<Sharer>, ShareError> {
        let Some(share) = &cfg.share else { return Ok(None) };
        let geo = Geo::open(&share.mmdb, share.cell)?;
        let push = match share.endpoint.clone() {
            None => None,
            Some(endpoint) => {
                let queue = Queue::open(&share.queue_dir, share.queue_max_bytes).map_err(ShareError::Queue)?;
                let reporter = Reporter::load_or_create(&share.key_file).map_err(ShareError::Key)?;
                let client = crate::client::builder(crate::USER_AGENT, [endpoint.expose()])
                    .connect_timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|e| {
                        ShareError::Queue(std::io::Error::other(format!("cannot build the HTTP client: {e}")))
                    })?;
                Some(Pusher { endpoint, queue, client, reporter })
            }
        };
        Ok(Some(Sharer { cfg, geo, latest, push }))
    }

    fn share(&self) -> &ShareCfg {
        self.cfg.share.as_ref().expect("a Sharer is made only with [share]")
    }

    /// Shares every `share.interval` until lpwatch stops.
    pub async fn run(self, cli: LivepeerCli) {
        let timeout = self.cfg.checks.timeout;
        let every = crate::units::format_duration(self.share().interval);
        match &self.push {
            Some(p) => tracing::info!("share: every {every} to {}", p.endpoint.redacted()),
            None => tracing::info!("share: every {every} on /metrics only (no share.endpoint)"),
        }
        let mut before = cli.metrics(timeout).await.ok().map(|m| (m, Instant::now()));
        let mut tick = tokio::time::interval(self.share().interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut delegation = None;
        loop {
            tick.tick().await;
            match cli.metrics(timeout).await {
                Ok(m) => {
                    let after = (m, Instant::now());
                    let ratio = kernel_bytes_ratio(&cli, self.share(), timeout).await;
                    if let Err(e) = self.make(before.as_ref(), &after, ratio) {
                        tracing::warn!("share: {e}");
                    }
                    before = Some(after);
                }
                Err(e) => tracing::warn!("share: cannot read livepeer's /metrics, no share this round: {e}"),
            }
            let Some(push) = &self.push else { continue };
            if delegation.is_none() {
                delegation = self.delegate(push, &cli).await;
            }
            if let Some(d) = &delegation {
                if push.drain(d).await == Drained::NotDelegated {
                    // The account changed, or the collector is on another chain: ask again.
                    tracing::warn!("share: the endpoint does not take the delegation; asking livepeer's account again");
                    let _ = std::fs::remove_file(self.delegation_path());
                    delegation = None;
                }
            }
        }
    }

    /// Where the delegation of the reporting key is kept: beside the key.
    fn delegation_path(&self) -> PathBuf {
        let key = &self.share().key_file;
        key.with_file_name(format!(
            "{}.delegation",
            key.file_name().map_or("share-key".into(), |n| n.to_string_lossy())
        ))
    }

    /// The delegation of the reporting key by livepeer's account (`/ethAddr`) on this chain: the
    /// kept one if it is exactly that, else asked of `/signMessage` and kept.
    async fn delegate(&self, push: &Pusher, cli: &LivepeerCli) -> Option<Delegation> {
        let timeout = self.cfg.checks.timeout;
        let chain_id = self.cfg.chain_id?;
        let attempt = async {
            let account = cli.eth_addr(timeout).await?;
            let text = delegation_text(&account, &push.reporter.address, chain_id);
            if let Some(kept) = self.kept_delegation(&text) {
                return Ok((kept, false));
            }
            let signature = cli.sign_message(&text, timeout).await?;
            Ok::<_, crate::livepeer::CliError>((Delegation { text, signature }, true))
        };
        match attempt.await {
            Ok((d, new)) => {
                if new {
                    let kept = format!("{}\n{}\n", d.text, hex::encode(&d.signature));
                    if let Err(e) = super::proof::write_private(&self.delegation_path(), kept.as_bytes()) {
                        tracing::warn!(
                            "share: cannot keep the delegation in {}: {e}",
                            self.delegation_path().display()
                        );
                    }
                    tracing::info!("share: reporting key {} delegated by livepeer's account", push.reporter.address);
                }
                Some(d)
            }
            Err(e) => {
                tracing::warn!("share: livepeer's account has not delegated the reporting key yet, nothing sent: {e}");
                None
            }
        }
    }

    /// The kept delegation if its text is `text` (text on the first line, the signature's hex
    /// on the second). One that cannot be read (also one that is no regular file, or too large
    /// to be one) is asked for again.
    fn kept_delegation(&self, text: &str) -> Option<Delegation> {
        let kept = match lpbake_rules::read::text(&self.delegation_path(), MAX_DELEGATION_BYTES) {
            Ok(kept) => kept,
            Err(e) if e.is_not_found() => return None,
            Err(e) => {
                tracing::warn!("share: the kept delegation is not used: {e}");
                return None;
            }
        };
        let (kept_text, signature) = kept.trim().split_once('\n')?;
        if kept_text != text {
            return None;
        }
        Some(Delegation { text: text.to_string(), signature: hex::decode(signature.trim()).ok()? })
    }

    /// Makes the share from two readings of `/metrics` (and the kernel's byte ratio), keeps it for
    /// `/metrics` and, when pushing, queues it.
    fn make(
        &self,
        before: Option<&(String, Instant)>,
        after: &(String, Instant),
        kernel_bytes_ratio: Option<f64>,
    ) -> Result<(), ShareError> {
        let share = self.share();
        let cells = self.geo.bin(&gateways(share)?, share.min_gateways);
        // Without an earlier reading the window is empty: no pixels are counted.
        let (prev, window) = match before {
            Some((text, at)) => (text.as_str(), after.1.duration_since(*at)),
            None => (after.0.as_str(), Duration::ZERO),
        };
        let readings = set::Readings { before: prev, after: &after.0, window, cells: &cells, kernel_bytes_ratio };
        let series = set::series(&readings, &share.extras);
        self.latest.set(set::exposition(&series));
        let Some(push) = &self.push else { return Ok(()) };
        let now_ms = crate::clock::unix_ms();
        push.queue.push(now_ms, &remote_write::encode(&series, now_ms)).map_err(ShareError::Queue)
    }
}

impl Pusher {
    /// Sends the queue oldest first, stopping at the first body that cannot be delivered, or
    /// when the endpoint does not take the delegation (the body stays queued).
    async fn drain(&self, delegation: &Delegation) -> Drained {
        let entries = match self.queue.entries() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("share: {e}");
                return Drained::Done;
            }
        };
        let to = self.endpoint.redacted();
        for path in entries {
            match self.send_file(&path, delegation).await {
                Sent::Accepted => {}
                Sent::Refused(403, why) if why.contains("not_delegated") => return Drained::NotDelegated,
                Sent::Refused(_, why) => tracing::warn!("share: {to} refused a share, dropped: {why}"),
                Sent::Failed(why) => {
                    tracing::warn!("share: cannot send to {to}, kept queued: {why}");
                    return Drained::Done;
                }
            }
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!("share: cannot remove {}: {e}", path.display());
                return Drained::Done;
            }
        }
        Drained::Done
    }

    async fn send_file(&self, path: &Path, delegation: &Delegation) -> Sent {
        let body = match self.queue.read(path) {
            Ok(b) => b,
            Err(e) => return Sent::Refused(0, e.to_string()),
        };
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
            match self.send(body.clone(), delegation).await {
                Sent::Failed(why) => last = why,
                done => return done,
            }
        }
        Sent::Failed(last)
    }

    async fn send(&self, body: Vec<u8>, delegation: &Delegation) -> Sent {
        let now_ms = crate::clock::unix_ms();
        let signed = self.reporter.sign(delegation, now_ms, &body);
        let mut req = self.client.post(self.endpoint.expose().clone()).timeout(REQUEST_TIMEOUT).body(body);
        for (name, value) in remote_write::HEADERS {
            req = req.header(name, value);
        }
        for (name, value) in signed {
            req = req.header(name, value);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Sent::Failed(crate::jsonrpc::transport_error(e)),
        };
        let status = resp.status();
        if status.is_success() {
            return Sent::Accepted;
        }
        let text = resp.text().await.unwrap_or_default();
        let why = format!("HTTP {}: {}", status.as_u16(), crate::jsonrpc::truncate(text.trim(), 200));
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            Sent::Refused(status.as_u16(), why)
        } else {
            Sent::Failed(why)
        }
    }
}
