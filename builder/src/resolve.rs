//! Filling the lock: pins for sources come from the upstream checksums file when the spec
//! names one (else from hashing the download once), pins for base images from the registry's
//! tag -> digest answer. Pins nothing references any more are dropped.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fetch::{Fetcher, ImageRef};
use crate::lock::{FilePin, Lock};
use crate::report::Reporter;
use crate::spec::{Download, Spec};
use std::collections::BTreeSet;
use std::path::Path;

/// What the spec needs pinned and the lock lacks.
pub fn missing(spec: &Spec, lock: &Lock) -> Vec<String> {
    let mut out: Vec<String> =
        spec.downloads().map(|(_, d)| &d.url).filter(|u| !lock.files.contains_key(*u)).cloned().collect();
    out.extend(bases(spec).into_iter().filter(|b| !lock.images.contains_key(b)));
    out
}

/// Pins what is missing (everything, with `update`); returns the lines describing what changed.
pub fn resolve(
    spec: &Spec,
    lock: &mut Lock,
    fetcher: &Fetcher,
    update: bool,
    report: &Reporter,
) -> Result<Vec<String>> {
    let mut changes = Vec::new();
    for (c, src) in spec.downloads() {
        if !update && lock.files.contains_key(&src.url) {
            continue;
        }
        let pin = match &src.checksums {
            Some(sums) => from_checksums(src, sums, lock, fetcher, update, &c.file)?,
            None => {
                report.warn(format!(
                    "{}: no checksums file named for {}; pinning the sha256 of the download as it is now",
                    c.file.display(),
                    src.url
                ));
                let (sha256, size) = fetcher.unpinned(&src.url)?;
                FilePin { sha256, size: Some(size) }
            }
        };
        if lock.files.get(&src.url) != Some(&pin) {
            changes.push(format!("pinned {} = {}", src.url, pin.sha256));
            lock.files.insert(src.url.clone(), pin);
        }
    }
    for b in bases(spec) {
        if !update && lock.images.contains_key(&b) {
            continue;
        }
        let image = ImageRef::parse(&b).map_err(|m| {
            Error::config(&spec.dir, None, m, "write a reference like debian:bookworm-slim or 127.0.0.1:5000/repo:tag")
        })?;
        let d = fetcher.resolve_tag(&image)?;
        if lock.images.get(&b) != Some(&d) {
            changes.push(format!("pinned {b} = {d}"));
            lock.images.insert(b, d);
        }
    }
    // Drop pins nothing refers to.
    let used: BTreeSet<&String> =
        spec.downloads().flat_map(|(_, d)| std::iter::once(&d.url).chain(d.checksums.as_ref())).collect();
    let stale: Vec<String> = lock.files.keys().filter(|u| !used.contains(u)).cloned().collect();
    for u in stale {
        changes.push(format!("dropped unused pin {u}"));
        lock.files.remove(&u);
    }
    let bases = bases(spec);
    lock.images.retain(|r, _| {
        let keep = bases.contains(r);
        if !keep {
            changes.push(format!("dropped unused pin {r}"));
        }
        keep
    });
    Ok(changes)
}

fn bases(spec: &Spec) -> BTreeSet<String> {
    spec.images.values().map(|i| i.base.clone()).filter(|b| b != "scratch").collect()
}

/// Largest checksums file read: a release's lists a few hundred files at most.
const MAX_CHECKSUMS_BYTES: u64 = 4 << 20;

/// Reads `src`'s sha256 from the checksums file (itself pinned in the lock on first read).
fn from_checksums(
    src: &Download,
    sums_url: &str,
    lock: &mut Lock,
    fetcher: &Fetcher,
    update: bool,
    file: &Path,
) -> Result<FilePin> {
    let sums_pin = match lock.files.get(sums_url) {
        Some(p) if !update => *p,
        _ => {
            let (sha256, size) = fetcher.unpinned(sums_url)?;
            let pin = FilePin { sha256, size: Some(size) };
            lock.files.insert(sums_url.to_string(), pin);
            pin
        }
    };
    let path = fetcher.pinned(sums_url, sums_pin)?;
    // In the cache, or else in the mirror: a file lpbake does not own, read bounded.
    let bytes = match fetcher.cache().read_small(&sums_pin.sha256) {
        Ok(bytes) => bytes,
        Err(_) => lpbake_rules::read::bytes(&path, MAX_CHECKSUMS_BYTES)?,
    };
    let text = String::from_utf8_lossy(&bytes);
    let name = src.file_name();
    find_sum(&text, name).map(|sha256| FilePin { sha256, size: None }).ok_or_else(|| {
        Error::config(
            file,
            None,
            format!("{sums_url} lists no sha256 for `{name}`"),
            "check component.source.url's file name against the release's checksums file",
        )
    })
}

/// The sha256 that a `sha256sum`-format text gives for file `name`.
fn find_sum(text: &str, name: &str) -> Option<Digest> {
    text.lines().find_map(|line| {
        let (hash, file) = line.split_once(char::is_whitespace)?;
        let file = file.trim().trim_start_matches('*');
        let base = file.rsplit('/').next().unwrap_or(file);
        (base == name).then(|| Digest::parse(hash)).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sums_in_both_sha256sum_styles() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let text = format!("{a}  livepeer-linux-amd64.tar.gz\n{b} *./livepeer-linux-gpu-amd64.tar.gz\n");
        assert_eq!(find_sum(&text, "livepeer-linux-amd64.tar.gz"), Digest::parse(&a));
        assert_eq!(find_sum(&text, "livepeer-linux-gpu-amd64.tar.gz"), Digest::parse(&b));
        assert_eq!(find_sum(&text, "livepeer-linux-arm64.tar.gz"), None);
    }
}
