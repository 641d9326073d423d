//! From addresses to coarse places: each remote address is looked up in the operator's
//! MaxMind-format database (GeoLite2 or DB-IP lite) and reduced to a cell (a square of N degrees,
//! a country or a continent); cells with fewer than k distinct gateway addresses are merged into their
//! continent, then into "other". Each cell also names its region (its continent, or "other").
//! What leaves this module is counts per cell, never an address.

use lpbake_rules::read::ReadError;
use maxminddb::geoip2;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Largest geo database read: GeoLite2-City and DB-IP City Lite are about 60 and 130 MiB.
const MAX_MMDB_BYTES: u64 = 512 << 20;

/// The bucket of gateways whose place is unknown, or too thinly populated to name.
pub const OTHER: &str = "other";

/// How coarse a cell is (its spellings: `lpbake_rules::share`, which lpbake checks too).
pub use lpbake_rules::share::CellSize;

/// Why the geo database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("the geo database {0}; share.mmdb must name a GeoLite2 or DB-IP lite .mmdb file")]
    Read(#[from] ReadError),
    #[error(
        "cannot open the geo database {path}: {message}; share.mmdb must name a GeoLite2 or DB-IP lite .mmdb file"
    )]
    Open { path: PathBuf, message: String },
    #[error(
        "the geo database {path} is a {kind:?} database, which has no coordinates: share.cell = \"{size}\" \
         needs a City database (GeoLite2-City, DB-IP City Lite), or use share.cell = \"country\""
    )]
    NoCoordinates { path: PathBuf, kind: String, size: CellSize },
}

/// A cell and the region (continent) it lies in: the labels of a per-cell series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub cell: String,
    pub region: String,
}

/// The gateways and connections in one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellCount {
    pub place: Place,
    /// Distinct remote addresses.
    pub gateways: usize,
    /// Connections.
    pub streams: usize,
}

/// The operator's geo database and the cell size.
pub struct Geo {
    reader: maxminddb::Reader<Vec<u8>>,
    size: CellSize,
}

impl Geo {
    /// Opens `path` (read whole through the bounded reader); a grid needs a database with
    /// coordinates (a City database).
    pub fn open(path: &Path, size: CellSize) -> Result<Geo, GeoError> {
        let bytes = lpbake_rules::read::bytes(path, MAX_MMDB_BYTES)?;
        let reader = maxminddb::Reader::from_source(bytes)
            .map_err(|e| GeoError::Open { path: path.to_path_buf(), message: e.to_string() })?;
        let kind = reader.metadata().database_type.clone();
        if matches!(size, CellSize::Degrees(_)) && !kind.to_ascii_lowercase().contains("city") {
            return Err(GeoError::NoCoordinates { path: path.to_path_buf(), kind, size });
        }
        Ok(Geo { reader, size })
    }

    /// The cell of `ip` and its continent's code; `None` for what the database does not place.
    fn place(&self, ip: IpAddr) -> (Option<String>, Option<String>) {
        let Ok(Some(city)) = self.reader.lookup(ip).and_then(|r| r.decode::<geoip2::City>()) else {
            return (None, None);
        };
        let continent = city.continent.code.and_then(continent_name).map(str::to_string);
        let cell = match self.size {
            CellSize::Continent => continent.clone(),
            CellSize::Country => city.country.iso_code.map(str::to_string),
            CellSize::Degrees(n) => match (city.location.latitude, city.location.longitude) {
                (Some(lat), Some(lon)) => Some(grid_cell(lat, lon, n)),
                _ => None,
            },
        };
        (cell, continent)
    }

    /// Counts the connections `peers` (one address per connection) per cell, merging cells with
    /// fewer than `k` distinct gateways into their continent and then into [`OTHER`]. Sorted by
    /// cell, then region.
    pub fn bin(&self, peers: &[IpAddr], k: usize) -> Vec<CellCount> {
        let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
        for ip in peers {
            *per_ip.entry(*ip).or_default() += 1;
        }
        // cell -> (gateways per continent, gateways, streams). An address with a continent but no
        // cell (no coordinates, say) starts in its continent's cell; one with neither in "other".
        let mut cells: BTreeMap<String, (BTreeMap<String, usize>, usize, usize)> = BTreeMap::new();
        for (ip, streams) in per_ip {
            let (cell, continent) = self.place(ip);
            let continent = continent.unwrap_or_else(|| OTHER.into());
            let cell = cell.unwrap_or_else(|| continent.clone());
            let entry = cells.entry(cell).or_default();
            *entry.0.entry(continent).or_default() += 1;
            entry.1 += 1;
            entry.2 += streams;
        }
        let other = || Place { cell: OTHER.into(), region: OTHER.into() };
        let mut merged: BTreeMap<Place, (usize, usize)> = BTreeMap::new();
        for (cell, (continents, gateways, streams)) in cells {
            // A cell across a border lies in the continent most of its gateways are in (ties: by name).
            let region = continents
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                .map_or_else(|| OTHER.into(), |(c, _)| c);
            let into = if gateways >= k || cell == OTHER || cell == region {
                Place { region: if cell == OTHER { OTHER.into() } else { region }, cell }
            } else {
                Place { cell: region.clone(), region }
            };
            let e = merged.entry(into).or_default();
            e.0 += gateways;
            e.1 += streams;
        }
        // A continent made of merged cells that is still below k goes to "other".
        let thin: Vec<Place> =
            merged.iter().filter(|(p, (g, _))| *g < k && p.cell != OTHER).map(|(p, _)| p.clone()).collect();
        for place in thin {
            let (g, s) = merged.remove(&place).unwrap_or_default();
            let e = merged.entry(other()).or_default();
            e.0 += g;
            e.1 += s;
        }
        merged.into_iter().map(|(place, (gateways, streams))| CellCount { place, gateways, streams }).collect()
    }
}

/// The cell name of a continent, by its code: lowercase words, so that it never reads as a
/// country code (NA is Namibia, SA Saudi Arabia, AS American Samoa).
fn continent_name(code: &str) -> Option<&'static str> {
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
fn grid_cell(lat: f64, lon: f64, n: u8) -> String {
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
}
