//! Every push the collector must refuse, one test each, against a real `geth --dev` with stub
//! Livepeer contracts and a real Prometheus receiver: after one accepted push by an active
//! orchestrator's delegated key, the refused push gets its own status, its own counter and no
//! other, and Prometheus still holds exactly the accepted sample.

mod common;

use common::collect::{delegated, now_ms, Collect};
use common::prometheus::query;
use lpwatch::share::proof::{Delegation, Reporter};
use lpwatch::share::remote_write;
use lpwatch::share::set::Series;
use serde_json::json;

/// Every `lpcollect_pushes_total` result a refusal can end in.
const REFUSALS: [&str; 8] =
    ["unsigned", "bad_signature", "stale", "replay", "not_delegated", "not_registered", "malformed", "oversized"];

/// A collector that has accepted one push: `body` (`lpshare_sessions` 7), signed as `signed` by
/// a reporting key that the active orchestrator `account` delegated as `good`.
struct Accepted {
    c: Collect,
    reporter: Reporter,
    good: Delegation,
    body: Vec<u8>,
    signed: [(&'static str, String); 4],
    account: String,
    _dir: tempfile::TempDir,
}

fn sessions(value: f64) -> Vec<u8> {
    remote_write::encode(&[Series { name: "lpshare_sessions", place: None, value }], now_ms())
}

async fn accepted() -> Accepted {
    let c = Collect::start("1s").await;
    let dir = tempfile::tempdir().unwrap();
    let reporter = Reporter::load_or_create(&dir.path().join("reporting-key")).unwrap();
    let orchestrator = lpbake_keystore::random_key();
    let good = delegated(&orchestrator, &reporter);
    let body = sessions(7.0);
    let signed = reporter.sign(&good, now_ms(), &body);
    assert_eq!(c.push(body.clone(), &signed).await, 204, "the push every refusal is set against");
    Accepted {
        c,
        reporter,
        good,
        body,
        signed,
        account: format!("0x{}", hex::encode(lpbake_keystore::address(&orchestrator))),
        _dir: dir,
    }
}

impl Accepted {
    /// Pushes `body` with `headers` and checks that it is refused with `status`, counted as
    /// `result` and nothing else, and that Prometheus holds only the accepted push.
    async fn refuses(&self, body: Vec<u8>, headers: &[(&str, String)], status: u16, result: &str) {
        assert_eq!(self.c.push(body, headers).await, status, "{result}");
        assert_eq!(self.c.count("accepted").await, 1.0);
        for other in REFUSALS {
            let want = if other == result { 1.0 } else { 0.0 };
            assert_eq!(self.c.count(other).await, want, "lpcollect_pushes_total{{result=\"{other}\"}}");
        }
        let held = query(self.c.prom_port, "{orchestrator=~\".+\"}").await;
        assert_eq!(held.len(), 1, "Prometheus holds more than the accepted push: {held:?}");
        assert_eq!(held[0]["metric"], json!({"__name__": "lpshare_sessions", "orchestrator": self.account}));
        assert_eq!(held[0]["value"][1], "7", "a refused push reached Prometheus: {held:?}");
    }
}

#[tokio::test]
async fn an_unsigned_push_is_refused() {
    let a = accepted().await;
    a.refuses(sessions(8.0), &[], 401, "unsigned").await;
}

#[tokio::test]
async fn a_push_whose_signature_is_for_another_body_is_refused() {
    let a = accepted().await;
    a.refuses(sessions(8.0), &a.signed, 401, "bad_signature").await;
}

#[tokio::test]
async fn a_push_signed_outside_the_time_window_is_refused() {
    let a = accepted().await;
    let body = sessions(8.0);
    let two_minutes_ago = a.reporter.sign(&a.good, now_ms() - 120_000, &body);
    a.refuses(body, &two_minutes_ago, 401, "stale").await;
}

#[tokio::test]
async fn a_replayed_push_is_refused() {
    let a = accepted().await;
    a.refuses(a.body.clone(), &a.signed, 409, "replay").await;
}

#[tokio::test]
async fn a_key_no_orchestrator_delegated_is_refused() {
    let a = accepted().await;
    let mut forged = a.good.clone();
    forged.signature = lpbake_keystore::sign_text(&lpbake_keystore::random_key(), a.good.text.as_bytes()).to_vec();
    let body = sessions(8.0);
    let headers = a.reporter.sign(&forged, now_ms(), &body);
    a.refuses(body, &headers, 403, "not_delegated").await;
}

#[tokio::test]
async fn a_key_delegated_by_a_retired_orchestrator_is_refused() {
    let a = accepted().await;
    let retired = lpbake_keystore::random_key();
    a.c.retire(&retired).await;
    let body = sessions(8.0);
    let headers = a.reporter.sign(&delegated(&retired, &a.reporter), now_ms(), &body);
    a.refuses(body, &headers, 403, "not_registered").await;
}

#[tokio::test]
async fn a_body_that_is_not_remote_write_is_refused() {
    let a = accepted().await;
    let garbage = b"not snappy at all".to_vec();
    let headers = a.reporter.sign(&a.good, now_ms(), &garbage);
    a.refuses(garbage, &headers, 400, "malformed").await;
}

#[tokio::test]
async fn a_series_no_share_holds_is_refused() {
    let a = accepted().await;
    let other = remote_write::encode(&[Series { name: "node_cpu_seconds_total", place: None, value: 1.0 }], now_ms());
    let headers = a.reporter.sign(&a.good, now_ms(), &other);
    a.refuses(other, &headers, 400, "malformed").await;
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let a = accepted().await;
    // The collector's max_body_bytes is 65536.
    let big = vec![0u8; 70_000];
    let headers = a.reporter.sign(&a.good, now_ms(), &big);
    a.refuses(big, &headers, 413, "oversized").await;
}
