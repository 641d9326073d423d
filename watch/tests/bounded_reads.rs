//! Every file a user names reaches lpwatch through the one bounded reader (`lpbake_rules::read`):
//! a FIFO or a device given as the config, an upstream's `url_file`, the keystore-init password
//! file or the share geo database is refused at once, with one error
//! naming it and the fix, and nothing is written. The binary runs capped in time and memory
//! (tests/support/capped_child.rs), so a regression fails instead of hanging or filling memory.

#[path = "../../tests/support/capped_child.rs"]
mod capped_child;

use capped_child::{capped, mkfifo, refused, run, Ended};
use std::path::Path;

/// `lpwatch ARGS...` in the capped child, with no `LPWATCH_*` settings inherited.
fn lpwatch(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Ended {
    let mut cmd = capped(Path::new(env!("CARGO_BIN_EXE_lpwatch")));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LPWATCH_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args.iter().map(|a| a.as_ref()));
    run(&mut cmd)
}

/// Writes `text` as the config file `lpwatch.toml` in `dir`.
fn config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("lpwatch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_config_that_is_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("lpwatch.toml");
    mkfifo(&fifo);
    refused(&lpwatch(&[&"--config", &fifo, &"--check-config"]), &fifo, "a FIFO");
}

#[test]
fn a_config_that_is_dev_zero_is_refused() {
    let zero = Path::new("/dev/zero");
    refused(&lpwatch(&[&"--config", &zero, &"--check-config"]), zero, "a character device");
}

#[test]
fn an_upstream_url_file_that_is_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("rpc-primary");
    mkfifo(&fifo);
    let text =
        format!("network = \"offchain\"\n[[rpc.upstream]]\nname = \"primary\"\nurl_file = \"{}\"\n", fifo.display());
    let path = config(dir.path(), &text);
    refused(&lpwatch(&[&"--config", &path, &"--check-config"]), &fifo, "a FIFO");
}

#[test]
fn a_password_file_that_is_a_fifo_is_refused_and_no_keystore_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("eth-password");
    mkfifo(&fifo);
    let keystore = dir.path().join("keystore");
    let ended = lpwatch(&[&"keystore-init", &"--keystore", &keystore, &"--password-file", &fifo, &"--light-kdf"]);
    refused(&ended, &fifo, "a FIFO");
    assert!(!keystore.exists(), "the keystore directory was made");
}

#[test]
fn a_geo_database_that_is_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("geo.mmdb");
    mkfifo(&fifo);
    let path = config(dir.path(), &format!("network = \"offchain\"\n[share]\nmmdb = \"{}\"\n", fifo.display()));
    refused(&lpwatch(&[&"--config", &path, &"share", &"--dry-run"]), &fifo, "a FIFO");
}
