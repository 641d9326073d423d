//! Content-addressed blob store (`<root>/blobs/sha256/<hex>`): the download cache, the layer
//! cache and the offline mirror all use this one layout, which is also an OCI layout's blob dir.
//! A blob enters only through [`BlobWriter::commit`], after its digest was checked, and every
//! read is verified again ([`BlobStore::check`] before a blob is used whole).
//!
//! A blob is written in `<root>/tmp/` while its writer holds a lock on the temp file; opening a
//! writable store removes the temp files whose lock is free (their writer died), never a live one.

use crate::digest::{Digest, HashMismatch, HashWriter, VerifyingReader};
use std::fs::{self, File, TryLockError};
use std::io::{self, BufReader, BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A directory of blobs named by their sha256.
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Opens (and creates, if needed) a store rooted at `root`, removing what dead writers left
    /// in its `tmp/`.
    pub fn create(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs/sha256"))?;
        fs::create_dir_all(root.join("tmp"))?;
        let store = BlobStore { root };
        store.remove_dead_temps()?;
        Ok(store)
    }

    /// Removes each temp file whose lock can be taken: no live writer holds it.
    fn remove_dead_temps(&self) -> io::Result<()> {
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let path = entry?.path();
            let Ok(file) = File::open(&path) else { continue };
            match file.try_lock() {
                // Removed while locked, so a writer that created it but has not locked it yet
                // sees it unlinked once it has the lock (see `writer`).
                Ok(()) => match fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                },
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Opens an existing store read-only (a mirror): nothing is created.
    pub fn existing(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        let blobs = root.join("blobs/sha256");
        if !blobs.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} has no blobs/sha256 directory: not an lpbake mirror or OCI layout", root.display()),
            ));
        }
        Ok(BlobStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `d` lives (whether or not it is there).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn contains(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Checks blob `d` whole before it is used: its size first (from metadata, so a huge file is
    /// refused without reading it), then its sha256. `Ok(None)` if it is whole, `Ok(Some(_))`
    /// says what is wrong with it; an absent blob is an error (`NotFound`).
    pub fn check(&self, d: &Digest, size: Option<u64>) -> io::Result<Option<Damage>> {
        let path = self.path(d);
        let actual = match fs::metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Ok(Some(Damage::NotAFile)),
            Err(e) => return Err(e),
        };
        if let Some(expected) = size.filter(|&s| s != actual) {
            return Ok(Some(Damage::Size { expected, actual }));
        }
        match self.open(d)?.drain() {
            Ok(()) => Ok(None),
            Err(e) => match e.get_ref().and_then(|e| e.downcast_ref::<HashMismatch>()) {
                Some(m) => Ok(Some(Damage::Digest(m.actual))),
                None => Err(e),
            },
        }
    }

    /// Opens blob `d` for reading; the reader fails at its end if the content is not `d`.
    pub fn open(&self, d: &Digest) -> io::Result<VerifyingReader<BufReader<File>>> {
        let path = self.path(d);
        let f = File::open(&path)?;
        Ok(VerifyingReader::new(BufReader::with_capacity(1 << 16, f), *d, path.display().to_string()))
    }

    /// Reads a small blob (a manifest or config) whole, verified.
    pub fn read_small(&self, d: &Digest) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        io::copy(&mut self.open(d)?, &mut out)?;
        Ok(out)
    }

    /// Starts writing a new blob into a temporary file inside the store, locked for the
    /// writer's life so that [`BlobStore::create`] in another build leaves it alone.
    pub fn writer(&self) -> io::Result<BlobWriter> {
        let tmp = loop {
            let tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))?;
            tmp.as_file().lock()?;
            // A cleaner that saw the file before the lock was taken may have removed it.
            if tmp.as_file().metadata()?.nlink() > 0 {
                break tmp;
            }
        };
        let file = tmp.reopen()?;
        Ok(BlobWriter { store: self.clone(), tmp, out: HashWriter::new(BufWriter::with_capacity(1 << 16, file)) })
    }

    /// Stores `bytes` and returns their digest.
    pub fn put(&self, bytes: &[u8]) -> io::Result<Digest> {
        let d = Digest::of(bytes);
        if !self.contains(&d) {
            let mut w = self.writer()?;
            w.write_all(bytes)?;
            w.commit(Some(d))?;
        }
        Ok(d)
    }
}

/// What is wrong with a stored blob (see [`BlobStore::check`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    #[error("it is not a regular file")]
    NotAFile,
    #[error("its size is {actual} bytes, the pin says {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("its content hashes to {0}")]
    Digest(Digest),
}

/// A blob being written; dropped without [`commit`](BlobWriter::commit), it leaves nothing.
pub struct BlobWriter {
    store: BlobStore,
    tmp: tempfile::NamedTempFile,
    out: HashWriter<BufWriter<File>>,
}

impl BlobWriter {
    /// The store this blob goes into.
    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.out.len()
    }

    /// Finishes the blob. With `expected`, a different digest is an error and nothing is stored.
    pub fn commit(self, expected: Option<Digest>) -> Result<(Digest, u64), CommitError> {
        let (buf, actual, size) = self.out.finish();
        let file = buf.into_inner().map_err(|e| CommitError::Io(e.into_error()))?;
        if let Some(expected) = expected {
            if expected != actual {
                return Err(CommitError::Mismatch(HashMismatch { what: String::new(), expected, actual }));
            }
        }
        // Blobs are linked into outputs that others read: 0644 whatever the umask.
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        // No fsync: a blob torn by a crash is caught by the verification on every read.
        drop(file);
        let dest = self.store.path(&actual);
        self.tmp.persist(&dest).map_err(|e| CommitError::Io(e.error))?;
        Ok((actual, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Why a blob could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("sha256 mismatch: expected {}, got {}", .0.expected, .0.actual)]
    Mismatch(HashMismatch),
}

impl From<CommitError> for io::Error {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Io(e) => e,
            CommitError::Mismatch(m) => io::Error::new(io::ErrorKind::InvalidData, m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn put_open_and_reject_tampered_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::create(dir.path()).unwrap();
        let d = store.put(b"hello").unwrap();
        assert_eq!(store.read_small(&d).unwrap(), b"hello");

        fs::write(store.path(&d), b"hellO").unwrap();
        let mut s = String::new();
        let err = store.open(&d).unwrap().read_to_string(&mut s).unwrap_err();
        assert!(err.to_string().contains(&d.hex()), "{err}");
    }

    #[test]
    fn mismatched_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::create(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"abc").unwrap();
        let want = Digest::of(b"xyz");
        assert!(matches!(w.commit(Some(want)), Err(CommitError::Mismatch(_))));
        assert!(!store.contains(&want));
        assert!(!store.contains(&Digest::of(b"abc")));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn opening_removes_dead_writers_temps_but_not_a_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::create(dir.path()).unwrap();
        // What a killed build leaves: temp files nobody holds a lock on.
        fs::write(dir.path().join("tmp/.tmpDEAD1"), b"half a download").unwrap();
        fs::write(dir.path().join("tmp/.tmpDEAD2"), b"").unwrap();
        let mut live = store.writer().unwrap();
        live.write_all(b"still coming").unwrap();
        live.flush().unwrap();

        BlobStore::create(dir.path()).unwrap();
        let left: Vec<_> = fs::read_dir(dir.path().join("tmp")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "dead temps must go, the live one stay: {left:?}");
        assert!(!left[0].to_string_lossy().contains("DEAD"), "{left:?}");
        let (d, _) = live.commit(None).unwrap();
        assert_eq!(store.read_small(&d).unwrap(), b"still coming");
    }

    #[test]
    fn check_finds_a_wrong_size_before_reading_and_a_wrong_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::create(dir.path()).unwrap();
        let d = store.put(b"hello").unwrap();
        assert_eq!(store.check(&d, Some(5)).unwrap(), None);
        assert_eq!(store.check(&d, None).unwrap(), None);
        assert_eq!(store.check(&d, Some(4)).unwrap(), Some(Damage::Size { expected: 4, actual: 5 }));
        fs::write(store.path(&d), b"hellO").unwrap();
        assert_eq!(store.check(&d, Some(5)).unwrap(), Some(Damage::Digest(Digest::of(b"hellO"))));
        // A 10 GiB sparse blob with a small pin is refused from its metadata, at once.
        let big = Digest::of(b"big");
        File::create(store.path(&big)).unwrap().set_len(10 << 30).unwrap();
        let t = std::time::Instant::now();
        assert!(matches!(store.check(&big, Some(3)).unwrap(), Some(Damage::Size { .. })));
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(store.check(&Digest::of(b"absent"), None).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
