//! A real Prometheus for the tests, with its remote-write receiver on, and instant queries.

use super::Proc;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// A Prometheus with its remote-write receiver on 127.0.0.1:`port`, evaluating `rules` every second.
pub fn start_prometheus(dir: &Path, port: u16, rules: &[&Path]) -> Proc {
    let files: Vec<String> = rules.iter().map(|r| format!("  - {}\n", r.display())).collect();
    start_prometheus_with(dir, port, &format!("global:\n  evaluation_interval: 1s\nrule_files:\n{}", files.concat()))
}

/// A Prometheus with its remote-write receiver on 127.0.0.1:`port` and the config `yaml`; its
/// files go in `dir`.
pub fn start_prometheus_with(dir: &Path, port: u16, yaml: &str) -> Proc {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, yaml).unwrap();
    let log = dir.join("prometheus.log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run prometheus ({e}): run `make deps`"));
    Proc::new(child, "prometheus").logging_to(log)
}

/// Waits (bounded) until the Prometheus on `port` is ready, and returns the time it was seen
/// ready, in Unix milliseconds.
pub async fn ready(port: u16) -> i64 {
    let url = format!("http://127.0.0.1:{port}/-/ready");
    super::within(30, "Prometheus ready", || async {
        reqwest::get(&url).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The result vector of an instant query.
pub async fn query(port: u16, q: &str) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let url = reqwest::Url::parse_with_params(&url, [("query", q)]).unwrap();
    let Ok(resp) = reqwest::get(url).await else { return vec![] };
    let body: Value = serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or_default();
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}
