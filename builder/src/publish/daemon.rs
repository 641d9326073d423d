//! Loading built images into a Docker engine through its API (bollard; no docker CLI): each
//! docker-archive is streamed from disk (opened through the bounded reader by [`Layout`]), and
//! the engine tags it from the archive's manifest.json (`lpbake/<image>:<version>` and
//! `:latest`). The engine's address comes from the caller (the CLI fills it from
//! `--docker-host` / `DOCKER_HOST`).

use crate::error::{Error, Result};
use crate::publish::layout::Layout;
use crate::report::Reporter;
use bollard::query_parameters::ImportImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use lpbake_rules::read::Bounded;
use std::path::Path;
use tokio::io::AsyncReadExt as _;

/// Where the engine listens when nothing says otherwise.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

fn unreachable(host: &str, e: impl std::fmt::Display) -> Error {
    Error::Engine {
        msg: format!("no Docker engine answers at {host}: {e}"),
        fix: "start one (`systemctl start docker`, or `dockerd &` as root; `make deps` does it for the tests), or point DOCKER_HOST at it".into(),
    }
}

/// Loads the named images of build output `out` (all of them when none are named) into the
/// engine at `host` (`unix:///path` or `tcp://host:port`); returns the tags it reported.
pub fn load(out: &Path, names: &[String], host: &str, report: &Reporter) -> Result<Vec<String>> {
    let layout = Layout::open(out)?;
    let archives: Vec<(String, Bounded)> = layout
        .select(names)?
        .into_iter()
        .map(|(n, _)| layout.docker_archive(&n).map(|a| (n, a)))
        .collect::<Result<_>>()?;
    let tags = load_archives(archives, host, report)?;
    for t in &tags {
        report.step(format!("loaded {t}"));
    }
    Ok(tags)
}

/// Loads each `(image, opened docker-archive)` and returns the tags the engine reported.
fn load_archives(archives: Vec<(String, Bounded)>, host: &str, report: &Reporter) -> Result<Vec<String>> {
    crate::runtime::block_on(async {
        let docker = Docker::connect_with_host(host).map_err(|e| unreachable(host, e))?;
        // Speak the engine's API version, whatever bollard's default is.
        let docker = docker.negotiate_version().await.map_err(|e| unreachable(host, e))?;
        let mut tags = Vec::new();
        for (name, archive) in archives {
            report.step(format!("loading {name} into the Docker engine"));
            let (path, size) = (archive.path().to_path_buf(), archive.size());
            // No further than the size it was opened with.
            let file = tokio::fs::File::from_std(archive.into_file()).take(size);
            let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
            let opts = ImportImageOptionsBuilder::default().quiet(true).build();
            let mut progress = docker.import_image_stream(opts, body, None);
            while let Some(item) = progress.next().await {
                let info = item.map_err(|e| Error::Engine {
                    msg: format!("the engine refused {}: {e}", path.display()),
                    fix: "rebuild the image (`lpbake build`); if it persists, check the engine's log".into(),
                })?;
                if let Some(line) = info.stream.as_deref() {
                    if let Some(tag) = line.trim().strip_prefix("Loaded image: ") {
                        tags.push(tag.to_string());
                    }
                }
            }
        }
        Ok(tags)
    })?
}
