//! https downloads with bounded retries that resume where a dropped connection stopped.

use crate::error::{Error, Result};
use crate::report::Reporter;
use crate::store::BlobWriter;
use futures_util::StreamExt;
use std::io::Write;
use std::time::Duration;

const ATTEMPTS: u32 = 4;

/// Streams `url` into `w`, retrying transient failures and resuming with a Range request.
pub async fn download(client: &reqwest::Client, url: &str, mut w: BlobWriter, report: &Reporter) -> Result<BlobWriter> {
    check_scheme(url)?;
    let fail = |msg: String, fix: &str| Error::Fetch { what: url.to_string(), msg, fix: fix.to_string() };
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
            report.step(format!("retrying {url} at byte {} ({last})", w.written()));
        }
        let mut req = client.get(url);
        if w.written() > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={}-", w.written()));
        }
        let resp = match req.send().await {
            Ok(r) => r,
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
        let bar = report.bytes(total, url.rsplit('/').next().unwrap_or(url).to_string());
        bar.set_position(w.written());
        let mut body = resp.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => {
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

/// Plain http only to loopback; everything else must be https.
fn check_scheme(url: &str) -> Result<()> {
    let ok = url.starts_with("https://")
        || ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| url.starts_with(p));
    if ok {
        Ok(())
    } else {
        Err(Error::Fetch {
            what: url.into(),
            msg: "only https:// (or http:// to loopback, or file://) URLs are fetched".into(),
            fix: "use the https URL of the upstream file".into(),
        })
    }
}
