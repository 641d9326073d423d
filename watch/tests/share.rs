//! `lpwatch share --dry-run` against the real livepeer stand-in, with real connections to its
//! service port from several loopback addresses that a test geo database places in Berlin,
//! Paris, Madrid and São Paulo: what it prints is counts per merged cell, never an address.

mod common;

use common::geo_db::{self, Place};
use common::{start_standin, Proc};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};

const PLACES: [Place; 7] = [
    ("127.0.0.2/32", 52.52, 13.40, "DE", "EU"),
    ("127.0.0.3/32", 52.40, 13.05, "DE", "EU"),
    ("127.0.0.4/31", 53.55, 10.00, "DE", "EU"), // .4 and .5
    ("127.0.0.6/32", 48.85, 2.35, "FR", "EU"),
    ("127.0.0.7/32", 48.60, 2.20, "FR", "EU"),
    ("127.0.0.8/32", 40.42, -3.70, "ES", "EU"),
    ("127.0.0.9/32", -23.55, -46.63, "BR", "SA"),
];

/// Connects to 127.0.0.1:`port` from `source`.
async fn connect_from(source: &str, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap()
}

/// Waits (bounded) until the stand-in serves /metrics.
async fn wait_for_metrics(cli: &str, livepeer: &mut Proc) {
    let start = Instant::now();
    while reqwest::get(format!("{cli}/metrics")).await.map_or(true, |r| !r.status().is_success()) {
        assert!(livepeer.alive(), "the livepeer stand-in exited");
        assert!(start.elapsed() < Duration::from_secs(20), "the stand-in served no /metrics within 20s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `lpwatch --config <dir>/lpwatch.toml` with `config` and then `args`.
fn lpwatch(dir: &Path, config: &str, args: &[&str]) -> Output {
    let path = dir.join("lpwatch.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_lpwatch")).arg("--config").arg(&path).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "lpwatch failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test]
async fn dry_run_prints_counts_per_merged_cell_and_no_address() {
    let dir = tempfile::tempdir().unwrap();
    let mmdb = dir.path().join("geo.mmdb");
    geo_db::write(&mmdb, "Test-City", &PLACES);
    let (mut livepeer, cli, service) = start_standin(dir.path());
    wait_for_metrics(&cli, &mut livepeer).await;
    let cli_port: u16 = cli.rsplit(':').next().unwrap().parse().unwrap();

    // Berlin area: 4 gateways (one with two connections); Paris 2, Madrid 1, São Paulo 1;
    // 127.0.0.10 is in no database. A connection to the CLI port is no gateway.
    let mut held = Vec::new();
    for source in ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        held.push(connect_from(source, service).await);
    }
    for source in ["127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9", "127.0.0.10"] {
        held.push(connect_from(source, service).await);
    }
    held.push(connect_from("127.0.0.2", cli_port).await);

    let config = |cell: &str, ignore: &str| {
        format!(
            "network = \"offchain\"\n[livepeer]\ncli_url = \"{cli}\"\n\
             [share]\nmmdb = \"{}\"\ncell = \"{cell}\"\nservice_port = {service}\n{ignore}",
            mmdb.display()
        )
    };
    let share = |cell: &str, ignore: &str| {
        stdout(&lpwatch(dir.path(), &config(cell, ignore), &["share", "--dry-run", "--window", "200ms"]))
    };

    // 5-degree squares: Berlin (N50E010) and Hamburg (N50E010 too) hold 4 gateways and stay;
    // Paris (N45E000, 2) and Madrid (N40W005, 1) are merged into europe, which then holds 3;
    // São Paulo alone is merged into south-america, still below 3, so into "other" with the
    // address the database does not know.
    let grid = share("5deg", "ignore = []\n");
    let body: Vec<&str> = grid.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body[2..],
        [
            "lpshare_gateways{cell=\"N50E010\"} 4",
            "lpshare_streams{cell=\"N50E010\"} 5",
            "lpshare_pixels_per_second{cell=\"N50E010\"} 0",
            "lpshare_gateways{cell=\"europe\"} 3",
            "lpshare_streams{cell=\"europe\"} 3",
            "lpshare_pixels_per_second{cell=\"europe\"} 0",
            "lpshare_gateways{cell=\"other\"} 2",
            "lpshare_streams{cell=\"other\"} 2",
            "lpshare_pixels_per_second{cell=\"other\"} 0",
        ],
        "{grid}"
    );
    assert_eq!(body[..2], ["lpshare_sessions 0", "lpshare_max_sessions 10"], "{grid}");
    assert!(
        grid.starts_with("# lpwatch share --dry-run: 11 series; cells of 5deg, each with at least 3 gateways"),
        "{grid}"
    );
    assert!(!grid.contains("127.0.0"), "an address was printed:\n{grid}");

    // By country: DE holds 4, FR (2) and ES (1) make europe 3, BR goes to other. The
    // transcoders extra is named, but an orchestrator that transcodes itself reports no
    // transcoders_* metrics, so none is made up.
    let countries = share("country", "ignore = []\nmin_gateways = 3\nextras = [\"transcoders\"]\n");
    for line in
        ["lpshare_gateways{cell=\"DE\"} 4", "lpshare_gateways{cell=\"europe\"} 3", "lpshare_gateways{cell=\"other\"} 2"]
    {
        assert!(countries.contains(line), "no {line:?} in:\n{countries}");
    }
    assert!(!countries.contains("lpshare_transcoders"), "{countries}");
    // With k = 5 even the German cell is merged: europe holds all 7 European gateways.
    let strict = share("country", "ignore = []\nmin_gateways = 5\n");
    assert!(strict.contains("lpshare_gateways{cell=\"europe\"} 7\n") && !strict.contains("DE"), "{strict}");
    assert!(!countries.contains("127.0.0"), "an address was printed:\n{countries}");

    // By default loopback peers are the operator's own: none is counted.
    let default_ignore = share("5deg", "");
    assert!(!default_ignore.contains("lpshare_gateways"), "{default_ignore}");
    drop(held);
    livepeer.kill();
}

#[test]
fn refusals_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let country_db = dir.path().join("country.mmdb");
    geo_db::write(&country_db, "Test-Country", &PLACES);
    let run = |config: &str, args: &[&str]| {
        let out = lpwatch(dir.path(), config, args);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let offchain = "network = \"offchain\"\n";

    let (code, err) = run(offchain, &["share", "--dry-run"]);
    assert!(code == Some(1) && err.contains("no [share] table") && err.contains("mmdb ="), "{code:?} {err}");

    let (code, err) =
        run(&format!("{offchain}[share]\nmmdb = \"{}\"\n", country_db.display()), &["share", "--dry-run"]);
    assert!(code == Some(1) && err.contains("Test-Country") && err.contains("cell = \"country\""), "{code:?} {err}");

    let missing = dir.path().join("nope.mmdb");
    let (code, err) = run(&format!("{offchain}[share]\nmmdb = \"{}\"\n", missing.display()), &["share", "--dry-run"]);
    assert!(code == Some(1) && err.contains("nope.mmdb") && err.contains("GeoLite2"), "{code:?} {err}");

    // Without --dry-run there is nothing to do (sending is not built), and clap says so.
    let (code, err) = run(offchain, &["share"]);
    assert!(code == Some(2) && err.contains("--dry-run"), "{code:?} {err}");
}
