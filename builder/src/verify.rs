//! `lpbake verify OUT`: rebuilds from the same spec and lock into a scratch directory and
//! proves that every file of OUT is byte-for-byte what they produce.

use crate::build::{self, Options};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;
use std::collections::BTreeMap;
use std::path::Path;

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

/// Every file under `root`, by relative path, with its sha256.
fn digests(root: &Path) -> Result<BTreeMap<String, Digest>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).at(&dir)? {
            let p = e.at(&dir)?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                out.insert(rel, Digest::of_file(&p).at(&p)?);
            }
        }
    }
    Ok(out)
}
