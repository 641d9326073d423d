//! Opt-in shared network metrics: what an orchestrator agrees to share about the demand it sees,
//! and nothing more. `[share]` in the config sets it up. Here: `lpwatch share --dry-run` (what a
//! share holds), `--remote-write` (the block for an operator's own Prometheus), `--sign-in` (a
//! token for a collector's raw series), where shares may go, and the last share for `/metrics`.
//! The jobs: `conns` finds the gateways connected to the service port, `geo` reduces them to
//! coarse cells the disclosure rules let a node share (at least k gateways, each a network, none
//! dominant), `set` computes the shared series from livepeer's metrics, the cells and the
//! kernel's byte count (`kernel`), which checks livepeer's own; `remote_write` encodes them and
//! `proof` signs them (both `lpshare`'s, the format the collector checks), `queue` keeps what is
//! not sent yet, `push` is the loop that makes shares every `share.interval` and sends them when
//! `share.endpoint` is set.

pub mod conns;
pub mod geo;
pub mod kernel;
pub mod push;
pub mod queue;
pub mod set;
pub use lpshare::{proof, remote_write};

use crate::config::{Config, ShareCfg};
use crate::livepeer::{CliError, LivepeerCli};
use geo::{Geo, GeoError};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// Where shares may go: https, or plain http to a loopback address (judged by the parsed host).
pub fn endpoint_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if lpbake_rules::host::is_loopback(&url) => Ok(url),
        "http" => Err("shares leave the machine only over https:// (http:// is for a loopback address)".into()),
        other => Err(format!("only https:// URLs (got {other}://)")),
    }
}

/// The `remote_write` block for an operator's own Prometheus that scrapes lpwatch's `/metrics`:
/// it sends the shared series to `url` and nothing else, with only their cell and region labels.
pub fn remote_write_config(url: &reqwest::Url) -> String {
    format!(
        "# For your Prometheus, which scrapes lpwatch's /metrics (lpwatch serves the share there when\n\
         # [share] is set): only the shared series leave, with only their cell and region labels.\n\
         remote_write:\n  - url: \"{url}\"\n    write_relabel_configs:\n      - source_labels: [__name__]\n        \
         regex: \"{}\"\n        action: keep\n      - regex: \"__name__|cell|region\"\n        action: labelkeep\n",
        set::allowlist().join("|")
    )
}

/// Whether `text` is a collector's sign-in challenge and nothing else: a collector that sent a
/// delegation text instead would get the account's signature on a delegation to its own key.
fn is_challenge(text: &str) -> bool {
    text.strip_prefix("lpshare sign-in v1 nonce=")
        .is_some_and(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `lpwatch share --sign-in URL`: gets a challenge from the collector at `collector`, has
/// livepeer's account sign it (after checking it is one), and returns the collector's answer
/// (a token for its raw series).
pub async fn sign_in(cfg: &Config, collector: &reqwest::Url) -> Result<String, String> {
    let timeout = Duration::from_secs(10);
    let client = crate::client::builder(crate::USER_AGENT, [collector]).build().map_err(|e| e.to_string())?;
    let url = |path: &str| collector.join(path).map_err(|e| e.to_string());
    let get =
        client.get(url("/api/challenge")?).timeout(timeout).send().await.map_err(crate::jsonrpc::transport_error)?;
    let challenge =
        String::from_utf8_lossy(&crate::bounded::read_body(get, 4096).await.map_err(|e| e.to_string())?).into_owned();
    if !is_challenge(&challenge) {
        return Err(
            "the collector's challenge is not one (lpshare sign-in v1 nonce=<64 hex digits>): nothing signed".into()
        );
    }
    let cli = LivepeerCli::new(cfg.livepeer.cli_url.clone())?;
    let signature = cli.sign_message(&challenge, timeout).await.map_err(|e| e.to_string())?;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("challenge", &challenge)
        .append_pair("signature", &format!("0x{}", hex::encode(signature)))
        .finish();
    let resp = client
        .post(url("/api/session")?)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .timeout(timeout)
        .send()
        .await
        .map_err(crate::jsonrpc::transport_error)?;
    let status = resp.status();
    let body =
        String::from_utf8_lossy(&crate::bounded::read_body(resp, 4096).await.map_err(|e| e.to_string())?).into_owned();
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("the collector refused the sign-in (HTTP {}): {}", status.as_u16(), body.trim()))
    }
}

/// The last share made, as Prometheus text, for lpwatch's `/metrics` (empty until the first).
#[derive(Debug, Default)]
pub struct Latest(std::sync::Mutex<String>);

impl Latest {
    pub fn set(&self, text: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Why no share could be made.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error(
        "the config has no [share] table: add one, e.g.\n  [share]\n  mmdb = \"/var/lib/lpwatch/GeoLite2-City.mmdb\"\n\
         (see watch/README.md, \"Sharing network metrics\")"
    )]
    NotConfigured,
    #[error("{0}")]
    Geo(#[from] GeoError),
    #[error("cannot read livepeer's /metrics ({0}); livepeer serves it only when started with -monitor")]
    Metrics(CliError),
    #[error("cannot read the kernel's connection table: {0}")]
    Conns(std::io::Error),
    #[error("share queue: {0}; share.queue_dir must be a directory lpwatch may write")]
    Queue(std::io::Error),
    #[error("share reporting key: {0}")]
    Key(std::io::Error),
}

/// The share lpwatch would make now, as Prometheus text after a header saying what it is:
/// livepeer's `/metrics` is read twice, `window` apart (for pixels per second).
pub async fn dry_run(cfg: &Config, window: Duration) -> Result<String, ShareError> {
    let share = cfg.share.as_ref().ok_or(ShareError::NotConfigured)?;
    let geo = Geo::open(&share.mmdb, share.cell)?;
    let cli = LivepeerCli::new(cfg.livepeer.cli_url.clone()).map_err(|e| ShareError::Metrics(CliError::Other(e)))?;
    let read = || async { cli.metrics(cfg.checks.timeout).await.map_err(ShareError::Metrics) };
    let before = read().await?;
    tokio::time::sleep(window).await;
    let after = read().await?;
    let kernel_bytes_ratio = kernel_bytes_ratio(&cli, share, cfg.checks.timeout).await;
    let peers = gateways(share)?;
    let cells = geo.bin(&peers, share.min_gateways);
    let readings = set::Readings { before: &before, after: &after, window, cells: &cells, kernel_bytes_ratio };
    let series = set::series(&readings, &share.extras);
    Ok(format!(
        "# lpwatch share --dry-run: {} series; cells of {}, each with at least {} gateways; pixels over {}\n{}",
        series.len(),
        share.cell,
        share.min_gateways,
        crate::units::format_duration(window),
        set::exposition(&series)
    ))
}

/// The bytes the kernel received on the service port over the bytes livepeer reports it received
/// (its streams' `SourceBytes`); `None` where livepeer reports none (it does as a gateway).
pub(crate) async fn kernel_bytes_ratio(cli: &LivepeerCli, share: &ShareCfg, timeout: Duration) -> Option<f64> {
    let reported = cli.status(timeout).await.ok()?.source_bytes;
    if reported == 0 {
        return None;
    }
    match kernel::bytes_received(share.service_port) {
        Ok(kernel) => Some(kernel as f64 / reported as f64),
        Err(e) => {
            tracing::warn!("share: cannot read the kernel's byte count: {e}");
            None
        }
    }
}

/// The peers of established connections to the service port, without the ignored networks.
pub(crate) fn gateways(share: &ShareCfg) -> Result<Vec<IpAddr>, ShareError> {
    let peers = conns::remote_addrs(Path::new(conns::PROC_NET), share.service_port).map_err(ShareError::Conns)?;
    Ok(peers.into_iter().filter(|ip| !share.ignore.iter().any(|net| net.contains(ip))).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_challenge_is_signed_for_a_collector() {
        assert!(super::is_challenge(&format!("lpshare sign-in v1 nonce={}", "ab".repeat(32))));
        let delegation = "lpshare delegation v1 orchestrator=0x01 reporter=0x02 chain=42161";
        assert!(!super::is_challenge(delegation));
        assert!(!super::is_challenge(&format!("lpshare sign-in v1 nonce={} {delegation}", "ab".repeat(32))));
    }
}
