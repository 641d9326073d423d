//! Prometheus and Alertmanager of the compose testnet: Prometheus scrapes every node's lpwatch
//! (its gauges and livepeer's own metrics, relayed), geth, itself and Alertmanager, with
//! lpwatch's alert rules loaded (the same file the appliance installs); Alertmanager routes
//! the alerts. Both run from their lpbake images with their state on named volumes.

use super::model::{lit, lits, Attachment, ComposeService, Healthcheck, Mount, Project};
use super::{publish, Images, GETH_METRICS, LPWATCH_PORT, NETWORK};
use crate::error::{Error, Result};
use crate::spec::{Protocol, Role};
use serde_json::json;

/// The services this module adds.
pub const SERVICES: [&str; 2] = ["prometheus", "alertmanager"];
const PROMETHEUS_PORT: u16 = 9090;
const ALERTMANAGER_PORT: u16 = 9093;
const PROMETHEUS_CONFIG: &str = "/etc/prometheus/prometheus.yml";
const RULES: &str = "/etc/prometheus/lpwatch.rules.yml";
const ALERTMANAGER_CONFIG: &str = "/etc/alertmanager/alertmanager.yml";

/// Prometheus (scraping `nodes`' lpwatch, by node name and role) and Alertmanager.
pub fn add(p: &mut Project, images: &Images, nodes: &[(&str, Role)]) -> Result<()> {
    let prom = images.get("prometheus")?;
    let mut s = images.service("prometheus", Some("prometheus"), p)?;
    let tsdb = state_dir(prom)?;
    s.entrypoint = Some(lits(&prom.service.entrypoint));
    s.command = Some(
        [
            format!("--config.file={PROMETHEUS_CONFIG}"),
            format!("--storage.tsdb.path={tsdb}"),
            "--storage.tsdb.retention.time=15d".into(),
            format!("--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}"),
        ]
        .iter()
        .map(|a| lit(a))
        .collect(),
    );
    s.configs = vec![
        Mount { source: "prometheus".into(), target: PROMETHEUS_CONFIG.into() },
        Mount { source: "lpwatch-rules".into(), target: RULES.into() },
    ];
    p.config("prometheus", "prometheus.yml", prometheus_config(nodes, true)?);
    p.config("lpwatch-rules", "lpwatch.rules.yml", crate::render::ALERT_RULES.to_string());
    s.networks.insert(NETWORK.into(), Attachment::default());
    s.ports.push(publish(PROMETHEUS_PORT, Protocol::Tcp));
    let url = format!("http://127.0.0.1:{PROMETHEUS_PORT}");
    s.healthcheck = Some(Healthcheck::cmd(&[&tool(prom, "promtool")?, "query", "instant", &url, "vector(1)"], 60));
    p.services.insert("prometheus".into(), s);

    let am = images.get("alertmanager")?;
    let mut s = images.service("alertmanager", Some("alertmanager"), p)?;
    let storage = state_dir(am)?;
    s.entrypoint = Some(lits(&am.service.entrypoint));
    s.command = Some(
        [
            format!("--config.file={ALERTMANAGER_CONFIG}"),
            format!("--storage.path={storage}"),
            format!("--web.listen-address=0.0.0.0:{ALERTMANAGER_PORT}"),
            // One instance: no cluster port, no gossip.
            "--cluster.listen-address=".into(),
        ]
        .iter()
        .map(|a| lit(a))
        .collect(),
    );
    s.configs = vec![Mount { source: "alertmanager".into(), target: ALERTMANAGER_CONFIG.into() }];
    p.config("alertmanager", "alertmanager.yml", ALERTMANAGER_YML.to_string());
    s.networks.insert(NETWORK.into(), Attachment::default());
    s.ports.push(publish(ALERTMANAGER_PORT, Protocol::Tcp));
    let url = format!("--alertmanager.url=http://127.0.0.1:{ALERTMANAGER_PORT}");
    s.healthcheck = Some(Healthcheck::cmd(&[&tool(am, "amtool")?, &url, "config", "show"], 60));
    p.services.insert("alertmanager".into(), s);
    Ok(())
}

/// In an override: Prometheus scrapes only `nodes` (and no geth).
pub fn scrape_only(p: &mut Project, nodes: &[(&str, Role)]) -> Result<()> {
    p.config("prometheus-arbitrum", "prometheus-arbitrum.yml", prometheus_config(nodes, false)?);
    let mut configs = vec![Mount { source: "prometheus-arbitrum".into(), target: PROMETHEUS_CONFIG.into() }];
    configs.push(Mount { source: "lpwatch-rules".into(), target: RULES.into() });
    p.services.insert("prometheus".into(), ComposeService { configs, ..Default::default() });
    Ok(())
}

/// The image's one state directory.
fn state_dir(img: &crate::spec::Image) -> Result<String> {
    img.service.state_dirs.iter().next().cloned().ok_or_else(|| {
        Error::config(&img.file, None, "the image has no volume for its state", "add volumes = [\"/var/lib/NAME\"]")
    })
}

/// `name` beside the image's program (promtool beside prometheus, amtool beside alertmanager).
fn tool(img: &crate::spec::Image, name: &str) -> Result<String> {
    let program = img.service.entrypoint.first().ok_or_else(|| {
        Error::config(&img.file, None, "the image has no entrypoint", "set entrypoint = [\"/usr/local/bin/NAME\"]")
    })?;
    Ok(match program.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.to_string(),
    })
}

/// Scrape every 15 s: each node's lpwatch as job `lpwatch` with `instance` = the node's name
/// (the alerts say which node), geth's metrics, Prometheus and Alertmanager.
fn prometheus_config(nodes: &[(&str, Role)], geth: bool) -> Result<String> {
    let lpwatch: Vec<_> = nodes
        .iter()
        .map(|(name, role)| {
            json!({ "targets": [format!("{name}-watch:{LPWATCH_PORT}")], "labels": { "instance": name, "role": role.as_str() } })
        })
        .collect();
    let mut jobs = vec![json!({ "job_name": "lpwatch", "static_configs": lpwatch })];
    if geth {
        jobs.push(json!({
            "job_name": "geth",
            "metrics_path": "/debug/metrics/prometheus",
            "static_configs": [{ "targets": [format!("geth:{GETH_METRICS}")] }],
        }));
    }
    jobs.push(json!({ "job_name": "prometheus", "static_configs": [{ "targets": [format!("localhost:{PROMETHEUS_PORT}")] }] }));
    jobs.push(json!({ "job_name": "alertmanager", "static_configs": [{ "targets": [format!("alertmanager:{ALERTMANAGER_PORT}")] }] }));
    let doc = json!({
        "global": { "scrape_interval": "15s", "evaluation_interval": "15s" },
        "rule_files": [RULES],
        "alerting": { "alertmanagers": [{ "static_configs": [{ "targets": [format!("alertmanager:{ALERTMANAGER_PORT}")] }] }] },
        "scrape_configs": jobs,
    });
    serde_yaml_ng::to_string(&doc).map_err(|e| Error::Output(format!("rendering prometheus.yml: {e}")))
}

/// Alerts grouped per alert and node, to a receiver with no integration: add yours (webhook,
/// email, Slack, PagerDuty) under `receivers` in an override of the `alertmanager` config.
const ALERTMANAGER_YML: &str = "\
route:
  receiver: operator
  group_by: [alertname, instance]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: operator
";
