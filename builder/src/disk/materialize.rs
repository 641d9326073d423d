//! Writes a staged [`Tree`] out as a real directory for `mke2fs -d`: contents copied from the
//! store by the kernel (unverified: [`crate::disk::write`] has every blob checked beside it),
//! numeric owners, modes, symlinks, hard links, device nodes and fifos, every atime and mtime the
//! build's epoch. No extended attribute: mke2fs copies none, and [`crate::disk::ext4`] sets the
//! tree's file capabilities on the filesystem itself.
//! Owners other than our own and device nodes need root: asked of a non-root user, one error
//! says so.

use crate::error::{Error, IoContext, Result};
use crate::stage::{Content, DeviceKind, Entry, Tree};
use crate::store::BlobStore;
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `tree` below `root` (an existing empty directory, which becomes the tree's `/`, root
/// owned 0755). `progress` is called with the bytes of each file written.
pub fn materialize(tree: &Tree, store: &BlobStore, root: &Path, epoch: u64, progress: &dyn Fn(u64)) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    let is_root = unsafe { libc::geteuid() } == 0;
    if !is_root {
        if let Some((path, _)) = tree.entries.iter().find(|(_, e)| needs_root(e)) {
            return Err(Error::Output(format!(
                "the root tree has /{path}, which only root can create (a device node or another owner)\n  fix: \
                 run `lpbake build` as root to write the appliance disk"
            )));
        }
    }
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).at(root)?;
    for (path, e) in &tree.entries {
        if path.is_empty() || path.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            return Err(Error::Output(format!(
                "the root tree has the path `{path}`, which is not a plain relative path"
            )));
        }
        let dest = root.join(path);
        create(tree, store, root, &dest, e).at(&dest)?;
        if let Content::File { size, .. } = e.content {
            progress(size);
        }
        // A hard link shares its target's inode, owner and mode (as tar extracts it).
        if matches!(e.content, Content::Hardlink { .. }) {
            continue;
        }
        if is_root {
            chown(&dest, e.uid, e.gid).at(&dest)?;
        }
        // After chown, which clears set-id bits; symlinks have no mode of their own.
        if !matches!(e.content, Content::Symlink { .. }) {
            fs::set_permissions(&dest, fs::Permissions::from_mode(e.mode & 0o7777)).at(&dest)?;
        }
    }
    // Last, children first, so adding entries no longer moves a directory's times.
    for path in tree.entries.keys().rev() {
        let dest = root.join(path);
        set_times(&dest, epoch).at(&dest)?;
    }
    set_times(root, epoch).at(root)
}

fn needs_root(e: &Entry) -> bool {
    if matches!(e.content, Content::Hardlink { .. }) {
        return false;
    }
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    matches!(e.content, Content::Device { kind: DeviceKind::Char | DeviceKind::Block, .. })
        || e.uid != uid
        || e.gid != gid
}

fn create(tree: &Tree, store: &BlobStore, root: &Path, dest: &Path, e: &Entry) -> io::Result<()> {
    match &e.content {
        Content::Dir => fs::create_dir(dest),
        Content::File { blob, size } => {
            let mut out = File::create_new(dest)?;
            // Copied by the kernel, not verified: the caller checks the same blobs (see disk::write).
            let n = io::copy(&mut File::open(store.path(blob))?, &mut out)?;
            if n != *size {
                return Err(io::Error::other(format!("blob {blob} has {n} bytes, the tree says {size}")));
            }
            Ok(())
        }
        Content::Symlink { target } => symlink(target, dest),
        Content::Hardlink { target } => match tree.entries.get(target) {
            Some(Entry { content: Content::File { .. }, .. }) if target.as_str() < dest_rel(root, dest) => {
                fs::hard_link(root.join(target), dest)
            }
            _ => Err(io::Error::other(format!(
                "hard link to /{target}: the target must be a regular file at an earlier path of the tree"
            ))),
        },
        Content::Device { kind, major, minor } => {
            let kind = match kind {
                DeviceKind::Char => libc::S_IFCHR,
                DeviceKind::Block => libc::S_IFBLK,
                DeviceKind::Fifo => libc::S_IFIFO,
            };
            let c = cstr(dest)?;
            let dev = libc::makedev(*major, *minor);
            // SAFETY: `c` is a valid NUL-terminated path.
            check(unsafe { libc::mknod(c.as_ptr(), kind | 0o600, dev) })
        }
    }
}

fn dest_rel<'a>(root: &Path, dest: &'a Path) -> &'a str {
    dest.strip_prefix(root).ok().and_then(|p| p.to_str()).unwrap_or("")
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn chown(p: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
}

fn set_times(p: &Path, epoch: u64) -> io::Result<()> {
    let t = libc::timespec { tv_sec: epoch as libc::time_t, tv_nsec: 0 };
    let c = cstr(p)?;
    // SAFETY: a valid path and an array of two timespecs.
    check(unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), [t, t].as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
}

/// The directory a tree is materialized in, removed when dropped.
pub fn temp_root(beside: &Path) -> Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::Builder::new().prefix(".lpbake-rootfs-").tempdir_in(beside).at(beside)?;
    let root = dir.path().join("root");
    fs::create_dir(&root).at(&root)?;
    Ok((dir, root))
}
