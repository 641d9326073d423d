//! Test geo databases in the MaxMind DB format: City-shaped records (continent code, country
//! code, coordinates) for chosen networks, written with an independent writer.

use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct Code {
    code: &'static str,
}

#[derive(Serialize)]
struct Iso {
    iso_code: &'static str,
}

#[derive(Serialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

#[derive(Serialize)]
struct City {
    continent: Code,
    country: Iso,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
}

/// One network and where it is: (CIDR, latitude, longitude, country, continent).
pub type Network = (&'static str, f64, f64, &'static str, &'static str);

/// Writes a database of type `kind` (e.g. "Test-City"; a "Country" kind gets no coordinates).
pub fn write(path: &Path, kind: &str, places: &[Network]) {
    let mut w = mmdb_writer::Writer::new(kind);
    let with_coordinates = kind.contains("City");
    for (net, latitude, longitude, country, continent) in places {
        let record = City {
            continent: Code { code: continent },
            country: Iso { iso_code: country },
            location: with_coordinates.then_some(Location { latitude: *latitude, longitude: *longitude }),
        };
        w.insert(net.parse::<ipnet::IpNet>().expect("a CIDR"), &record).expect("insert");
    }
    std::fs::write(path, w.to_bytes().expect("mmdb bytes")).expect("write mmdb");
}
