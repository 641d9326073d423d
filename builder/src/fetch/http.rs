//! https (and loopback http) downloads of URLs [`crate::urls::source`] accepted: bounded
//! retries that resume where a dropped connection stopped, redirects judged by the same policy,
//! and never more bytes read than the pin allows.

use super::wrong_size;
use crate::error::{Error, Result};
use crate::report::Reporter;
use crate::store::BlobWriter;
use futures_util::StreamExt;
use std::io::Write;
use std::time::Duration;
use url::Url;

const ATTEMPTS: u32 = 4;
const MAX_REDIRECTS: usize = 10;

/// The client every download uses. A redirect is followed only to https, or to loopback http
/// from a loopback URL: a remote server cannot send lpbake to plain http or to this machine.
pub fn client() -> Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let to = attempt.url();
        let from_loopback = attempt.previous().iter().all(crate::urls::is_loopback);
        let allowed = match to.scheme() {
            "https" => true,
            "http" => from_loopback && crate::urls::is_loopback(to),
            _ => false,
        };
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if allowed {
            attempt.follow()
        } else {
            let msg = format!("refused a redirect to {}://{}", to.scheme(), to.host_str().unwrap_or_default());
            attempt.error(msg)
        }
    });
    reqwest::Client::builder()
        .user_agent(concat!("lpbake/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .redirect(policy)
        .build()
        .map_err(|e| Error::Fetch {
            what: "https client".into(),
            msg: e.to_string(),
            fix: "check the system's TLS setup".into(),
        })
}

/// Streams `url` into `w`, retrying transient failures and resuming with a Range request;
/// with a `limit`, a body announced or found larger is refused at once.
pub async fn download(
    client: &reqwest::Client,
    url: &Url,
    mut w: BlobWriter,
    limit: Option<u64>,
    report: &Reporter,
) -> Result<BlobWriter> {
    let fail = |msg: String, fix: &str| Error::Fetch { what: url.to_string(), msg, fix: fix.to_string() };
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
            report.step(format!("retrying {url} at byte {} ({last})", w.written()));
        }
        let mut req = client.get(url.clone());
        if w.written() > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={}-", w.written()));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_redirect() => {
                return Err(fail(with_sources(&e), "use the final https:// URL of the file in the spec"));
            }
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let status = resp.status();
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(fail(
                format!("the server answered {status}"),
                "check the URL in the spec; the upstream file may have moved",
            ));
        }
        if !status.is_success() {
            last = format!("the server answered {status}");
            continue;
        }
        if w.written() > 0 && status != reqwest::StatusCode::PARTIAL_CONTENT {
            // The server ignored the range: start over.
            w = fresh(w)?;
        }
        let total = resp.content_length().map(|n| n + w.written());
        if let Some((total, limit)) = total.zip(limit).filter(|(t, l)| t > l) {
            return Err(wrong_size(url.as_str(), limit, total));
        }
        let name = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default();
        let bar = report.bytes(total, name.to_string());
        bar.set_position(w.written());
        let mut body = resp.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => {
                    let count = w.written() + c.len() as u64;
                    if let Some(limit) = limit.filter(|&l| count > l) {
                        return Err(wrong_size(url.as_str(), limit, count));
                    }
                    w.write_all(&c).map_err(|e| fail(e.to_string(), "check free space in the cache directory"))?;
                    bar.inc(c.len() as u64);
                }
                Err(e) => {
                    broken = Some(e.to_string());
                    break;
                }
            }
        }
        bar.finish_and_clear();
        match broken {
            None => return Ok(w),
            Some(e) => last = e,
        }
    }
    Err(fail(
        format!("gave up after {ATTEMPTS} attempts: {last}"),
        "check the network, or use --mirror DIR / --offline with a filled cache",
    ))
}

fn fresh(w: BlobWriter) -> Result<BlobWriter> {
    let store = w.store().clone();
    drop(w);
    store.writer().map_err(|e| Error::io(store.root(), e))
}

/// `e` and the errors beneath it, as one line.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        msg.push_str(&format!(": {s}"));
        cur = s.source();
    }
    msg
}
