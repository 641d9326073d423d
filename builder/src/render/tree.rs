//! The rendered configuration tree: absolute path -> file (mode, bytes), symlink or directory.
//! Written into a directory by `lpbake render DIR` (whole, through a staging directory and a
//! rename, with the list of its files in `DIR/.lpbake-render`: a later render replaces a
//! directory only when that list names every file in it), or turned into a [`stage::Tree`] the
//! disk build overlays on the base (root-owned).

use crate::error::{Error, IoContext, Result};
use crate::fsutil::Staging;
use crate::output::{Contents, FileRecord};
use crate::stage::{self, Content, Entry};
use crate::store::BlobStore;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The list of the files `lpbake render` wrote into a directory (so a later render may replace it).
pub const LIST: &str = ".lpbake-render";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    File { mode: u32, bytes: Vec<u8> },
    Symlink { target: String },
    Dir { mode: u32 },
}

/// Items by absolute path, in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedTree {
    pub items: BTreeMap<String, Item>,
}

impl RenderedTree {
    pub fn file(&mut self, path: &str, mode: u32, bytes: Vec<u8>) {
        self.items.insert(path.to_string(), Item::File { mode, bytes });
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.items.insert(path.to_string(), Item::Symlink { target: target.to_string() });
    }

    pub fn dir(&mut self, path: &str, mode: u32) {
        self.items.insert(path.to_string(), Item::Dir { mode });
    }

    /// The text of the file at `path`, if it is one.
    pub fn text(&self, path: &str) -> Option<&str> {
        match self.items.get(path)? {
            Item::File { bytes, .. } => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    /// The tree as staged entries, every one owned by root; file bytes go into `store`.
    pub fn to_stage(&self, store: &BlobStore) -> Result<stage::Tree> {
        let mut t = stage::Tree::default();
        for (path, item) in &self.items {
            let entry = match item {
                Item::File { mode, bytes } => Entry::generated(store, bytes, *mode, 0, 0).at(store.root())?,
                Item::Symlink { target } => Entry::new(0o777, 0, 0, Content::Symlink { target: target.clone() }),
                Item::Dir { mode } => Entry::new(*mode, 0, 0, Content::Dir),
            };
            t.add(path, entry);
        }
        Ok(t)
    }
}

/// Writes `tree` into `dir`, replacing it whole. `dir` must be absent, empty, or a previous
/// render holding only the files its list names; anything else is refused, not overwritten.
pub fn write_dir(tree: &RenderedTree, dir: &Path) -> Result<()> {
    let refuse = |why: String| {
        Error::config(dir, None, why, "render into a new or empty directory (the whole directory is replaced)")
    };
    if std::fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(refuse("is not a directory".into()));
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => Some(entries),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(dir, e)),
    };
    if let Some(mut entries) = entries {
        if entries.next().is_some() {
            let Some(list) = Contents::read(dir, LIST)? else {
                return Err(refuse("is not empty and was not written by `lpbake render`".into()));
            };
            if let Some(foreign) = list.foreign(dir, LIST)? {
                return Err(refuse(format!("holds {foreign}, which `lpbake render` did not write")));
            }
        }
    }
    let parent = crate::fsutil::parent_of(dir);
    std::fs::create_dir_all(&parent).at(&parent)?;
    let staging = Staging::new(&parent)?;
    let root = staging.path();
    let mut list = Contents::default();
    for (path, item) in &tree.items {
        let dest = root.join(path.trim_start_matches('/'));
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).at(p)?;
        }
        match item {
            Item::File { mode, bytes } => {
                std::fs::write(&dest, bytes).at(&dest)?;
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(*mode)).at(&dest)?;
                list.add(path.trim_start_matches('/'), FileRecord::of(bytes));
            }
            Item::Symlink { target } => {
                std::os::unix::fs::symlink(target, &dest).at(&dest)?;
                list.links.insert(path.trim_start_matches('/').to_string(), target.clone());
            }
            Item::Dir { mode } => {
                std::fs::create_dir_all(&dest).at(&dest)?;
                list.dirs.insert(path.trim_start_matches('/').to_string());
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(*mode)).at(&dest)?;
            }
        }
    }
    // Directories made on the way get 0755 whatever the umask (the tree's own keep their mode).
    for path in tree.items.keys() {
        let mut p = Path::new(path.as_str()).parent();
        while let Some(d) = p.filter(|d| *d != Path::new("/")) {
            if !matches!(tree.items.get(d.to_str().unwrap_or_default()), Some(Item::Dir { .. })) {
                let on_disk = root.join(d.strip_prefix("/").unwrap_or(d));
                std::fs::set_permissions(&on_disk, std::fs::Permissions::from_mode(0o755)).at(&on_disk)?;
            }
            p = d.parent();
        }
    }
    list.write(root, LIST)?;
    // The staging directory is 0700 (tempfile); a root filesystem tree is 0755.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).at(root)?;
    staging.publish(dir)
}
