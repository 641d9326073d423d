//! The series and labels a share may hold, one definition for the node that writes them and the
//! collector that checks them: the minimal set and each extra's series (with the livepeer metric
//! each is read from), and the grammar of the `cell` and `region` labels: a grid square
//! ([`grid_cell`]), a country's ISO code, a continent ([`continent_name`]) or [`OTHER`].

use lpbake_rules::share::Extra;

/// The bucket of gateways whose place is unknown, or too thinly populated to name.
pub const OTHER: &str = "other";

/// A cell and the region (continent) it lies in: the labels of a per-cell series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub cell: String,
    pub region: String,
}

/// One shared value: a name from the allowlist, for the node or for one place (`cell` and
/// `region` labels), a number.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: &'static str,
    pub place: Option<Place>,
    pub value: f64,
}

/// The shared series `extra` adds, each with the livepeer metric it is read from.
pub fn extra_series(extra: Extra) -> &'static [(&'static str, &'static str)] {
    match extra {
        Extra::Transcoders => &[
            ("lpshare_transcoders", "livepeer_transcoders_number"),
            ("lpshare_transcoders_capacity", "livepeer_transcoders_capacity"),
            ("lpshare_transcoders_load", "livepeer_transcoders_load"),
        ],
        Extra::SuccessRate => &[("lpshare_success_rate", "livepeer_success_rate")],
    }
}

/// Every name a share may hold: the allowlist a relabelling Prometheus keeps.
pub fn allowlist() -> Vec<&'static str> {
    let mut names = MINIMAL.to_vec();
    for extra in [Extra::Transcoders, Extra::SuccessRate] {
        names.extend(extra_series(extra).iter().map(|(name, _)| *name));
    }
    names
}

/// The series every share holds (the per-node and per-cell ones).
pub const MINIMAL: [&str; 6] = [
    "lpshare_sessions",
    "lpshare_max_sessions",
    "lpshare_gateways",
    "lpshare_streams",
    "lpshare_pixels_per_second",
    "lpshare_kernel_bytes_ratio",
];

/// The codes of the continents as the geo databases name them, in [`continent_name`]'s order.
const CONTINENT_CODES: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// Whether `s` is a `region` label a share may carry: a continent's name or [`OTHER`].
pub fn is_region(s: &str) -> bool {
    s == OTHER || CONTINENT_CODES.iter().any(|c| continent_name(c) == Some(s))
}

/// Whether `s` is a `cell` label a share may carry: a region ([`is_region`]), a country's ISO
/// 3166-1 alpha-2 code, or a grid square exactly as [`grid_cell`] names one (N dividing 90,
/// the corner on the grid, inside the globe).
pub fn is_cell(s: &str) -> bool {
    if is_region(s) || (s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())) {
        return true;
    }
    let Some((corner, size)) = s.split_once('-') else { return false };
    let Some(n) = size.strip_suffix("deg").filter(|n| !n.starts_with('0')).and_then(|n| n.parse::<u8>().ok()) else {
        return false;
    };
    let b = corner.as_bytes();
    if n == 0 || 90 % n != 0 || b.len() != 7 || !b[1..3].iter().chain(&b[4..7]).all(u8::is_ascii_digit) {
        return false;
    }
    let sign = |c: u8, neg: u8, pos: u8| match c {
        c if c == neg => Some(-1i32),
        c if c == pos => Some(1),
        _ => None,
    };
    let (Some(ns), Some(ew)) = (sign(b[0], b'S', b'N'), sign(b[3], b'W', b'E')) else { return false };
    let (lat, lon) = (
        ns * i32::from(corner[1..3].parse::<u8>().unwrap_or(u8::MAX)),
        ew * corner[4..7].parse::<i32>().unwrap_or(i32::MAX),
    );
    // The name grid_cell gives the square's own corner: the same text back, nothing else.
    grid_cell(f64::from(lat), f64::from(lon), n) == s
}

/// The cell name of a continent, by its code: lowercase words, so that it never reads as a
/// country code (NA is Namibia, SA Saudi Arabia, AS American Samoa).
pub fn continent_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "AF" => "africa",
        "AN" => "antarctica",
        "AS" => "asia",
        "EU" => "europe",
        "NA" => "north-america",
        "OC" => "oceania",
        "SA" => "south-america",
        _ => return None,
    })
}

/// The `n`-degree square holding (`lat`, `lon`), named by its south-west corner and its size:
/// `N50E010-5deg`, `S35W060-5deg` (squares of other sizes are other cells). The north pole and
/// the antimeridian (+180) fall into the square below them.
pub fn grid_cell(lat: f64, lon: f64, n: u8) -> String {
    let size = f64::from(n);
    let corner = |v: f64, max: f64| ((v.clamp(-max, max) / size).floor() * size).min(max - size) as i32;
    let (la, lo) = (corner(lat, 90.0), corner(lon, 180.0));
    let ns = if la < 0 { 'S' } else { 'N' };
    let ew = if lo < 0 { 'W' } else { 'E' };
    format!("{ns}{:02}{ew}{:03}-{n}deg", la.abs(), lo.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squares_are_named_by_their_south_west_corner() {
        assert_eq!(grid_cell(52.52, 13.40, 5), "N50E010-5deg"); // Berlin
        assert_eq!(grid_cell(-34.6, -58.4, 5), "S35W060-5deg"); // Buenos Aires
        assert_eq!(grid_cell(0.0, 0.0, 5), "N00E000-5deg");
        assert_eq!(grid_cell(-0.1, -0.1, 5), "S05W005-5deg");
        assert_eq!(grid_cell(90.0, 180.0, 5), "N85E175-5deg");
        assert_eq!(grid_cell(-90.0, -180.0, 45), "S90W180-45deg");
        assert_eq!(grid_cell(37.77, -122.42, 1), "N37W123-1deg"); // San Francisco
    }

    #[test]
    fn labels_are_what_the_node_writes_and_nothing_else() {
        for ok in ["N50E010-5deg", "S35W060-5deg", "N85E175-5deg", "S90W180-45deg", "DE", "europe", "other"] {
            assert!(is_cell(ok), "{ok}");
        }
        for bad in
            ["N51E010-5deg", "N50E010-7deg", "N90E000-5deg", "n50e010-5deg", "N50E010-05deg", "de", "DEU", "", "x"]
        {
            assert!(!is_cell(bad), "{bad}");
        }
        assert!(is_region("north-america") && is_region("other") && !is_region("DE") && !is_region("Europe"));
    }

    proptest::proptest! {
        /// Every square grid_cell names is a cell label, and parsing it finds the same square.
        #[test]
        fn every_square_named_is_a_cell(lat in -90.0f64..=90.0, lon in -180.0f64..=180.0, i in 0usize..12) {
            let n = [1u8, 2, 3, 5, 6, 9, 10, 15, 18, 30, 45, 90][i];
            let cell = grid_cell(lat, lon, n);
            proptest::prop_assert!(is_cell(&cell), "{}", cell);
        }
    }
}
