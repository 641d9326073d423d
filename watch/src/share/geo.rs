//! From addresses to coarse places: each remote address is looked up in the operator's
//! MaxMind-format database (GeoLite2 or DB-IP lite) and reduced to a cell (a square of N degrees,
//! a country or a continent). Gateways are counted as `lpbake_rules::disclosure` says (one per
//! /24, /64 or geo-database network); a cell that rule does not let the node share (fewer than k
//! gateways, or one gateway holding most of its connections) is merged into its continent, then
//! into "other". Each cell also names its region (its continent, or "other"). What leaves this
//! module is counts per cell, never an address.

use ipnet::IpNet;
use lpbake_rules::disclosure::{cell_may_be_shared, gateway_key};
use lpbake_rules::read::ReadError;
use maxminddb::geoip2;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Largest geo database read: GeoLite2-City and DB-IP City Lite are about 60 and 130 MiB.
const MAX_MMDB_BYTES: u64 = 512 << 20;

pub use lpshare::series::{continent_name, grid_cell, Place, OTHER};

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

/// The gateways and connections in one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellCount {
    pub place: Place,
    /// Distinct gateways ([`gateway_key`]).
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

    /// The cell of `ip`, its continent's name (`None` for what the database does not place), and
    /// the prefix length of the database's network holding it (in `ip`'s own family).
    fn place(&self, ip: IpAddr) -> (Option<String>, Option<String>, Option<u8>) {
        let Ok(found) = self.reader.lookup(ip) else { return (None, None, None) };
        let prefix = found.network().ok().filter(|n| n.is_ipv4() == ip.is_ipv4()).map(|n| n.prefix());
        let Ok(Some(city)) = found.decode::<geoip2::City>() else { return (None, None, prefix) };
        let continent = city.continent.code.and_then(continent_name).map(str::to_string);
        let cell = match self.size {
            CellSize::Continent => continent.clone(),
            CellSize::Country => city.country.iso_code.map(str::to_string),
            CellSize::Degrees(n) => match (city.location.latitude, city.location.longitude) {
                (Some(lat), Some(lon)) => Some(grid_cell(lat, lon, n)),
                _ => None,
            },
        };
        (cell, continent, prefix)
    }

    /// Counts the connections `peers` (one address per connection) per cell, by gateway
    /// ([`gateway_key`]: a gateway is placed where its lowest address is). A cell the node may
    /// not share ([`cell_may_be_shared`] with `k`) is merged into its continent, and a continent
    /// still not shareable into [`OTHER`], which names no place. Sorted by cell, then region.
    pub fn bin(&self, peers: &[IpAddr], k: usize) -> Vec<CellCount> {
        let mut sorted = peers.to_vec();
        sorted.sort_unstable();
        // gateway -> (cell, continent, connections)
        let mut gateways: BTreeMap<IpNet, (Option<String>, String, usize)> = BTreeMap::new();
        for ip in sorted {
            let (cell, continent, prefix) = self.place(ip);
            let entry = gateways.entry(gateway_key(ip, prefix)).or_insert_with(|| {
                let continent = continent.unwrap_or_else(|| OTHER.into());
                (cell, continent, 0)
            });
            entry.2 += 1;
        }
        // cell -> (gateways per continent, connections per gateway). A gateway with a continent
        // but no cell (no coordinates, say) starts in its continent's cell; one with neither in "other".
        let mut cells: BTreeMap<String, (BTreeMap<String, usize>, Vec<usize>)> = BTreeMap::new();
        for (cell, continent, streams) in gateways.into_values() {
            let entry = cells.entry(cell.unwrap_or_else(|| continent.clone())).or_default();
            *entry.0.entry(continent).or_default() += 1;
            entry.1.push(streams);
        }
        let other = || Place { cell: OTHER.into(), region: OTHER.into() };
        let mut merged: BTreeMap<Place, Vec<usize>> = BTreeMap::new();
        for (cell, (continents, per_gateway)) in cells {
            // A cell across a border lies in the continent most of its gateways are in (ties: by name).
            let region = continents
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                .map_or_else(|| OTHER.into(), |(c, _)| c);
            let into = if cell == OTHER || region == OTHER {
                other()
            } else if cell == region || cell_may_be_shared(&per_gateway, k) {
                Place { cell, region }
            } else {
                Place { cell: region.clone(), region }
            };
            merged.entry(into).or_default().extend(per_gateway);
        }
        // A continent of merged cells that still may not be shared goes to "other".
        let thin: Vec<Place> = merged
            .iter()
            .filter(|(p, per_gateway)| p.cell != OTHER && !cell_may_be_shared(per_gateway, k))
            .map(|(p, _)| p.clone())
            .collect();
        for place in thin {
            let per_gateway = merged.remove(&place).unwrap_or_default();
            merged.entry(other()).or_default().extend(per_gateway);
        }
        merged
            .into_iter()
            .map(|(place, per_gateway)| CellCount {
                place,
                gateways: per_gateway.len(),
                streams: per_gateway.iter().sum(),
            })
            .collect()
    }
}
