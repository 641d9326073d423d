//! `lpbake verify OUT`: rebuilds from the same spec and lock into a scratch directory and
//! proves that every file of OUT is byte-for-byte what they produce.

use crate::build::{self, Options};
use crate::digest::HashWriter;
use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;
use std::collections::BTreeMap;
use std::path::Path;

/// Largest output file hashed (a disk image is a few GiB).
const MAX_FILE_BYTES: u64 = 1 << 40;

/// Rebuilds `opts` (whose `out` is the directory to check) and compares every file.
pub fn run(opts: &Options, report: &Reporter) -> Result<usize> {
    let scratch = tempfile::tempdir().at(std::env::temp_dir())?;
    let mut fresh = opts.clone();
    fresh.out = scratch.path().join("out");
    fresh.locked = true;
    // What OUT holds is what is checked: the images, and the disk if OUT has one.
    fresh.targets =
        opts.targets.or(Some(build::Targets { oci: true, disk: opts.out.join(crate::appliance::DIR).is_dir() }));
    build::run(&fresh, report)?;
    let want = digests(&fresh.out)?;
    let have = digests(&opts.out)?;
    let mut problems = Vec::new();
    for (f, d) in &want {
        match have.get(f) {
            None => problems.push(format!("missing: {f}")),
            Some(h) if h != d => problems.push(format!("differs: {f} (is {h}, rebuild gives {d})")),
            _ => {}
        }
    }
    problems.extend(have.keys().filter(|f| !want.contains_key(*f)).map(|f| format!("unexpected: {f}")));
    if problems.is_empty() {
        Ok(want.len())
    } else {
        Err(Error::Output(format!(
            "{} does not match its spec and lock:\n  {}\n  fix: rebuild it with `lpbake build --out {}`",
            opts.out.display(),
            problems.join("\n  "),
            opts.out.display()
        )))
    }
}

/// Every entry under `root`, by relative path, with its sha256: files read through the bounded
/// reader (no FIFO or device is ever opened), directories walked without following links; any
/// other entry is named by its kind, so it never matches what a build writes.
fn digests(root: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            let (p, kind) = (e.path(), e.file_type().at(e.path())?);
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_file() {
                let mut f = lpbake_rules::read::open(&p, MAX_FILE_BYTES)?;
                let mut h = HashWriter::new(std::io::sink());
                std::io::copy(&mut f, &mut h).at(&p)?;
                out.insert(rel, h.finish().1.to_string());
            } else {
                out.insert(rel, "not a regular file".into());
            }
        }
    }
    Ok(out)
}
