//! Geo binning against real MaxMind-format databases: gateways are counted as the disclosure
//! rules count them (IPv6 by /64, IPv4 by /24, one per geo-database network), so addresses of one
//! network never fill a cell, and a cell one gateway dominates is not shared as its own.

mod common;

use common::geo_db;
use lpwatch::share::geo::{CellSize, Geo};
use std::net::IpAddr;

/// Berlin for four IPv6 /64s, a /48 and 198.51.100.0/24, as records of their own (a record is a
/// network: every address in a record wider than a /64 or a /24 is one gateway; records differ,
/// or the writer would merge neighbours into one wider network).
fn geo(dir: &std::path::Path) -> Geo {
    let path = dir.join("city.mmdb");
    geo_db::write(
        &path,
        "Test-City",
        &[
            ("2001:db8:1:1::/64", 52.52, 13.40, "DE", "EU"),
            ("2001:db8:1:2::/64", 52.53, 13.40, "DE", "EU"),
            ("2001:db8:1:3::/64", 52.54, 13.40, "DE", "EU"),
            ("2001:db8:9:9::/64", 52.55, 13.40, "DE", "EU"),
            ("2001:db8:2::/48", 52.52, 13.40, "DE", "EU"),
            ("198.51.100.0/24", 52.52, 13.40, "DE", "EU"),
        ],
    );
    Geo::open(&path, CellSize::Degrees(5)).unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn cells(geo: &Geo, peers: &[IpAddr]) -> Vec<(String, usize, usize)> {
    geo.bin(peers, 3).into_iter().map(|c| (c.place.cell, c.gateways, c.streams)).collect()
}

#[test]
fn three_addresses_of_one_slash_64_publish_no_cell() {
    let dir = tempfile::tempdir().unwrap();
    let geo = geo(dir.path());
    let one_host = ips(&["2001:db8:1:1::1", "2001:db8:1:1::2", "2001:db8:1:1:ffff::3"]);
    assert_eq!(cells(&geo, &one_host), [("other".to_string(), 1, 3)], "one /64 is one gateway");
    // Three /64s are three gateways: the cell is shared.
    let three = ips(&["2001:db8:1:1::1", "2001:db8:1:2::1", "2001:db8:1:3::1"]);
    assert_eq!(cells(&geo, &three), [("N50E010-5deg".to_string(), 3, 3)]);
}

#[test]
fn addresses_of_one_slash_24_or_one_database_network_are_one_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let geo = geo(dir.path());
    let ipv4 = ips(&["198.51.100.1", "198.51.100.2", "198.51.100.200"]);
    assert_eq!(cells(&geo, &ipv4), [("other".to_string(), 1, 3)]);
    // Three /64s of one database network (a /48 record) are one gateway too.
    let one_network = ips(&["2001:db8:2:1::1", "2001:db8:2:2::1", "2001:db8:2:3::1"]);
    assert_eq!(cells(&geo, &one_network), [("other".to_string(), 1, 3)]);
    // A dual-stack host and a neighbour: its IPv4 /24, its IPv6 /64, and another /64: 3 gateways.
    let dual = ips(&["198.51.100.1", "2001:db8:1:1::1", "2001:db8:1:1::2", "2001:db8:9:9::1"]);
    assert_eq!(cells(&geo, &dual), [("N50E010-5deg".to_string(), 3, 4)]);
}

#[test]
fn a_cell_one_gateway_dominates_is_merged() {
    let dir = tempfile::tempdir().unwrap();
    let geo = geo(dir.path());
    // Three gateways in Berlin, one of them with 10 of the 12 connections: Berlin is not shared
    // as its own cell; merged into europe, and europe (the same gateways) into "other".
    let mut peers = ips(&["2001:db8:1:2::1", "2001:db8:1:3::1"]);
    peers.extend(std::iter::repeat_n("2001:db8:1:1::1".parse::<IpAddr>().unwrap(), 10));
    assert_eq!(cells(&geo, &peers), [("other".to_string(), 3, 12)]);
    // Spread evenly, the same three are shared.
    let even = ips(&["2001:db8:1:1::1", "2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:1::1"]);
    assert_eq!(cells(&geo, &even), [("N50E010-5deg".to_string(), 3, 4)]);
}
