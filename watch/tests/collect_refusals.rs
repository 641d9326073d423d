//! Every push the collector must refuse, one test each, against a real `geth --dev` with stub
//! Livepeer contracts and a real Prometheus receiver: after one accepted push by an active
//! orchestrator's delegated key, the refused push gets its own status, its own counter and no
//! other, and Prometheus still holds exactly the accepted sample. Then the hostile floods: keys
//! no orchestrator in the active set owns cost no chain call and fill nothing, bursts past the
//! rate limits get 429, and a real orchestrator's next push is still accepted.

mod common;

use common::collect::{address_of, delegated, now_ms, Collect};
use common::prometheus::query;
use lpwatch::share::proof::{Delegation, Reporter};
use lpwatch::share::remote_write;
use lpwatch::share::set::Series;
use serde_json::json;

/// Every `lpcollect_pushes_total` result a refusal can end in.
const REFUSALS: [&str; 12] = [
    "unsigned",
    "bad_signature",
    "stale",
    "replay",
    "not_delegated",
    "not_registered",
    "rate_limited",
    "malformed",
    "implausible",
    "bad_timestamp",
    "too_many_series",
    "oversized",
];

/// A collector that has accepted one push: `body` (`lpshare_sessions` 7 of 100), signed as `signed` by
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

/// The smallest share: `value` sessions of 100.
fn sessions(value: f64) -> Vec<u8> {
    share(value, &[], now_ms())
}

/// A share of `value` sessions of 100, with `more` series, sampled at `at_ms`.
fn share(value: f64, more: &[Series], at_ms: i64) -> Vec<u8> {
    let mut series = vec![
        Series { name: "lpshare_sessions", place: None, value },
        Series { name: "lpshare_max_sessions", place: None, value: 100.0 },
    ];
    series.extend_from_slice(more);
    remote_write::encode(&series, at_ms)
}

async fn accepted() -> Accepted {
    accepted_with("1s", "").await
}

/// [`accepted`] with the collector's `refresh` and more config lines: the orchestrator is in the
/// transcoder pool from the start.
async fn accepted_with(refresh: &str, more: &str) -> Accepted {
    let orchestrator = lpbake_keystore::random_key();
    let c = Collect::start_with(refresh, &[address_of(&orchestrator)], more).await;
    let dir = tempfile::tempdir().unwrap();
    let reporter = Reporter::load_or_create(&dir.path().join("reporting-key")).unwrap();
    let good = delegated(&orchestrator, &reporter);
    let body = sessions(7.0);
    let signed = reporter.sign(&good, now_ms(), &body);
    assert_eq!(c.push(body.clone(), &signed).await, 204, "the push every refusal is set against");
    Accepted { c, reporter, good, body, signed, account: address_of(&orchestrator), _dir: dir }
}

impl Accepted {
    /// A new push of `value` by the accepted orchestrator, signed now.
    fn next(&self, value: f64) -> (Vec<u8>, [(&'static str, String); 4]) {
        let body = sessions(value);
        let headers = self.reporter.sign(&self.good, now_ms(), &body);
        (body, headers)
    }

    /// `lpcollect_pushes_total` for every result a refusal can end in.
    async fn refusals(&self) -> Vec<(&'static str, f64)> {
        let mut out = Vec::new();
        for r in REFUSALS {
            out.push((r, self.c.count(r).await));
        }
        out
    }

    /// Pushes `body` with `headers` and checks that it is refused with `status`, counted as
    /// `result` and nothing else, and that Prometheus holds only the accepted push.
    async fn refuses(&self, body: Vec<u8>, headers: &[(&str, String)], status: u16, result: &str) {
        self.refuses_only(body, headers, status, result).await;
        assert_eq!(self.c.count("accepted").await, 1.0);
        for other in REFUSALS {
            let want = if other == result { 1.0 } else { 0.0 };
            assert_eq!(self.c.count(other).await, want, "lpcollect_pushes_total{{result=\"{other}\"}}");
        }
        let held = query(self.c.prom_port, "{orchestrator=~\".+\"}").await;
        assert_eq!(held.len(), 2, "Prometheus holds more than the accepted push: {held:?}");
        let sessions = query(self.c.prom_port, "lpshare_sessions").await;
        assert_eq!(sessions[0]["metric"], json!({"__name__": "lpshare_sessions", "orchestrator": self.account}));
        assert_eq!(sessions[0]["value"][1], "7", "a refused push reached Prometheus: {held:?}");
    }

    /// Pushes `body` with `headers` and checks the status and that the answer names `result`.
    async fn refuses_only(&self, body: Vec<u8>, headers: &[(&str, String)], status: u16, result: &str) {
        let resp = self.c.send(body, headers).await;
        assert_eq!(resp.status().as_u16(), status, "{result}");
        let text = resp.text().await.unwrap();
        assert!(text.starts_with(&format!("{result}:")), "{text}");
    }
}

#[tokio::test]
async fn an_account_that_never_joined_the_pool_is_refused() {
    let a = accepted().await;
    let (body, headers) = stranger(&lpbake_keystore::random_key(), 8.0);
    a.refuses(body, &headers, 403, "not_registered").await;
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
    a.c.join(&retired).await;
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
async fn a_sample_dated_2100_is_refused_and_the_next_push_still_accepted() {
    let a = accepted().await;
    // Signed now, so the signature holds; its sample is dated 2100-01-01.
    let future = share(8.0, &[], 4_102_444_800_000);
    let headers = a.reporter.sign(&a.good, now_ms(), &future);
    a.refuses(future, &headers, 400, "bad_timestamp").await;
    // Had it been stored, Prometheus would now refuse every other push as out of bounds.
    let (body, headers) = a.next(9.0);
    assert_eq!(a.c.push(body, &headers).await, 204);
}

#[tokio::test]
async fn a_value_that_is_not_a_number_is_refused() {
    let a = accepted().await;
    let nan = share(f64::NAN, &[], now_ms());
    let headers = a.reporter.sign(&a.good, now_ms(), &nan);
    a.refuses(nan, &headers, 422, "implausible").await;
}

#[tokio::test]
async fn pixels_no_node_can_process_are_refused() {
    let a = accepted().await;
    let berlin = Some(lpwatch::share::geo::Place { cell: "N50E010-5deg".into(), region: "europe".into() });
    let cell = [
        Series { name: "lpshare_streams", place: berlin.clone(), value: 4.0 },
        Series { name: "lpshare_gateways", place: berlin.clone(), value: 3.0 },
        Series { name: "lpshare_pixels_per_second", place: berlin, value: 1e18 },
    ];
    let body = share(8.0, &cell, now_ms());
    let headers = a.reporter.sign(&a.good, now_ms(), &body);
    a.refuses(body, &headers, 422, "implausible").await;
}

#[tokio::test]
async fn two_thousand_invented_cells_are_refused() {
    let a = accepted().await;
    // Real grid names, 2000 one-degree squares: each would be a new series in Prometheus.
    let mut cells = Vec::new();
    for i in 0..2000 {
        let place = Some(lpwatch::share::geo::Place {
            cell: lpwatch::share::geo::grid_cell(f64::from(i / 100), f64::from(i % 100), 1),
            region: "europe".into(),
        });
        cells.push(Series { name: "lpshare_streams", place: place.clone(), value: 1.0 });
        cells.push(Series { name: "lpshare_gateways", place: place.clone(), value: 1.0 });
        cells.push(Series { name: "lpshare_pixels_per_second", place, value: 1.0 });
    }
    let body = share(8.0, &cells, now_ms());
    let headers = a.reporter.sign(&a.good, now_ms(), &body);
    a.refuses(body, &headers, 422, "too_many_series").await;
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let a = accepted().await;
    // The collector's max_body_bytes is 65536.
    let big = vec![0u8; 70_000];
    let headers = a.reporter.sign(&a.good, now_ms(), &big);
    a.refuses(big, &headers, 413, "oversized").await;
}

/// A push signed by a reporting key that `account` (a key of its own) delegated.
fn stranger(account: &lpbake_keystore::SecretKey, value: f64) -> (Vec<u8>, [(&'static str, String); 4]) {
    let dir = tempfile::tempdir().unwrap();
    let reporter = Reporter::load_or_create(&dir.path().join("k")).unwrap();
    let body = sessions(value);
    let headers = reporter.sign(&delegated(account, &reporter), now_ms(), &body);
    (body, headers)
}

#[tokio::test]
async fn unknown_accounts_are_refused_without_a_chain_call_and_a_real_orchestrator_is_still_accepted() {
    // A long refresh: the only chain calls are the first read of the active set.
    let a = accepted_with("10m", "").await;
    let calls = a.c.chain_calls().await;
    assert!(calls >= 1.0, "no chain call counted: {calls}");
    for i in 0..50 {
        // Each a self-made account with its own valid delegation: only the active set stops it.
        let (body, headers) = stranger(&lpbake_keystore::random_key(), i as f64);
        let resp = a.c.send(body, &headers).await;
        assert_eq!(resp.status().as_u16(), 403);
        let text = resp.text().await.unwrap();
        assert!(text.starts_with("not_registered:"), "{text}");
    }
    assert_eq!(a.c.chain_calls().await, calls, "pushes of unknown accounts called the chain");
    assert_eq!(a.c.count("not_registered").await, 50.0);
    for (result, n) in a.refusals().await {
        assert_eq!(n, if result == "not_registered" { 50.0 } else { 0.0 }, "{result}");
    }
    let held = query(a.c.prom_port, "{orchestrator=~\".+\"}").await;
    assert_eq!(held.len(), 2, "an unknown account's push reached Prometheus: {held:?}");
    assert!(held.iter().all(|h| h["metric"]["orchestrator"] == a.account.as_str()), "{held:?}");
    // The real orchestrator's next push.
    let (body, headers) = a.next(8.0);
    assert_eq!(a.c.push(body, &headers).await, 204);
    assert_eq!(a.c.count("accepted").await, 2.0);
    assert_eq!(a.c.chain_calls().await, calls, "an accepted push called the chain");
}

#[tokio::test]
async fn a_burst_past_the_account_limit_is_rate_limited_and_a_later_push_accepted() {
    // The default per account: 10 back to back, then 1 a second.
    let a = accepted().await;
    let mut accepted = 1;
    let limited = loop {
        assert!(accepted <= 12, "{accepted} pushes back to back and none rate limited");
        let (body, headers) = a.next(8.0 + accepted as f64);
        let resp = a.c.send(body, &headers).await;
        if resp.status() == 429 {
            break resp;
        }
        assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
        accepted += 1;
    };
    assert!(accepted >= 10, "limited after only {accepted} pushes");
    let retry: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    let text = limited.text().await.unwrap();
    assert!(text.starts_with("rate_limited:"), "{text}");
    for (result, n) in a.refusals().await {
        assert_eq!(n, if result == "rate_limited" { 1.0 } else { 0.0 }, "{result}");
    }
    assert_eq!(a.c.count("accepted").await, accepted as f64);
    // As the node does: keep it, try again after Retry-After.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let (body, headers) = a.next(100.0);
    assert_eq!(a.c.push(body, &headers).await, 204);
    assert_eq!(a.c.count("accepted").await, accepted as f64 + 1.0);
}

#[tokio::test]
async fn a_burst_from_one_address_is_rate_limited_before_any_signature_is_checked() {
    let a = accepted_with("1s", "max_pushes_per_source = { burst = 3, per_second = 0.5 }\n").await;
    // One token left of 3 after the accepted push (plus what refilled): unsigned pushes until
    // the limit, which then holds back even a push that would verify.
    let mut unsigned = 0;
    while a.c.push(sessions(8.0), &[]).await == 401 {
        unsigned += 1;
        assert!(unsigned <= 3, "{unsigned} unsigned pushes and none rate limited");
    }
    assert_eq!(a.c.count("rate_limited").await, 1.0);
    let (body, headers) = a.next(9.0);
    let resp = a.c.send(body, &headers).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(a.c.count("unsigned").await, unsigned as f64, "a rate-limited push was checked");
    // Through a proxy on this machine (a loopback peer), the source is the address the proxy
    // appended last to X-Forwarded-For: another client has its own bucket; an address the
    // client wrote itself, earlier in the list, is not taken.
    let forwarded = |list: &str| [("x-forwarded-for", list.to_string())];
    assert_eq!(a.c.push(sessions(8.0), &forwarded("203.0.113.7")).await, 401);
    assert_eq!(a.c.push(sessions(8.0), &forwarded("203.0.113.9, 127.0.0.1")).await, 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let (body, headers) = a.next(10.0);
    assert_eq!(a.c.push(body, &headers).await, 204);
}

#[tokio::test]
async fn a_replayed_push_of_an_unregistered_account_is_refused_as_such_and_not_remembered() {
    let a = accepted().await;
    let newcomer = lpbake_keystore::random_key();
    let (body, headers) = stranger(&newcomer, 9.0);
    for _ in 0..2 {
        a.refuses_only(body.clone(), &headers, 403, "not_registered").await;
    }
    assert_eq!(a.c.count("not_registered").await, 2.0);
    assert_eq!(a.c.count("replay").await, 0.0);
    // The replay set did not record it: once the account is active, the very same push is
    // taken (and only then remembered).
    a.c.join(&newcomer).await;
    assert_eq!(a.c.push(body.clone(), &headers).await, 204);
    assert_eq!(a.c.push(body, &headers).await, 409);
    assert_eq!(a.c.count("replay").await, 1.0);
}
