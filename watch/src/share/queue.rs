//! The shares that could not be sent yet, on disk and bounded: one file per request body, named
//! so that they sort oldest first, written whole (temporary file, then rename), read back through
//! the bounded reader (a regular file within the byte limit), and the oldest dropped when the
//! queue holds more than its byte limit.

use std::io;
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".rw";

/// A queue directory and its byte limit.
pub struct Queue {
    dir: PathBuf,
    max_bytes: u64,
}

impl Queue {
    /// Opens `dir` (created 0700 if missing), removing what an interrupted write left.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Queue> {
        std::fs::create_dir_all(dir).map_err(|e| named(dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| named(dir, e))?;
        }
        let q = Queue { dir: dir.to_path_buf(), max_bytes };
        for entry in std::fs::read_dir(dir).map_err(|e| named(dir, e))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(q)
    }

    /// The queued bodies, oldest first.
    pub fn entries(&self) -> io::Result<Vec<PathBuf>> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| named(&self.dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_str().is_some_and(|s| s.ends_with(SUFFIX)))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The body queued in `entry` (one of [`Queue::entries`]): a regular file of at most the
    /// queue's byte limit, which no body it keeps exceeds.
    pub fn read(&self, entry: &Path) -> Result<Vec<u8>, lpbake_rules::read::ReadError> {
        lpbake_rules::read::bytes(entry, self.max_bytes)
    }

    /// Queues `body`, sampled at `timestamp_ms`, then drops the oldest until the queue fits its limit.
    pub fn push(&self, timestamp_ms: i64, body: &[u8]) -> io::Result<()> {
        let name = format!("{timestamp_ms:020}{SUFFIX}");
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, body).map_err(|e| named(&tmp, e))?;
        std::fs::rename(&tmp, self.dir.join(name)).map_err(|e| named(&self.dir, e))?;
        self.trim()
    }

    /// Removes the oldest entries until the rest holds at most the byte limit.
    fn trim(&self) -> io::Result<()> {
        let entries = self.entries()?;
        let sizes: Vec<u64> = entries.iter().map(|p| p.metadata().map_or(0, |m| m.len())).collect();
        let mut total: u64 = sizes.iter().sum();
        for (path, size) in entries.iter().zip(sizes) {
            if total <= self.max_bytes {
                break;
            }
            tracing::warn!("share queue over {} bytes: dropping the oldest share", self.max_bytes);
            std::fs::remove_file(path).map_err(|e| named(path, e))?;
            total -= size;
        }
        Ok(())
    }
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_bounded_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("00000000000000000001.rw.tmp"), b"torn").unwrap();
        let q = Queue::open(dir.path(), 250).unwrap();
        assert!(!dir.path().join("00000000000000000001.rw.tmp").exists());
        for t in [30, 10, 20] {
            q.push(t, &[t as u8; 100]).unwrap();
        }
        // 300 bytes over a 250-byte limit: the oldest (10) went.
        let left: Vec<Vec<u8>> = q.entries().unwrap().iter().map(|p| q.read(p).unwrap()).collect();
        assert_eq!(left, [vec![20u8; 100], vec![30u8; 100]]);
    }
}
