//! Filesystem steps that must never leave half-written state: atomic file writes, file copies,
//! and the staging directory a build output is assembled in: locked for the build's life,
//! swapped in whole when done, and removed by the next build when its build died.

use crate::error::{Error, IoContext, Result};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Staging directories are `<parent>/.lpbake-out-<random>`, each with its lock file beside it,
/// `<parent>/.lpbake-out-<random>.lock`: made before the directory and removed after it.
const STAGING_PREFIX: &str = ".lpbake-out-";
const LOCK_SUFFIX: &str = ".lock";

/// Writes `bytes` to `path` through a temp file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_of(path);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).at(&dir)?;
    tmp.write_all(bytes).at(path)?;
    // Output files are read by others: 0644 whatever the umask (tempfile creates 0600).
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).at(path)?;
    tmp.as_file().sync_data().at(path)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// The directory holding `path` ("." for a bare file name).
pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The temp directory a build output is assembled in, beside the output, with a lock file
/// beside it that its build holds locked for as long as the directory exists (made first, removed
/// last): a staging directory whose lock can be taken, or that has none, belongs to a build that
/// died, and [`remove_dead_staging`] removes it.
pub struct Staging {
    dir: PathBuf,
    lock_path: PathBuf,
    /// Held (locked) until the directory is gone.
    _lock: File,
}

impl Staging {
    /// A new staging directory in `parent`, locked.
    pub fn new(parent: &Path) -> Result<Self> {
        loop {
            let (file, lock_path) = tempfile::Builder::new()
                .prefix(STAGING_PREFIX)
                .suffix(LOCK_SUFFIX)
                .tempfile_in(parent)
                .at(parent)?
                .keep()
                .map_err(|e| Error::io(parent, e.error))?;
            file.lock().at(&lock_path)?;
            // A cleaner that saw the lock file before it was locked may have removed it: then
            // start over with a new one.
            if !same_file(&file, &lock_path) {
                continue;
            }
            let name = lock_path.to_string_lossy();
            let dir = PathBuf::from(name.strip_suffix(LOCK_SUFFIX).expect("made with the suffix"));
            std::fs::create_dir(&dir).at(&dir)?;
            return Ok(Staging { dir, lock_path, _lock: file });
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Puts the finished directory at `dest`: atomically swapped with the old output when there
    /// is one (the old one is then removed under this staging's lock), renamed into place when
    /// there is none.
    pub fn publish(self, dest: &Path) -> Result<()> {
        if !dest.exists() {
            return std::fs::rename(&self.dir, dest).at(dest);
        }
        exchange(&self.dir, dest).at(dest)?;
        // `self.dir` now holds the previous output, still locked: removed, then the lock (Drop).
        remove_all(&self.dir)
    }
}

impl Drop for Staging {
    /// The directory (a failed build's, or the previous output after a swap) goes, then its lock.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Whether the open `file` is still the file at `path`.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Removes `path` (a file or a whole directory); one that is gone already is fine.
fn remove_all(path: &Path) -> Result<()> {
    let r = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Removes the staging directories in `parent` that builds which died left behind: those
/// whose lock can be taken or is gone (a live build makes its lock first and removes it last),
/// and a dead build's lock file left without its directory. A live build's are left alone.
/// Returns the directories removed.
pub fn remove_dead_staging(parent: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for e in std::fs::read_dir(parent).at(parent)? {
        let e = e.at(parent)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(STAGING_PREFIX) {
            continue;
        }
        let (dir, lock) = match name.strip_suffix(LOCK_SUFFIX) {
            Some(d) => (parent.join(d), e.path()),
            None => (e.path(), parent.join(format!("{name}{LOCK_SUFFIX}"))),
        };
        let dead = match File::open(&lock) {
            Ok(file) => file.try_lock().is_ok(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => dir.is_dir(),
            Err(err) => return Err(Error::io(&lock, err)),
        };
        if !dead {
            continue;
        }
        // Removed while its lock is held here (if it has one), the lock last.
        if dir.is_dir() {
            remove_all(&dir)?;
            removed.push(dir);
        }
        remove_all(&lock)?;
    }
    Ok(removed)
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 reads them only.
    let rc =
        unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Copies `src` to `dst` (copy_file_range: a reflink where the filesystem can), so the two
/// never share an inode; an existing `dst` is kept.
pub fn copy_file(src: &Path, dst: &Path) -> Result<()> {
    if let Some(p) = dst.parent() {
        std::fs::create_dir_all(p).at(p)?;
    }
    if dst.exists() {
        return Ok(());
    }
    std::fs::copy(src, dst).map(drop).at(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging_in(root: &Path, files: &[&str]) -> Staging {
        let s = Staging::new(root).unwrap();
        for f in files {
            std::fs::write(s.path().join(f), "x").unwrap();
        }
        s
    }

    #[test]
    fn publish_replaces_whole_directory_without_its_lock() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("out");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("old"), "1").unwrap();
        let new = staging_in(root.path(), &["fresh"]);
        new.publish(&dest).unwrap();
        let mut left: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left, ["out"]);
        let mut inside: Vec<_> = std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name()).collect();
        inside.sort();
        assert_eq!(inside, ["fresh"]);
        // Into a missing destination: renamed; no lock file is left beside it.
        staging_in(root.path(), &["a"]).publish(&root.path().join("other")).unwrap();
        let mut left: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left, ["other", "out"]);
    }

    #[test]
    fn dead_staging_is_removed_and_live_staging_kept() {
        let root = tempfile::tempdir().unwrap();
        let live = staging_in(root.path(), &["blob"]);
        // A dead build's: its lock file is there, nobody holds it (the process that did is gone).
        let dead = root.path().join(format!("{STAGING_PREFIX}dead"));
        std::fs::create_dir_all(dead.join("oci")).unwrap();
        std::fs::write(root.path().join(format!("{STAGING_PREFIX}dead{LOCK_SUFFIX}")), "").unwrap();
        std::fs::write(dead.join("oci/blob"), "x").unwrap();
        // One killed between the swap and the removal of the previous output, its lock gone.
        let unlocked = root.path().join(format!("{STAGING_PREFIX}swapped"));
        std::fs::create_dir_all(&unlocked).unwrap();
        // A dead build's lock without its directory.
        std::fs::write(root.path().join(format!("{STAGING_PREFIX}lone{LOCK_SUFFIX}")), "").unwrap();
        // Not staging directories: left alone whatever they hold.
        std::fs::create_dir_all(root.path().join("out")).unwrap();
        let mut removed = remove_dead_staging(root.path()).unwrap();
        removed.sort();
        assert_eq!(removed, [dead.clone(), unlocked.clone()]);
        assert!(!dead.exists() && !unlocked.exists());
        let mut left: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left.len(), 3, "the live staging, its lock, and out: {left:?}");
        assert!(live.path().join("blob").exists(), "a live build's staging directory was removed");
        assert!(root.path().join("out").exists());
    }

    #[test]
    fn copies_share_no_inode() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let (src, dst) = (root.path().join("src"), root.path().join("d/dst"));
        std::fs::write(&src, "cache").unwrap();
        copy_file(&src, &dst).unwrap();
        assert_ne!(std::fs::metadata(&src).unwrap().ino(), std::fs::metadata(&dst).unwrap().ino());
        std::fs::write(&dst, "changed").unwrap();
        assert_eq!(std::fs::read(&src).unwrap(), b"cache");
    }
}
