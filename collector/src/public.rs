//! The public aggregates, as the map page reads them: the recorded series of
//! `rules/lpshare.rules.yml` (cells and regions shared by at least 3 orchestrators), read from
//! the collector's Prometheus and joined per cell and per region.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// One published cell.
#[derive(Debug, Default, Serialize)]
pub struct Cell {
    pub cell: String,
    pub region: String,
    pub orchestrators: f64,
    pub streams: f64,
    pub gateways: f64,
    pub pixels_per_second: f64,
    pub capacity: f64,
}

/// One published region.
#[derive(Debug, Default, Serialize)]
pub struct Region {
    pub region: String,
    pub orchestrators: f64,
    pub streams: f64,
    pub gateways: f64,
    pub pixels_per_second: f64,
}

/// What `/api/cells` answers.
#[derive(Debug, Serialize)]
pub struct Aggregates {
    pub cells: Vec<Cell>,
    pub regions: Vec<Region>,
}

/// The samples of an instant query: each series' labels and value.
async fn query(client: &reqwest::Client, base: &reqwest::Url, q: &str) -> Result<Vec<(Value, f64)>, String> {
    let mut url = base.join("api/v1/query").map_err(|e| e.to_string())?;
    url.query_pairs_mut().append_pair("query", q);
    let resp = client.get(url).timeout(Duration::from_secs(5)).send().await.map_err(crate::jsonrpc::transport_error)?;
    let bytes = crate::bounded::read_body(resp, 8 << 20).await.map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| format!("Prometheus answered no JSON: {e}"))?;
    let result = body["data"]["result"].as_array().ok_or_else(|| format!("Prometheus answered {body}"))?;
    Ok(result.iter().filter_map(|s| Some((s["metric"].clone(), s["value"][1].as_str()?.parse().ok()?))).collect())
}

/// Sets one field of an aggregate from a recorded value.
type Setter<T> = fn(&mut T, f64);

/// Fills the aggregates already in `map` (keyed as `key` reads a series' labels) from `records`.
async fn fill<K: Ord, T>(
    client: &reqwest::Client,
    base: &reqwest::Url,
    map: &mut BTreeMap<K, T>,
    key: impl Fn(&Value) -> K,
    records: &[(&str, Setter<T>)],
) -> Result<(), String> {
    for (record, set) in records {
        for (m, v) in query(client, base, record).await? {
            if let Some(t) = map.get_mut(&key(&m)) {
                set(t, v);
            }
        }
    }
    Ok(())
}

fn label(m: &Value, k: &str) -> String {
    m[k].as_str().unwrap_or("").to_string()
}

/// Reads the published cells and regions. A streams record exists only for a published cell
/// or region: the others are left out.
pub async fn read(client: &reqwest::Client, base: &reqwest::Url) -> Result<Aggregates, String> {
    let cell_key = |m: &Value| (label(m, "cell"), label(m, "region"));
    let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
    for (m, v) in query(client, base, "cell:lpshare_streams:sum").await? {
        let (cell, region) = cell_key(&m);
        cells.insert((cell.clone(), region.clone()), Cell { cell, region, streams: v, ..Cell::default() });
    }
    let cell_records: [(&str, Setter<Cell>); 4] = [
        ("cell:lpshare_orchestrators:count", |c, v| c.orchestrators = v),
        ("cell:lpshare_gateways:sum", |c, v| c.gateways = v),
        ("cell:lpshare_pixels_per_second:sum", |c, v| c.pixels_per_second = v),
        ("cell:lpshare_capacity:sum", |c, v| c.capacity = v),
    ];
    fill(client, base, &mut cells, cell_key, &cell_records).await?;

    let mut regions: BTreeMap<String, Region> = BTreeMap::new();
    for (m, v) in query(client, base, "region:lpshare_streams:sum").await? {
        let region = label(&m, "region");
        regions.insert(region.clone(), Region { region, streams: v, ..Region::default() });
    }
    let region_records: [(&str, Setter<Region>); 3] = [
        ("region:lpshare_orchestrators:count", |r, v| r.orchestrators = v),
        ("region:lpshare_gateways:sum", |r, v| r.gateways = v),
        ("region:lpshare_pixels_per_second:sum", |r, v| r.pixels_per_second = v),
    ];
    fill(client, base, &mut regions, |m| label(m, "region"), &region_records).await?;
    Ok(Aggregates { cells: cells.into_values().collect(), regions: regions.into_values().collect() })
}
