//! Every file the collector is given reaches it through the one bounded reader
//! (`lpbake_rules::read`): a FIFO or a device as its config or its `rpc_url_file` is refused at
//! once, with one error naming it and the fix. The binary runs capped in time and memory
//! (tests/support/capped_child.rs), so a regression fails instead of hanging or filling memory.

#[path = "../../tests/support/capped_child.rs"]
mod capped_child;

use capped_child::{capped, mkfifo, refused, run, Ended};
use std::path::Path;

fn collector(config: &Path) -> Ended {
    run(capped(Path::new(env!("CARGO_BIN_EXE_lpshare-collector"))).arg(config))
}

#[test]
fn a_config_that_is_a_fifo_or_a_device_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("collector.toml");
    mkfifo(&fifo);
    refused(&collector(&fifo), &fifo, "a FIFO");
    refused(&collector(Path::new("/dev/zero")), Path::new("/dev/zero"), "a character device");
}

#[test]
fn an_rpc_url_file_that_is_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("rpc");
    mkfifo(&fifo);
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "forward = \"http://127.0.0.1:9090/api/v1/write\"\nnetwork = \"arbitrum-one-mainnet\"\nrpc_url_file = \"{}\"\n",
            fifo.display()
        ),
    )
    .unwrap();
    refused(&collector(&config), &fifo, "a FIFO");
}
