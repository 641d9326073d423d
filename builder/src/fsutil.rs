//! Filesystem steps that must never leave half-written state: atomic file writes and the
//! directory swap that publishes a finished build output.

use crate::error::{Error, IoContext, Result};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Puts the finished directory `new` at `dest`: atomically swapped with the old output when
/// there is one (the old one is then removed), renamed into place when there is none.
pub fn publish_dir(new: &Path, dest: &Path) -> Result<()> {
    if !dest.exists() {
        return std::fs::rename(new, dest).at(dest);
    }
    exchange(new, dest).at(dest)?;
    // `new` now holds the previous output.
    std::fs::remove_dir_all(new).at(new)
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

/// Hard-links `src` to `dst`, copying when a link is impossible (another filesystem).
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    if let Some(p) = dst.parent() {
        std::fs::create_dir_all(p).at(p)?;
    }
    match std::fs::hard_link(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(_) => std::fs::copy(src, dst).map(|_| ()).at(dst),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_replaces_whole_directory() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("out");
        let new = root.path().join("new");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("old"), "1").unwrap();
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("fresh"), "2").unwrap();
        publish_dir(&new, &dest).unwrap();
        assert!(dest.join("fresh").exists() && !dest.join("old").exists());
        assert!(!new.exists());
    }
}
