//! The public aggregates, as the map page reads them (`/api/cells`): each orchestrator's latest
//! shared series, read from the collector's Prometheus, become contributions per cell, and
//! `lpbake_rules::disclosure::publish` decides what of them may be published (cells, regions and
//! the world, each from at least 3 orchestrators with none dominant, and no suppressed number
//! derivable from the published ones). Nothing else is ever answered from the raw series. The
//! collector computes it at aligned instants (`publish_every`) and answers from that, so a reader
//! polling it sees no push land on its own.

use lpbake_rules::disclosure::{publish, Contribution, Published};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The samples of an instant query at `at` (Unix seconds): each series' labels and value.
async fn query(client: &reqwest::Client, base: &reqwest::Url, q: &str, at: u64) -> Result<Vec<(Value, f64)>, String> {
    let mut url = base.join("api/v1/query").map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("query", &format!("{q}{{orchestrator!=\"\"}}"))
        .append_pair("time", &at.to_string());
    let resp =
        client.get(url).timeout(Duration::from_secs(5)).send().await.map_err(lpbake_net::jsonrpc::transport_error)?;
    let bytes = lpbake_net::bounded::read_body(resp, 8 << 20).await.map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| format!("Prometheus answered no JSON: {e}"))?;
    let result = body["data"]["result"].as_array().ok_or_else(|| format!("Prometheus answered {body}"))?;
    Ok(result.iter().filter_map(|s| Some((s["metric"].clone(), s["value"][1].as_str()?.parse().ok()?))).collect())
}

fn label(m: &Value, k: &str) -> String {
    m[k].as_str().unwrap_or("").to_string()
}

/// What may be published at `at` (Unix seconds; every query reads that one instant), from the
/// latest shares then.
pub async fn read(client: &reqwest::Client, base: &reqwest::Url, at: u64) -> Result<Published, String> {
    // (orchestrator, cell, region) -> contribution
    let mut by_cell: BTreeMap<(String, String, String), Contribution> = BTreeMap::new();
    for (m, streams) in query(client, base, "lpshare_streams", at).await? {
        let (orchestrator, cell, region) = (label(&m, "orchestrator"), label(&m, "cell"), label(&m, "region"));
        let c = Contribution {
            orchestrator: orchestrator.clone(),
            cell: cell.clone(),
            region: region.clone(),
            streams,
            gateways: 0.0,
            pixels_per_second: 0.0,
            capacity: 0.0,
        };
        by_cell.insert((orchestrator, cell, region), c);
    }
    for name in ["lpshare_gateways", "lpshare_pixels_per_second"] {
        for (m, v) in query(client, base, name, at).await? {
            if let Some(c) = by_cell.get_mut(&(label(&m, "orchestrator"), label(&m, "cell"), label(&m, "region"))) {
                match name {
                    "lpshare_gateways" => c.gateways = v,
                    _ => c.pixels_per_second = v,
                }
            }
        }
    }
    // Capacity: each orchestrator's max sessions, split over its cells by its connections there.
    let max_sessions: BTreeMap<String, f64> = query(client, base, "lpshare_max_sessions", at)
        .await?
        .into_iter()
        .map(|(m, v)| (label(&m, "orchestrator"), v))
        .collect();
    let mut streams_of: BTreeMap<String, f64> = BTreeMap::new();
    for c in by_cell.values() {
        *streams_of.entry(c.orchestrator.clone()).or_default() += c.streams;
    }
    for c in by_cell.values_mut() {
        let total = streams_of.get(&c.orchestrator).copied().unwrap_or(0.0);
        let max = max_sessions.get(&c.orchestrator).copied().unwrap_or(0.0);
        c.capacity = if total > 0.0 { max * c.streams / total } else { 0.0 };
    }
    Ok(publish(&by_cell.into_values().collect::<Vec<_>>()))
}

/// What `/api/cells` answers: `cells` (`cell`, `region` and the totals), `regions` (`region` and
/// the totals), `world` (the totals, or null).
pub fn json(p: &Published) -> Value {
    let with = |mut v: Value, keys: &[(&str, &str)]| {
        for (k, s) in keys {
            v[*k] = Value::from(*s);
        }
        v
    };
    let totals = |t| serde_json::to_value(t).unwrap_or(Value::Null);
    serde_json::json!({
        "cells": p.cells.iter().map(|(c, r, t)| with(totals(t), &[("cell", c), ("region", r)])).collect::<Vec<_>>(),
        "regions": p.regions.iter().map(|(r, t)| with(totals(t), &[("region", r)])).collect::<Vec<_>>(),
        "world": p.world.as_ref().map(totals),
    })
}
