//! What a share holds: the minimal set (sessions now and at most, the kernel's byte count over
//! livepeer's where livepeer reports one, and per cell gateways, connections and transcoded
//! pixels per second) and the extras an operator names one by one, computed from two readings of
//! livepeer's `/metrics`, the cells of the connected gateways and the kernel's count.

use super::geo::CellCount;
use std::fmt::Write as _;
use std::time::Duration;

/// A series beyond the minimal set (its names: `lpbake_rules::share`, which lpbake checks too).
pub use lpbake_rules::share::Extra;
pub use lpshare::series::{allowlist, extra_series, Place, Series};

/// The sum over every label set of livepeer's metric `name` in exposition `text`; `None` if absent.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let value = match rest.chars().next() {
            Some('{') => rest.rsplit_once('}').map(|(_, v)| v),
            Some(' ') => Some(rest),
            _ => None,
        };
        if let Some(v) = value.and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// What a share is made from: livepeer's `/metrics` read `window` apart (`before`, `after`),
/// the gateways connected at `after` by cell, and the kernel's byte count on the service port
/// over the one livepeer reports (`None` where livepeer reports none).
pub struct Readings<'a> {
    pub before: &'a str,
    pub after: &'a str,
    pub window: Duration,
    pub cells: &'a [CellCount],
    pub kernel_bytes_ratio: Option<f64>,
}

/// The series of one share. Pixels per second are livepeer's `livepeer_mil_pixels_processed`
/// over the window, split over the cells by their share of connections (livepeer does not
/// report pixels per gateway).
pub fn series(r: &Readings, extras: &[Extra]) -> Vec<Series> {
    let (before, after, window, cells) = (r.before, r.after, r.window, r.cells);
    let node = |name, value| Series { name, place: None, value };
    let mut out = vec![
        node("lpshare_sessions", metric(after, "livepeer_current_sessions_total").unwrap_or(0.0)),
        node("lpshare_max_sessions", metric(after, "livepeer_max_sessions_total").unwrap_or(0.0)),
    ];
    if let Some(ratio) = r.kernel_bytes_ratio {
        out.push(node("lpshare_kernel_bytes_ratio", ratio));
    }
    let pixels = |text| metric(text, "livepeer_mil_pixels_processed").unwrap_or(0.0) * 1e6;
    // A restarted livepeer starts its counter again: no rate across the restart.
    let per_second = ((pixels(after) - pixels(before)) / window.as_secs_f64().max(1e-3)).max(0.0);
    let streams: usize = cells.iter().map(|c| c.streams).sum();
    for c in cells {
        let cell = |name, value| Series { name, place: Some(c.place.clone()), value };
        out.push(cell("lpshare_gateways", c.gateways as f64));
        out.push(cell("lpshare_streams", c.streams as f64));
        out.push(cell("lpshare_pixels_per_second", (per_second * c.streams as f64 / streams as f64).round()));
    }
    for extra in extras {
        for (name, source) in extra_series(*extra) {
            if let Some(value) = metric(after, source) {
                out.push(node(name, value));
            }
        }
    }
    out
}

/// The series as Prometheus text, one sample a line.
pub fn exposition(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        match &s.place {
            Some(p) => writeln!(out, "{}{{cell=\"{}\",region=\"{}\"}} {}", s.name, p.cell, p.region, s.value),
            None => writeln!(out, "{} {}", s.name, s.value),
        }
        .expect("writing to a String");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# HELP livepeer_mil_pixels_processed x\nlivepeer_mil_pixels_processed{node_id=\"a\"} 10\n";
    const AFTER: &str = "\
# TYPE livepeer_current_sessions_total gauge
livepeer_current_sessions_total{node_id=\"a\",node_type=\"orch\"} 3
livepeer_current_sessions_total_other 9
livepeer_max_sessions_total 10
livepeer_mil_pixels_processed{node_id=\"a\"} 13
livepeer_transcoders_number 2
";

    #[test]
    fn reads_livepeers_metrics_by_exact_name() {
        assert_eq!(metric(AFTER, "livepeer_current_sessions_total"), Some(3.0));
        assert_eq!(metric(AFTER, "livepeer_transcoders_capacity"), None);
    }

    #[test]
    fn the_minimal_set_and_named_extras_only() {
        let place = |cell: &str, region: &str| Place { cell: cell.into(), region: region.into() };
        let cells = [
            CellCount { place: place("N50E010-5deg", "europe"), gateways: 3, streams: 4 },
            CellCount { place: place("other", "other"), gateways: 1, streams: 2 },
        ];
        let readings = Readings {
            before: BEFORE,
            after: AFTER,
            window: Duration::from_secs(2),
            cells: &cells,
            kernel_bytes_ratio: None,
        };
        let s = series(&readings, &[]);
        assert_eq!(
            exposition(&s),
            "lpshare_sessions 3\nlpshare_max_sessions 10\n\
             lpshare_gateways{cell=\"N50E010-5deg\",region=\"europe\"} 3\n\
             lpshare_streams{cell=\"N50E010-5deg\",region=\"europe\"} 4\n\
             lpshare_pixels_per_second{cell=\"N50E010-5deg\",region=\"europe\"} 1000000\n\
             lpshare_gateways{cell=\"other\",region=\"other\"} 1\nlpshare_streams{cell=\"other\",region=\"other\"} 2\n\
             lpshare_pixels_per_second{cell=\"other\",region=\"other\"} 500000\n"
        );
        let with = series(&Readings { cells: &[], kernel_bytes_ratio: Some(1.01), ..readings }, &[Extra::Transcoders]);
        assert_eq!(with[2], Series { name: "lpshare_kernel_bytes_ratio", place: None, value: 1.01 });
        assert_eq!(with.last(), Some(&Series { name: "lpshare_transcoders", place: None, value: 2.0 }));
        assert!(with.iter().all(|s| allowlist().contains(&s.name)));
    }
}
