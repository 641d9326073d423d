//! What a push's content must be to be taken: the shape of a share as a node makes it, values a
//! node can report, and timestamps from when it was signed. [`push`] checks one push, a
//! [`SeriesBook`] how many distinct series each orchestrator feeds over a day. The rules:
//! - Shape ([`Refusal::Malformed`]): names from [`allowlist`]; per-node series carry only
//!   `__name__`, per-cell series ([`PER_CELL`]) exactly `__name__`, `cell` and `region`, with
//!   [`is_cell`] and [`is_region`], a continent's or `other`'s cell in its own region only; no label
//!   or series twice; one sample each; `lpshare_max_sessions` once; each cell has all of [`PER_CELL`].
//! - Size ([`Refusal::TooManySeries`]): at most [`MAX_SERIES_PER_PUSH`] series and [`MAX_CELLS`]
//!   cells in a push, at most [`MAX_SERIES_PER_ORCHESTRATOR`] distinct series from one
//!   orchestrator over [`SERIES_PERIOD`].
//! - Values ([`Refusal::Implausible`]): finite and >= 0; `lpshare_max_sessions` <= [`MAX_SESSIONS`];
//!   `lpshare_sessions` and each cell's `lpshare_streams` <= max sessions; `lpshare_gateways` <=
//!   its cell's streams; both integral; the pixels per second of all cells <= max sessions ×
//!   [`MAX_PIXELS_PER_SESSION`]; `lpshare_success_rate` <= 1; `lpshare_kernel_bytes_ratio` <=
//!   [`MAX_KERNEL_BYTES_RATIO`]; `lpshare_transcoders` <= [`MAX_TRANSCODERS`], their capacity and
//!   load <= [`MAX_TRANSCODER_CAPACITY`].
//! - Time ([`Refusal::Timestamp`]): one timestamp for every sample, within [`MAX_SAMPLE_AGE`]
//!   before the signed timestamp and not after it.

use lpbake_keystore::Address;
use lpbake_rules::disclosure::K_FLOOR;
use lpshare::remote_write::{TimeSeries, WriteRequest};
use lpshare::series::{allowlist, is_cell, is_region, OTHER};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The series a node writes once per cell; every other allowlisted name is written once per node.
pub const PER_CELL: [&str; 3] = ["lpshare_gateways", "lpshare_streams", "lpshare_pixels_per_second"];
/// The per-node names in the allowlist (a test keeps it equal to `allowlist()` less [`PER_CELL`]).
pub const NODE_SERIES: usize = 7;
/// The most cells in one push: each needs at least 3 distinct gateway networks (`K_FLOOR`), so
/// 64 cells are about 200 gateways, more than one orchestrator is connected to.
pub const MAX_CELLS: usize = 64;
/// The most series in one push: every per-node series and every cell's three.
pub const MAX_SERIES_PER_PUSH: usize = NODE_SERIES + PER_CELL.len() * MAX_CELLS;
/// How long a [`SeriesBook`] remembers a series: a day, over which a node's cells change little.
pub const SERIES_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// The most distinct series one orchestrator may feed over [`SERIES_PERIOD`]: five full pushes'
/// worth, room for cells that come and go over a day, and a bound on what one key adds to Prometheus.
pub const MAX_SERIES_PER_ORCHESTRATOR: usize = 5 * MAX_SERIES_PER_PUSH;
/// The most orchestrators a [`SeriesBook`] tracks (the oldest is forgotten): ten times the 100 of
/// the active set, the only ones whose pushes reach it. Each holds at most
/// [`MAX_SERIES_PER_ORCHESTRATOR`] hashes, so the book stays under a few tens of MB.
pub const MAX_TRACKED_ORCHESTRATORS: usize = 1_000;
/// The oldest a sample may be when its push is signed: Prometheus refuses samples older than its
/// head block (about an hour) anyway, and a node's queue older than that cannot land.
pub const MAX_SAMPLE_AGE: Duration = Duration::from_secs(3600);
/// The most sessions an orchestrator reports as its maximum: far beyond any one machine's GPUs.
pub const MAX_SESSIONS: f64 = 100_000.0;
/// The most pixels a second one session transcodes: 8K at 240 fps (8.0e9) for the source, as
/// much again for its renditions. Bounds the sum over cells: the node splits livepeer's one
/// total over cells by connections, and one connection carries many sessions.
pub const MAX_PIXELS_PER_SESSION: f64 = 1.6e10;
/// The most bytes the kernel may count over livepeer's: overhead is a few percent, a stream that
/// just started may show more; a thousandfold is no measurement.
pub const MAX_KERNEL_BYTES_RATIO: f64 = 1_000.0;
/// The most transcoders attached to one orchestrator.
pub const MAX_TRANSCODERS: f64 = 10_000.0;
/// The most sessions attached transcoders may offer (capacity) or carry (load): a hundred each.
pub const MAX_TRANSCODER_CAPACITY: f64 = 100.0 * MAX_TRANSCODERS;

/// Why a push's content is refused (each becomes its own `crate::Outcome`: counter label and status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not the shape of a share: unknown name or label, bad cell/region grammar, repeated label
    /// or series, not one sample. -> 400 "malformed"
    Malformed(String),
    /// A value no node reports: NaN/inf, negative, above its plausible bound. -> 422 "implausible"
    Implausible(String),
    /// A sample timestamp outside [signed_ms - MAX_SAMPLE_AGE, signed_ms]. -> 400 "bad_timestamp"
    Timestamp(String),
    /// More series than a share holds (per push), or more distinct series than one orchestrator
    /// may feed (per orchestrator). -> 422 "too_many_series"
    TooManySeries(String),
}

impl Refusal {
    /// What is wrong, for the pusher (its counter label and status: `crate::Outcome`).
    pub fn why(&self) -> &str {
        match self {
            Refusal::Malformed(s) | Refusal::Implausible(s) | Refusal::Timestamp(s) | Refusal::TooManySeries(s) => s,
        }
    }
}

/// A series by what names it: its name and, per cell, its cell and region.
type Key<'a> = (&'a str, Option<(&'a str, &'a str)>);

/// A pushed string as it is quoted back: short.
fn shown(s: &str) -> String {
    format!("{:?}", lpbake_net::jsonrpc::truncate(s, 64))
}

/// The key of one series, if it is shaped as a node writes it.
fn key(ts: &TimeSeries) -> Result<Key<'_>, Refusal> {
    let bad = |why: String| Err(Refusal::Malformed(why));
    let (mut name, mut cell, mut region) = (None, None, None);
    for l in &ts.labels {
        let slot = match l.name.as_str() {
            "__name__" => &mut name,
            "cell" => &mut cell,
            "region" => &mut region,
            other => return bad(format!("label {} is not one a share holds", shown(other))),
        };
        if slot.replace(l.value.as_str()).is_some() {
            return bad(format!("a series repeats the label {:?}", l.name));
        }
    }
    let name = name.unwrap_or("");
    let Some(name) = allowlist().into_iter().find(|n| *n == name) else {
        return bad(format!("series {} is not one a share holds", shown(name)));
    };
    let place = match (PER_CELL.contains(&name), cell, region) {
        (false, None, None) => None,
        (true, Some(cell), Some(region)) => {
            if !is_cell(cell) || !is_region(region) {
                return bad(format!("{name}: {} in {} is not a cell in a region", shown(cell), shown(region)));
            }
            // The node names a continent (or `other`) as a cell only in itself, and puts every
            // cell whose region is `other` in `other`.
            if (is_region(cell) && cell != region) || (region == OTHER && cell != OTHER) {
                return bad(format!("{name}: cell {cell:?} does not lie in region {region:?}"));
            }
            Some((cell, region))
        }
        (true, ..) => return bad(format!("{name} is per cell: its labels are __name__, cell and region")),
        (false, ..) => return bad(format!("{name} is per node: its only label is __name__")),
    };
    if ts.samples.len() != 1 {
        return bad(format!("{name} has {} samples, not one", ts.samples.len()));
    }
    Ok((name, place))
}

/// Checks one decoded push signed at `signed_ms`.
pub fn push(w: &WriteRequest, signed_ms: i64) -> Result<(), Refusal> {
    if w.timeseries.len() > MAX_SERIES_PER_PUSH {
        let why = format!("{} series, more than the {MAX_SERIES_PER_PUSH} a share holds", w.timeseries.len());
        return Err(Refusal::TooManySeries(why));
    }
    let mut values: BTreeMap<Key, f64> = BTreeMap::new();
    for ts in &w.timeseries {
        let key = key(ts)?;
        if values.insert(key, ts.samples[0].value).is_some() {
            return Err(Refusal::Malformed(format!("series {key:?} appears twice")));
        }
    }
    let Some(&max_sessions) = values.get(&("lpshare_max_sessions", None)) else {
        return Err(Refusal::Malformed("no lpshare_max_sessions".into()));
    };
    let cells: HashSet<(&str, &str)> = values.keys().filter_map(|k| k.1).collect();
    if cells.len() > MAX_CELLS {
        return Err(Refusal::TooManySeries(format!("{} cells, more than the {MAX_CELLS} a share holds", cells.len())));
    }
    if let Some((cell, name)) =
        cells.iter().flat_map(|c| PER_CELL.map(|n| (c, n))).find(|(c, n)| !values.contains_key(&(*n, Some(**c))))
    {
        return Err(Refusal::Malformed(format!("cell {cell:?} has no {name}")));
    }
    timestamps(w, signed_ms)?;
    let mut pixels = 0.0;
    for (&(name, place), &v) in &values {
        let implausible = |why: &str| Err(Refusal::Implausible(format!("{name} {place:?} = {v}: {why}")));
        if !v.is_finite() || v < 0.0 {
            return implausible("not a finite number >= 0");
        }
        let (most, whole) = match name {
            "lpshare_max_sessions" => (MAX_SESSIONS, false),
            "lpshare_sessions" => (max_sessions, false),
            "lpshare_streams" if v == 0.0 => return implausible("a cell is shared only for connected gateways"),
            "lpshare_streams" => (max_sessions, true),
            "lpshare_gateways" if v < K_FLOOR as f64 && place.is_some_and(|(cell, _)| cell != OTHER) => {
                // A node merges a cell of fewer gateways (rules::disclosure); only "other" names no place.
                return implausible(&format!("a named cell has at least {K_FLOOR} gateways"));
            }
            "lpshare_gateways" => (values[&("lpshare_streams", place)], true),
            "lpshare_pixels_per_second" => {
                pixels += v;
                (f64::INFINITY, false)
            }
            "lpshare_success_rate" => (1.0, false),
            "lpshare_kernel_bytes_ratio" => (MAX_KERNEL_BYTES_RATIO, false),
            "lpshare_transcoders" => (MAX_TRANSCODERS, false),
            "lpshare_transcoders_capacity" | "lpshare_transcoders_load" => (MAX_TRANSCODER_CAPACITY, false),
            _ => return Err(Refusal::Malformed(format!("{name} has no bound in this collector"))),
        };
        if v > most {
            return implausible(&format!("above {most}"));
        }
        if whole && v.fract() != 0.0 {
            return implausible("not a whole number");
        }
    }
    // Each cell's value is rounded: half a pixel each over the node's total.
    let most = max_sessions * MAX_PIXELS_PER_SESSION + cells.len() as f64;
    if pixels > most {
        let why = format!("{pixels} pixels a second over all cells, more than {most} for {max_sessions} sessions");
        return Err(Refusal::Implausible(why));
    }
    Ok(())
}

/// Every sample at one timestamp, within [`MAX_SAMPLE_AGE`] before `signed_ms` and not after it.
fn timestamps(w: &WriteRequest, signed_ms: i64) -> Result<(), Refusal> {
    let mut stamps = w.timeseries.iter().flat_map(|ts| &ts.samples).map(|s| s.timestamp);
    let Some(first) = stamps.next() else { return Ok(()) };
    if let Some(other) = stamps.find(|t| *t != first) {
        return Err(Refusal::Timestamp(format!("samples at {first} and {other}: a share is taken at one time")));
    }
    let oldest = signed_ms.saturating_sub(MAX_SAMPLE_AGE.as_millis() as i64);
    if first > signed_ms || first < oldest {
        let why = format!("samples at {first} ms, not within {MAX_SAMPLE_AGE:?} before the signature's {signed_ms}");
        return Err(Refusal::Timestamp(why));
    }
    Ok(())
}

/// The distinct series each orchestrator fed over the last [`SERIES_PERIOD`]: a push that would
/// take one orchestrator past [`MAX_SERIES_PER_ORCHESTRATOR`] distinct series (name, cell and
/// region) is refused. At most [`MAX_TRACKED_ORCHESTRATORS`] are tracked (the one that pushed
/// least recently is forgotten first), each series as a keyed hash with when it was last fed.
#[derive(Default)]
pub struct SeriesBook(Mutex<Book>);

#[derive(Default)]
struct Book {
    hasher: RandomState,
    fed: HashMap<Address, Fed>,
}

struct Fed {
    last: Instant,
    series: HashMap<u64, Instant>,
}

impl SeriesBook {
    /// Records `w`'s series as fed by `orchestrator` at `now`, or refuses them all when that would
    /// take it past [`MAX_SERIES_PER_ORCHESTRATOR`] distinct series within [`SERIES_PERIOD`].
    pub fn admit(&self, orchestrator: Address, w: &WriteRequest, now: Instant) -> Result<(), Refusal> {
        let mut book = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Book { hasher, fed } = &mut *book;
        let keys: HashSet<u64> = w
            .timeseries
            .iter()
            .map(|ts| {
                let mut labels: Vec<(&str, &str)> = ts.labels.iter().map(|l| (&*l.name, &*l.value)).collect();
                labels.sort_unstable();
                hasher.hash_one(labels)
            })
            .collect();
        if let Some(f) = fed.get_mut(&orchestrator) {
            f.series.retain(|_, at| now.saturating_duration_since(*at) < SERIES_PERIOD);
        }
        let known = fed.get(&orchestrator).map(|f| &f.series);
        let new = keys.iter().filter(|k| known.is_none_or(|s| !s.contains_key(*k))).count();
        let total = known.map_or(0, HashMap::len) + new;
        if total > MAX_SERIES_PER_ORCHESTRATOR {
            let why = format!(
                "{orchestrator} would feed {total} distinct series within {SERIES_PERIOD:?}, more than {MAX_SERIES_PER_ORCHESTRATOR}"
            );
            return Err(Refusal::TooManySeries(why));
        }
        if !fed.contains_key(&orchestrator) && fed.len() >= MAX_TRACKED_ORCHESTRATORS {
            if let Some(oldest) = fed.iter().min_by_key(|(_, f)| f.last).map(|(a, _)| *a) {
                fed.remove(&oldest);
            }
        }
        let f = fed.entry(orchestrator).or_insert_with(|| Fed { last: now, series: HashMap::new() });
        f.last = now;
        f.series.extend(keys.into_iter().map(|k| (k, now)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counter label a refusal gets.
    fn label(r: &Refusal) -> &'static str {
        crate::Outcome::from(r).label()
    }
    use lpshare::remote_write::{decode, encode, Label, Sample};
    use lpshare::series::{grid_cell, Place, Series};
    use proptest::prelude::*;

    const CONTINENTS: [&str; 7] =
        ["africa", "antarctica", "asia", "europe", "north-america", "oceania", "south-america"];
    /// 2100-01-01 in ms.
    const YEAR_2100: i64 = 4_102_444_800_000;
    const AGE_MS: i64 = MAX_SAMPLE_AGE.as_millis() as i64;

    /// A cell as a node names one: a grid square, a country, a continent or `other`.
    fn place() -> impl Strategy<Value = Place> {
        let region = prop::sample::select(CONTINENTS.to_vec());
        let sizes = prop::sample::select(vec![1u8, 2, 3, 5, 6, 9, 10, 15, 18, 30, 45, 90]);
        prop_oneof![
            (-90.0f64..=90.0, -180.0f64..=180.0, sizes, region.clone())
                .prop_map(|(lat, lon, n, r)| Place { cell: grid_cell(lat, lon, n), region: r.into() }),
            (b'A'..=b'Z', b'A'..=b'Z', region.clone())
                .prop_map(|(a, b, r)| Place { cell: String::from_utf8(vec![a, b]).unwrap(), region: r.into() }),
            region.prop_map(|r| Place { cell: r.into(), region: r.into() }),
            Just(Place { cell: OTHER.into(), region: OTHER.into() }),
        ]
    }

    /// A share as `watch/src/share/set.rs` makes one from livepeer's numbers, with up to
    /// `max_cells` cells, and its body's (sampled, signed) timestamps.
    fn share(max_cells: usize) -> impl Strategy<Value = (Vec<Series>, i64, i64)> {
        prop_oneof![0u32..=20, 0u32..=MAX_SESSIONS as u32]
            .prop_flat_map(move |max| {
                let cell = (place(), 1..=max.max(1), 0.0f64..=1.0);
                let transcoders =
                    (0u32..=MAX_TRANSCODERS as u32, 0.0..=MAX_TRANSCODER_CAPACITY, 0.0..=MAX_TRANSCODER_CAPACITY);
                (
                    (Just(max), 0..=max, prop::collection::vec(cell, 0..=max_cells)),
                    (prop::option::of(0.0..=MAX_KERNEL_BYTES_RATIO), 0.0f64..=1.0),
                    (prop::option::of(transcoders), prop::option::of(0.0f64..=1.0)),
                    (1_600_000_000_000i64..2_000_000_000_000, 0..=AGE_MS),
                )
            })
            .prop_map(|((max, sessions, cells), (kernel, load), (transcoders, success), (made, delay))| {
                let node = |name, value| Series { name, place: None, value };
                let mut out = vec![node("lpshare_sessions", sessions.into()), node("lpshare_max_sessions", max.into())];
                out.extend(kernel.map(|k| node("lpshare_kernel_bytes_ratio", k)));
                // One count per cell, as `geo::bin` merges them; no cell has more streams than max
                // sessions, and a named cell (not "other") at least K_FLOOR gateways.
                let mut by_cell = BTreeMap::new();
                for (p, streams, g) in cells.into_iter().filter(|_| max > 0) {
                    let least = if p.cell == OTHER { 1 } else { K_FLOOR as u32 };
                    if streams >= least {
                        let gateways = ((f64::from(streams) * g).ceil() as u32).clamp(least, streams);
                        by_cell.insert(p.cell.clone(), (p, gateways, streams));
                    }
                }
                let per_second = load * f64::from(max) * MAX_PIXELS_PER_SESSION;
                let total: u32 = by_cell.values().map(|c| c.2).sum();
                for (p, gateways, streams) in by_cell.into_values() {
                    let cell = |name, value| Series { name, place: Some(p.clone()), value };
                    out.push(cell("lpshare_gateways", gateways.into()));
                    out.push(cell("lpshare_streams", streams.into()));
                    let pixels = (per_second * f64::from(streams) / f64::from(total)).round();
                    out.push(cell("lpshare_pixels_per_second", pixels));
                }
                if let Some((n, capacity, load)) = transcoders {
                    out.push(node("lpshare_transcoders", n.into()));
                    out.push(node("lpshare_transcoders_capacity", capacity));
                    out.push(node("lpshare_transcoders_load", load));
                }
                out.extend(success.map(|s| node("lpshare_success_rate", s)));
                (out, made, made + delay)
            })
    }

    fn series(labels: &[(&str, &str)], value: f64, timestamp: i64) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
            samples: vec![Sample { value, timestamp }],
        }
    }

    /// `n` distinct one-degree squares, each with its three series.
    fn cells(n: usize, from: usize, at: i64) -> Vec<TimeSeries> {
        (from..from + n)
            .flat_map(|i| {
                let cell = grid_cell((i / 360) as f64 - 90.0, (i % 360) as f64 - 180.0, 1);
                PER_CELL.map(|name| series(&[("__name__", name), ("cell", &cell), ("region", "europe")], 1.0, at))
            })
            .collect()
    }

    /// Applies hostile mutation `m` to series `i` of `w`: the kind of refusal it must meet.
    fn mutate(w: &mut WriteRequest, m: u8, i: usize, signed_ms: i64) -> &'static str {
        let i = i % w.timeseries.len();
        let at = w.timeseries[0].samples[0].timestamp;
        let ts = &mut w.timeseries;
        match m {
            0 => ts[i].samples[0].value = f64::NAN,
            1 => ts[i].samples[0].value = f64::INFINITY,
            2 => ts[i].samples[0].value = -1.0,
            3 => ts[i].samples[0].value = 1e20,
            4 => ts[i].samples[0].timestamp = YEAR_2100,
            5 => ts.iter_mut().for_each(|t| t.samples[0].timestamp = YEAR_2100),
            6 => ts.iter_mut().for_each(|t| t.samples[0].timestamp = signed_ms - AGE_MS - 1),
            7 => ts.push(series(
                &[("__name__", "lpshare_streams"), ("cell", &format!("x{i}")), ("region", "europe")],
                1.0,
                at,
            )),
            8 => ts[i].labels.push(Label { name: "instance".into(), value: "10.0.0.1:7935".into() }),
            9 => ts.push(ts[i].clone()),
            10 => ts.extend(cells(2000, 0, at)),
            11 => ts.retain(|t| t.labels[0].value != "lpshare_max_sessions"),
            12 => ts[i].samples.push(Sample { value: 1.0, timestamp: at }),
            _ => ts[i].labels[0].value = "node_cpu_seconds_total".into(),
        }
        match m {
            0..=3 => "implausible",
            4..=6 => "bad_timestamp",
            10 => "too_many_series",
            _ => "malformed",
        }
    }

    proptest! {
        #[test]
        fn every_share_a_node_makes_is_taken((share, made, signed) in share(MAX_CELLS)) {
            let w = decode(&encode(&share, made)).unwrap();
            prop_assert_eq!(push(&w, signed), Ok(()));
        }

        #[test]
        fn every_hostile_mutation_is_refused((share, made, signed) in share(MAX_CELLS - 1), m in 0u8..14, i: usize) {
            let mut w = decode(&encode(&share, made)).unwrap();
            let expected = mutate(&mut w, m, i, signed);
            let refusal = push(&w, signed).unwrap_err();
            prop_assert_eq!(label(&refusal), expected, "{}", refusal.why());
        }
    }

    #[test]
    fn node_series_are_the_allowlist_less_the_per_cell_ones() {
        assert_eq!(allowlist().len(), NODE_SERIES + PER_CELL.len());
        assert!(PER_CELL.iter().all(|n| allowlist().contains(n)));
    }

    #[test]
    fn the_values_of_known_attacks_are_refused() {
        let node = |name, v| series(&[("__name__", name)], v, 1_000);
        let cell = |name, cell: &str, v| series(&[("__name__", name), ("cell", cell), ("region", "europe")], v, 1_000);
        let base = |streams, gateways, pixels| WriteRequest {
            timeseries: vec![
                node("lpshare_sessions", 2.0),
                node("lpshare_max_sessions", 10.0),
                cell("lpshare_gateways", "DE", gateways),
                cell("lpshare_streams", "DE", streams),
                cell("lpshare_pixels_per_second", "DE", pixels),
            ],
        };
        assert_eq!(push(&base(4.0, 3.0, 1e9), 1_000), Ok(()));
        for (w, kind) in [
            (base(4.0, 3.0, 1e12), "implausible"),
            (base(11.0, 3.0, 1e9), "implausible"),
            (base(4.0, 5.0, 1e9), "implausible"),
            (base(4.5, 3.0, 1e9), "implausible"),
            (base(4.0, 2.5, 1e9), "implausible"),
        ] {
            assert_eq!(label(&push(&w, 1_000).unwrap_err()), kind);
        }
        let mut w = base(4.0, 3.0, 1e9);
        w.timeseries.push(cell("lpshare_streams", "europe", 1.0));
        assert!(push(&w, 1_000).unwrap_err().why().contains("has no lpshare_gateways"));
        w.timeseries[5] =
            series(&[("__name__", "lpshare_streams"), ("cell", "europe"), ("region", "asia")], 1.0, 1_000);
        assert!(push(&w, 1_000).unwrap_err().why().contains("does not lie in"));
        // Signed before the samples were taken, or more than an hour after.
        assert_eq!(label(&push(&base(4.0, 3.0, 1e9), 999).unwrap_err()), "bad_timestamp");
        // A named cell of fewer than K_FLOOR gateways, or with no streams: no node shares one.
        assert_eq!(label(&push(&base(4.0, 2.0, 1e9), 1_000).unwrap_err()), "implausible");
        assert_eq!(label(&push(&base(0.0, 0.0, 0.0), 1_000).unwrap_err()), "implausible");
        assert_eq!(push(&base(4.0, 3.0, 1e9), 1_000 + AGE_MS).map_err(|r| label(&r)), Ok(()));
        assert_eq!(label(&push(&base(4.0, 3.0, 1e9), 1_001 + AGE_MS).unwrap_err()), "bad_timestamp");
        let r = Refusal::TooManySeries("x".into());
        assert_eq!((label(&r), crate::Outcome::from(&r).status(), r.why()), ("too_many_series", 422, "x"));
    }

    fn push_of(series: Vec<TimeSeries>) -> WriteRequest {
        WriteRequest { timeseries: series }
    }

    #[test]
    fn an_orchestrator_inventing_cells_is_refused_past_the_bound() {
        let (book, now, orch) = (SeriesBook::default(), Instant::now(), Address([1; 20]));
        let mut fed = 0;
        for p in 0..2000 / MAX_CELLS + 1 {
            let w = push_of(cells(MAX_CELLS, p * MAX_CELLS, 0));
            match book.admit(orch, &w, now) {
                Ok(()) => fed += w.timeseries.len(),
                Err(r) => {
                    assert_eq!(label(&r), "too_many_series");
                    assert!(
                        fed + w.timeseries.len() > MAX_SERIES_PER_ORCHESTRATOR && fed <= MAX_SERIES_PER_ORCHESTRATOR
                    );
                }
            }
        }
        assert!(fed <= MAX_SERIES_PER_ORCHESTRATOR && fed > MAX_SERIES_PER_ORCHESTRATOR - 3 * MAX_CELLS, "{fed}");
        // What it fed before is still taken; another orchestrator is not held back; a day later it may feed anew.
        assert_eq!(book.admit(orch, &push_of(cells(MAX_CELLS, 0, 0)), now), Ok(()));
        assert_eq!(book.admit(Address([2; 20]), &push_of(cells(MAX_CELLS, 5000, 0)), now), Ok(()));
        assert_eq!(book.admit(orch, &push_of(cells(MAX_CELLS, 5000, 0)), now + SERIES_PERIOD), Ok(()));
    }

    #[test]
    fn a_normal_orchestrator_is_never_refused() {
        let (book, start, orch) = (SeriesBook::default(), Instant::now(), Address([3; 20]));
        let names = ["lpshare_sessions", "lpshare_max_sessions", "lpshare_kernel_bytes_ratio", "lpshare_transcoders"];
        let mut w = push_of(cells(2, 100, 0));
        w.timeseries.extend(names.map(|n| series(&[("__name__", n)], 1.0, 0)));
        assert_eq!(w.timeseries.len(), 10);
        for i in 0..1000 {
            assert_eq!(book.admit(orch, &w, start + Duration::from_secs(60 * i)), Ok(()));
        }
        let book = book.0.lock().unwrap();
        assert_eq!(book.fed[&orch].series.len(), 10);
    }

    #[test]
    fn the_book_forgets_the_least_recent_orchestrators() {
        let (book, start) = (SeriesBook::default(), Instant::now());
        let w = push_of(cells(1, 0, 0));
        for i in 0..MAX_TRACKED_ORCHESTRATORS + 50 {
            let mut a = [0u8; 20];
            a[..8].copy_from_slice(&(i as u64).to_be_bytes());
            assert_eq!(book.admit(Address(a), &w, start + Duration::from_secs(i as u64)), Ok(()));
        }
        let book = book.0.lock().unwrap();
        assert_eq!(book.fed.len(), MAX_TRACKED_ORCHESTRATORS);
        assert!(!book.fed.contains_key(&Address([0; 20])));
        assert!(book.fed.values().all(|f| f.series.len() == 3));
    }
}
