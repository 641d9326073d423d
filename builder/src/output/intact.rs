//! Proving, cheaply, that a file of a previous output is still what lpbake wrote: its size and
//! sha256 are what the output's contents list records. The sha256 is taken once and then trusted
//! while the file keeps the identity and the modification and change times it had when lpbake
//! last wrote or hashed it (as git's index does; the change time cannot be set back by anyone but
//! the kernel). As in git, a stamp whose change time is not older than the stamp file itself is
//! "racy" (an edit in the same clock tick would keep it) and its file is hashed again. Those
//! stamps live in the cache (`outputs/<key>.json`, keyed by the output's path),
//! not in the output, whose bytes stay reproducible; without them, or when a file's stamp moved,
//! the file is hashed again.

use super::contents::{Contents, FileRecord};
use crate::digest::{Digest, HashWriter};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_atomic;
use crate::report::Reporter;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Largest stamp file read.
const MAX_BYTES: u64 = 16 << 20;

/// What a file looked like when its content was last known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    sha256: Digest,
    size: u64,
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata, sha256: Digest) -> Self {
        Stamp {
            sha256,
            size: meta.len(),
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// Seconds and nanoseconds as one count of nanoseconds.
fn ns(s: i64, n: i64) -> i128 {
    i128::from(s) * 1_000_000_000 + i128::from(n)
}

/// The stamps of one output directory's files.
pub struct Stamps {
    file: PathBuf,
    known: BTreeMap<String, Stamp>,
    /// When the stamp file was written (its modification time, in ns): a stamp whose change
    /// time is not older is racy.
    written_ns: i128,
    /// Files hashed by this run and found intact: their stamps are kept by [`Stamps::save`].
    fresh: Mutex<BTreeMap<String, Stamp>>,
}

impl Stamps {
    /// The stamps the cache `cache` holds for the output directory `out` (none when `out` does
    /// not exist yet, or its stamps are unreadable: then every file is hashed).
    pub fn open(cache: &Path, out: &Path) -> Self {
        let file = match out.canonicalize() {
            Ok(c) => cache.join("outputs").join(format!("{}.json", Digest::of(c.as_os_str().as_encoded_bytes()).hex())),
            Err(_) => cache.join("outputs/none.json"),
        };
        let known = lpbake_rules::read::bytes(&file, MAX_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let written_ns = std::fs::metadata(&file).map_or(i128::MAX, |m| ns(m.mtime(), m.mtime_nsec()));
        Stamps { file, known, written_ns, fresh: Mutex::default() }
    }

    /// Whether `out/rel` is the file `record` describes: a regular file (not a link to one) of
    /// that size whose sha256 is known from a matching stamp, or hashed now.
    pub fn intact(&self, out: &Path, rel: &str, record: &FileRecord, report: &Reporter) -> Result<bool> {
        let path = out.join(rel);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() && m.len() == record.size => m,
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let stamp = Stamp::of(&meta, record.sha256);
        if self.known.get(rel) == Some(&stamp) && stamp.ctime_ns < self.written_ns {
            return Ok(true);
        }
        let sha256 = hash(&path, record.size, report)?;
        if sha256 != record.sha256 {
            return Ok(false);
        }
        // The stamp of the file as it was when hashed: a change since moves it again.
        let meta = std::fs::symlink_metadata(&path).at(&path)?;
        self.fresh.lock().unwrap_or_else(|p| p.into_inner()).insert(rel.to_string(), Stamp::of(&meta, sha256));
        Ok(true)
    }

    /// Keeps the stamps of the files this run found intact by hashing them, beside the known ones.
    pub fn save(self) -> Result<()> {
        let fresh = self.fresh.into_inner().unwrap_or_else(|p| p.into_inner());
        if fresh.is_empty() {
            return Ok(());
        }
        let mut all = self.known;
        all.extend(fresh);
        write(&self.file, &all)
    }

    /// After a build published `out`: the stamps of every file `contents` lists, taken now (the
    /// writer knows their sha256), replacing what the cache held for `out`.
    pub fn record(cache: &Path, out: &Path, contents: &Contents) -> Result<()> {
        let file = Stamps::open(cache, out).file;
        let mut all = BTreeMap::new();
        for (rel, record) in &contents.files {
            let path = out.join(rel);
            let meta = std::fs::symlink_metadata(&path).at(&path)?;
            if meta.is_file() && meta.len() == record.size {
                all.insert(rel.clone(), Stamp::of(&meta, record.sha256));
            }
        }
        write(&file, &all)
    }
}

fn write(file: &Path, stamps: &BTreeMap<String, Stamp>) -> Result<()> {
    write_atomic(file, &serde_json::to_vec(stamps).expect("stamps serialize"))
}

/// The sha256 of `path`, read through the bounded reader (at most `size` bytes), with progress
/// for a big file.
fn hash(path: &Path, size: u64, report: &Reporter) -> Result<Digest> {
    let mut file = lpbake_rules::read::open(path, size).map_err(|e| Error::Output(e.to_string()))?;
    let bar = report.bytes(Some(size), format!("checking {}", path.display()));
    let mut out = HashWriter::new(ProgressSink(&bar));
    std::io::copy(&mut file, &mut out).at(path)?;
    bar.finish_and_clear();
    Ok(out.finish().1)
}

/// A sink that advances a progress bar by what is written to it.
struct ProgressSink<'a>(&'a indicatif::ProgressBar);

impl std::io::Write for ProgressSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.inc(buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Mode;

    #[test]
    fn a_file_is_hashed_once_then_trusted_while_its_stamp_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, out) = (dir.path().join("cache"), dir.path().join("out"));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("a"), b"lpbake").unwrap();
        let record = FileRecord::of(b"lpbake");
        let mut contents = Contents::default();
        contents.add("a", record);
        let quiet = Reporter::new(Mode::Quiet);
        Stamps::record(&cache, &out, &contents).unwrap();
        // Racy: the file changed in the clock tick the stamps were written in (made so here by
        // dating the stamp file back to the file's own change time): hashed again.
        let file = Stamps::open(&cache, &out).file;
        let changed = std::fs::metadata(out.join("a")).unwrap();
        let at = std::time::UNIX_EPOCH + std::time::Duration::new(changed.ctime() as u64, changed.ctime_nsec() as u32);
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(at).unwrap();
        let stamps = Stamps::open(&cache, &out);
        assert!(stamps.intact(&out, "a", &record, &quiet).unwrap());
        assert_eq!(stamps.fresh.lock().unwrap().len(), 1, "a racy stamp is not trusted");
        // Stamps written a clock tick (coarse: a few ms) after the file changed are trusted.
        let tick = || std::thread::sleep(std::time::Duration::from_millis(50));
        tick();
        Stamps::record(&cache, &out, &contents).unwrap();
        let stamps = Stamps::open(&cache, &out);
        assert!(stamps.intact(&out, "a", &record, &quiet).unwrap());
        assert!(stamps.fresh.lock().unwrap().is_empty(), "a matching stamp is trusted without hashing");

        // Same size, other bytes: the stamp moved, so the file is hashed and found damaged.
        std::fs::write(out.join("a"), b"LPBAKE").unwrap();
        assert!(!Stamps::open(&cache, &out).intact(&out, "a", &record, &quiet).unwrap());
        // Put back (a new stamp): hashed, intact, and remembered.
        std::fs::write(out.join("a"), b"lpbake").unwrap();
        let stamps = Stamps::open(&cache, &out);
        assert!(stamps.intact(&out, "a", &record, &quiet).unwrap());
        tick();
        stamps.save().unwrap();
        let stamps = Stamps::open(&cache, &out);
        assert!(stamps.intact(&out, "a", &record, &quiet).unwrap());
        assert!(stamps.fresh.lock().unwrap().is_empty());

        // Missing, a link, or another size: not intact.
        std::fs::remove_file(out.join("a")).unwrap();
        assert!(!stamps.intact(&out, "a", &record, &quiet).unwrap());
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), out.join("a")).unwrap();
        assert!(!stamps.intact(&out, "a", &record, &quiet).unwrap());
    }
}
