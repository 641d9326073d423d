//! The root filesystem: `mke2fs -d` from a materialized directory, written in place into the disk
//! image at the root partition's offset, with every input that reaches the bytes pinned (a
//! mke2fs.conf of our own, the UUID and hash seed from the seed, the clock via
//! E2FSPROGS_FAKE_TIME, the C locale), then one `debugfs` run sets the file capabilities the tree
//! declares and every used inode's times to the epoch (mke2fs 1.47.0 copies each source file's
//! ctime, the moment it was materialized). mke2fs copies no extended attribute
//! (`no_copy_xattrs`): whatever the host puts on the materialized files (inherited default ACLs,
//! SELinux labels, `user.*`) never reaches the disk, only the `security.capability` set here.
//! mke2fs -d links entries one by one with a linear scan of the directory: a directory of n
//! entries costs O(n^2) (18k entries: about a minute).

use crate::error::{Error, IoContext, Result};
use crate::stage::{Content, Tree};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The filesystem label of the root filesystem.
pub const LABEL: &str = "lpbake-root";

/// Our mke2fs.conf, so the host's /etc/mke2fs.conf cannot change the features or the layout.
/// No orphan_file and no metadata_csum_seed: older e2fsck and kernels refuse them.
const MKE2FS_CONF: &str = "\
[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384
\treserved_ratio = 5.0
\tlazy_itable_init = false
\tlazy_journal_init = false
[fs_types]
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t\tinode_size = 256
\t}
\tdefault = {
\t\tinode_ratio = 16384
\t}
";

/// What the filesystem is made with.
pub struct Ext4<'a> {
    pub source: &'a Path,
    /// The disk image (existing, at its full size); its directory name may hold any character.
    pub image: &'a Path,
    /// Where in `image` the filesystem starts, and its size, in bytes.
    pub offset: u64,
    pub size: u64,
    pub uuid: uuid::Uuid,
    pub hash_seed: uuid::Uuid,
    pub epoch: u64,
    /// The tree in `source` (its size decides the number of inodes).
    pub tree: &'a Tree,
}

/// Makes the filesystem of `size` bytes from `source` in `image` at `offset`.
pub fn make(x: &Ext4) -> Result<()> {
    // Absolute: debugfs runs elsewhere and reads its script from here.
    let work = std::path::absolute(x.image.with_extension("work")).at(x.image)?;
    std::fs::create_dir_all(&work).at(&work)?;
    let _cleanup = RemoveDir(&work);
    let conf = work.join("mke2fs.conf");
    std::fs::write(&conf, MKE2FS_CONF).at(&conf)?;
    let inodes = (x.tree.entries.len() as u64 * 5 / 4 + 4096).max(x.size / 16384);
    let ids = format!("offset={},hash_seed={},root_owner=0:0,no_copy_xattrs", x.offset, x.hash_seed);
    // debugfs and dumpe2fs take the offset after a `?` in the image's name: the tools run in
    // the image's directory and get its file name (a temp name: letters, digits and dots).
    let dir = crate::fsutil::parent_of(x.image);
    let at_offset = match x.image.file_name().and_then(|n| n.to_str()) {
        Some(name) if !name.contains('?') => format!("{name}?offset={}", x.offset),
        _ => return Err(Error::Output(format!("{}: not a plain file name for e2fsprogs", x.image.display()))),
    };
    let mut mke2fs = tool("mke2fs", x.epoch);
    mke2fs
        .env("MKE2FS_CONFIG", &conf)
        .args(["-q", "-F", "-t", "ext4", "-T", "default", "-b", "4096", "-I", "256", "-L", LABEL])
        .args(["-N", &inodes.to_string(), "-U", &x.uuid.to_string(), "-E", &ids, "-d"])
        .arg(x.source)
        .arg(x.image)
        .arg(format!("{}k", x.size / 1024));
    run(&mut mke2fs, "mke2fs", x.image, "the root tree may not fit: give the disk a larger root size")?;

    // Every inode in use (from the bitmaps dumpe2fs prints), named by number: a path lookup per
    // inode makes debugfs minutes slower on a full root tree.
    let dump = run(
        tool("dumpe2fs", x.epoch).current_dir(&dir).arg(&at_offset),
        "dumpe2fs",
        x.image,
        "check that e2fsprogs is installed",
    )?;
    let inodes = used_inodes(&dump).ok_or_else(|| {
        Error::Output(format!(
            "{}: dumpe2fs printed no inode bitmaps\n  fix: install e2fsprogs 1.47 or later",
            x.image.display()
        ))
    })?;
    let script = work.join("inodes.debugfs");
    let mut s = std::io::BufWriter::new(std::fs::File::create(&script).at(&script)?);
    // Capabilities first: the times are set last, whatever setting an attribute touches.
    for (path, e) in &x.tree.entries {
        // A hard link shares its target's inode, and with it the target's capabilities.
        if let (Some(caps), false) = (&e.caps, matches!(e.content, Content::Hardlink { .. })) {
            let value: String = caps.vfs_v2().iter().map(|b| format!("\\x{b:02x}")).collect();
            let fix = "rename the file (or drop its capabilities) in the component that installs it";
            let arg = crate::quote::debugfs_path(path)
                .map_err(|e| e.at(x.image, &format!("/{}", path.escape_debug()), fix))?;
            writeln!(s, "ea_set {arg} security.capability {value}").at(&script)?;
        }
    }
    for ino in inodes {
        for field in ["atime", "mtime", "ctime", "crtime"] {
            writeln!(s, "sif <{ino}> {field} @{}", x.epoch).at(&script)?;
            writeln!(s, "sif <{ino}> {field}_extra 0").at(&script)?;
        }
    }
    s.into_inner().map_err(|e| Error::io(&script, e.into_error()))?.sync_all().at(&script)?;
    let mut debugfs = tool("debugfs", x.epoch);
    debugfs.current_dir(&dir).arg("-w").arg("-f").arg(&script).arg(&at_offset);
    let out = run(&mut debugfs, "debugfs", x.image, "check that e2fsprogs is installed and the disk has room")?;
    // debugfs reports a failed command on stderr and still exits 0.
    let complaints: Vec<&str> =
        out.stderr.lines().filter(|l| !l.starts_with("debugfs ") && !l.trim().is_empty()).collect();
    if !complaints.is_empty() {
        return Err(Error::Output(format!(
            "{}: debugfs could not set the file capabilities and inode times: {}\n  fix: report this as an lpbake bug",
            x.image.display(),
            complaints.iter().take(5).copied().collect::<Vec<_>>().join("; ")
        )));
    }
    Ok(())
}

/// An e2fsprogs command with its clock and locale pinned.
pub(super) fn tool(name: &str, epoch: u64) -> Command {
    let mut c = Command::new(name);
    c.env("E2FSPROGS_FAKE_TIME", epoch.to_string()).env("LC_ALL", "C").env("TZ", "UTC");
    c.stdin(Stdio::null());
    c
}

/// Runs `cmd`; its stdout and stderr on success, one error naming the image and the fix otherwise.
fn run(cmd: &mut Command, name: &str, image: &Path, fix: &str) -> Result<Output> {
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Output(format!(
                "{name} is not installed (needed to write {})\n  fix: install e2fsprogs (`apt-get install \
                 e2fsprogs`, or `make deps`)",
                image.display()
            )))
        }
        Err(e) => return Err(Error::io(image, e)),
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let full = stderr.contains("No space left") || stderr.contains("Could not allocate") || stderr.contains("full");
        let fix = if full { "the root tree does not fit: give the disk a larger root size (root_size)" } else { fix };
        return Err(Error::Output(format!(
            "{name} failed writing {} ({}): {}\n  fix: {fix}",
            image.display(),
            out.status,
            stderr.trim()
        )));
    }
    Ok(Output { stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr })
}

/// What a tool printed.
struct Output {
    stdout: String,
    stderr: String,
}

/// The inodes in use that are files of the tree: the root directory (2) and every used inode from
/// the first non-reserved one, read from dumpe2fs's `Inode count`, `First inode` and each
/// group's `Free inodes:` ranges.
fn used_inodes(dump: &Output) -> Option<Vec<u64>> {
    let header = |key: &str| -> Option<u64> {
        dump.stdout.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok())
    };
    let (count, first) = (header("Inode count:")?, header("First inode:")?);
    let mut free = vec![false; count as usize + 1];
    let mut groups = 0;
    for line in dump.stdout.lines().filter(|l| l.starts_with("  Free inodes:")) {
        groups += 1;
        let list = line.trim_start().trim_start_matches("Free inodes:");
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (a, b) = item.split_once('-').unwrap_or((item, item));
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            for i in a..=b.min(count) {
                free[i as usize] = true;
            }
        }
    }
    if groups == 0 {
        return None;
    }
    Some(std::iter::once(2).chain((first..=count).filter(|&i| !free[i as usize])).collect())
}

struct RemoveDir<'a>(&'a Path);

impl Drop for RemoveDir<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::materialize;
    use crate::stage::{Caps, Entry};
    use crate::store::BlobStore;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn used_inodes_are_the_complement_of_the_free_ranges() {
        let stdout = "Inode count:              32\nFirst inode:              11\nFree inodes:              20\n\
                      Group 0: (Blocks 0-32767)\n  Free inodes: 14-16, 18\nGroup 1: (Blocks 32768-65535)\n  Free inodes: 17, 21-32\n";
        let dump = Output { stdout: stdout.into(), stderr: String::new() };
        assert_eq!(used_inodes(&dump), Some(vec![2, 11, 12, 13, 19, 20]));
        let none = Output { stdout: "Inode count: 32\nFirst inode: 11\n".into(), stderr: String::new() };
        assert_eq!(used_inodes(&none), None);
    }

    /// Puts `user.host=1` on `path`, as a host's tools might.
    fn host_xattr(path: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: NUL-terminated path and name, a value of the length given.
        let rc = unsafe { libc::lsetxattr(p.as_ptr(), c"user.host".as_ptr(), b"1".as_ptr().cast(), 1, 0) };
        assert_eq!(rc, 0, "setting user.host on {}: {}", path.display(), std::io::Error::last_os_error());
    }

    /// `debugfs -R request image` as text; a missing tool fails naming `make deps`.
    fn debugfs(request: &str, image: &Path) -> String {
        let out = Command::new("debugfs")
            .arg("-R")
            .arg(request)
            .arg(image)
            .output()
            .unwrap_or_else(|e| panic!("debugfs: {e}: install e2fsprogs (`make deps`)"));
        assert!(out.status.success(), "debugfs -R {request}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Files named anything a tree may hold (spaces, quotes, backslashes, `<n>`, `#`, `!`,
    /// non-ASCII), each in /bin with its capabilities or none, and a `user.` attribute from the
    /// host: on the filesystem, told apart by inode number, each has exactly the
    /// `security.capability` its entry declares and nothing of the host.
    fn names_and_caps() -> impl Strategy<Value = BTreeMap<String, Option<u64>>> {
        let name = "[ -.0-~é]{1,24}".prop_filter("not . or ..", |n| n != "." && n != "..");
        let tricky = ("!#a \"q\" \\<2> é".to_string(), Some(1 << 10));
        prop::collection::btree_map(name, prop::option::of(0u64..(1 << 41)), 0..6).prop_map(move |mut files| {
            files.insert(tricky.0.clone(), tricky.1);
            files
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        #[test]
        fn each_file_gets_the_capabilities_its_entry_declares(files in names_and_caps()) {
            let dir = tempfile::tempdir().unwrap();
            let store = BlobStore::create(dir.path().join("store")).unwrap();
            let mut tree = Tree::default();
            for (name, permitted) in &files {
                let caps = permitted.map(|permitted| Caps { permitted, inheritable: 0, effective: true });
                let e = Entry::generated(&store, name.as_bytes(), 0o755, 0, 0).unwrap();
                tree.add(&format!("/bin/{name}"), Entry { caps, ..e });
            }
            let source = dir.path().join("root");
            std::fs::create_dir(&source).unwrap();
            materialize::materialize(&tree, &store, &source, 1, &|_| ()).unwrap();
            for name in files.keys() {
                host_xattr(&source.join("bin").join(name));
            }
            let image = dir.path().join("root.ext4");
            std::fs::File::create(&image).unwrap().set_len(16 << 20).unwrap();
            let x = Ext4 { source: &source, image: &image, offset: 0, size: 16 << 20, uuid: uuid::Uuid::nil(),
                           hash_seed: uuid::Uuid::nil(), epoch: 1, tree: &tree };
            make(&x).unwrap();
            // `ls -p`: /inode/mode/uid/gid/name/size/ per entry; a name holds no `/`.
            let listing = debugfs("ls -p /bin", &image);
            let inodes: BTreeMap<&str, &str> =
                listing.lines().filter_map(|l| { let f: Vec<&str> = l.split('/').collect(); Some((*f.get(5)?, *f.get(1)?)) }).collect();
            for (name, permitted) in &files {
                let ino = inodes.get(name.as_str()).unwrap_or_else(|| panic!("{name:?} is missing: {listing}"));
                let attrs = debugfs(&format!("ea_list <{ino}>"), &image);
                let want = permitted.map(|permitted| {
                    let v = Caps { permitted, inheritable: 0, effective: true }.vfs_v2();
                    let hex: Vec<String> = v.iter().map(|b| format!("{b:02x}")).collect();
                    format!("Extended attributes:\n  security.capability (20) = {}", hex.join(" "))
                });
                prop_assert_eq!(attrs.trim(), want.as_deref().unwrap_or(""), "{:?}", name);
            }
        }
    }
}
