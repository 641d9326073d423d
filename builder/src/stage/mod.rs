//! The staged file tree: the one intermediate every output is made from (OCI layers today).
//! Entries are sorted by path, each with mode, numeric owner, optional file capabilities and
//! content (a blob in the store, a generated file, a directory, a symlink, a hard link to an
//! earlier path, or a device node / fifo). Parents are added as root-owned 0755 directories, so
//! every tree is complete and independent of the order things were added.
//!
//! [`Tree::overlay`] lays one tree over another (components and the rendered configuration over
//! the disk's base), replacing what the base provides only where the spec says so.
//! [`component`] shapes the trees of components and images; [`secrets`] keeps key material out.

pub mod caps;
pub mod component;
#[cfg(test)]
mod replacing;
pub mod secrets;

use crate::digest::Digest;
use crate::spec::Component;
use crate::store::BlobStore;
use crate::unpack::{Member, MemberKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use caps::Caps;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    Dir,
    /// A regular file whose bytes are the blob `blob` of the store.
    File {
        blob: Digest,
        size: u64,
    },
    Symlink {
        target: String,
    },
    /// A hard link to `target`, a regular file of the same tree at an earlier path (relative to
    /// `/`, no leading slash), as a tar requires.
    Hardlink {
        target: String,
    },
    /// A device node or fifo; trees get one only where the spec allows it.
    Device {
        kind: DeviceKind,
        major: u32,
        minor: u32,
    },
}

/// The kinds of [`Content::Device`]: the one definition, shared with the whole-tree unpack.
pub use crate::unpack::DeviceKind;

impl Content {
    /// The content of an unpacked archive member (its file's bytes are already in the store).
    pub fn of(member: &MemberKind) -> Content {
        match member {
            MemberKind::File { sha256, size } => Content::File { blob: *sha256, size: *size },
            MemberKind::Dir => Content::Dir,
            MemberKind::Symlink { target } => Content::Symlink { target: target.clone() },
            MemberKind::Hardlink { target } => Content::Hardlink { target: target.clone() },
            MemberKind::Device { kind, major, minor } => Content::Device { kind: *kind, major: *major, minor: *minor },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub content: Content,
    /// File capabilities (the `security.capability` xattr); absent from the serialized form when
    /// None, so trees without them keep their layer cache keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caps: Option<Caps>,
}

impl Entry {
    /// An entry without file capabilities.
    pub fn new(mode: u32, uid: u32, gid: u32, content: Content) -> Self {
        Entry { mode, uid, gid, content, caps: None }
    }

    /// A file whose bytes lpbake makes (e.g. a rendered systemd unit): stored in `store` and
    /// referenced like any other file.
    pub fn generated(store: &BlobStore, bytes: &[u8], mode: u32, uid: u32, gid: u32) -> std::io::Result<Self> {
        let blob = store.put(bytes)?;
        Ok(Entry::new(mode, uid, gid, Content::File { blob, size: bytes.len() as u64 }))
    }
}

/// A tree's entries keyed by path relative to `/` (no leading slash); BTreeMap order is the
/// order they are written in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tree {
    pub entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// Adds `entry` at absolute `path`, with any missing parent directories.
    pub fn add(&mut self, path: &str, entry: Entry) {
        let rel = path.trim_start_matches('/');
        let mut parent = String::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            self.entries.entry(parent.clone()).or_insert(Entry::new(0o755, 0, 0, Content::Dir));
        }
        self.entries.insert(rel.to_string(), entry);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The tree of a whole-tree unpack (e.g. a base root filesystem), entries as the archive has them.
    pub fn from_members(members: &BTreeMap<String, Member>) -> Tree {
        let mut t = Tree::default();
        for m in members.values() {
            t.add(&m.path, Entry::new(m.mode, m.uid, m.gid, Content::of(&m.kind)));
        }
        t
    }

    /// Lays `top` (laid by `by`) over this tree: its entries replace those at the same path,
    /// except that a directory present in both keeps this tree's entry, and a directory replaced
    /// by a non-directory takes what was under it along. Checked before anything changes, and
    /// refused with this tree left as it was:
    /// - an entry of `top` under something of this tree that is not a directory, e.g. a path
    ///   through the symlink `lib -> usr/lib` of a merged-/usr base;
    /// - an entry of `top` replacing a non-directory of this tree, or a directory with a
    ///   non-directory, unless `by` may replace it (the rendered configuration may; a component
    ///   only where its install says `replace = true`).
    pub fn overlay(&mut self, top: &Tree, by: Layer) -> Result<(), OverlayError> {
        self.check_overlay(top, by)?;
        for (path, entry) in &top.entries {
            let below = self.entries.get(path).map(|e| &e.content);
            if below == Some(&Content::Dir) {
                if entry.content == Content::Dir {
                    continue;
                }
                let inside = format!("{path}/");
                self.entries.retain(|p, _| !p.starts_with(&inside));
            }
            self.entries.insert(path.clone(), entry.clone());
        }
        Ok(())
    }

    /// The refusals of [`Tree::overlay`], without laying anything.
    pub fn check_overlay(&self, top: &Tree, by: Layer) -> Result<(), OverlayError> {
        for path in top.entries.keys() {
            let mut parent = path.as_str();
            while let Some((p, _)) = parent.rsplit_once('/') {
                if let Some(e) = self.entries.get(p).filter(|e| e.content != Content::Dir) {
                    return Err(OverlayError::Under {
                        what: by.describe(),
                        path: path.clone(),
                        under: p.to_string(),
                        kind: e.content.kind(),
                    });
                }
                parent = p;
            }
        }
        for (path, entry) in &top.entries {
            let Some(below) = self.entries.get(path) else { continue };
            let both_dirs = entry.content == Content::Dir && below.content == Content::Dir;
            if !both_dirs {
                by.may_replace(path, &format!("a {}", below.content.kind()))?;
            }
        }
        Ok(())
    }
}

/// Who lays a tree over another with [`Tree::overlay`]: how refusals name it, and which entries
/// of the tree below it may replace.
#[derive(Clone, Copy, Debug)]
pub enum Layer<'a> {
    /// lpbake's rendered configuration: its files are lpbake's own and replace the base's
    /// (e.g. /etc/chrony/chrony.conf), explicitly.
    Rendered,
    /// A component: an install replaces what the tree below has at its `to` only with
    /// `replace = true`.
    Component(&'a Component),
}

impl Layer<'_> {
    /// Refuses the entry at `path` (relative to `/`) replacing the tree below's (`below`, in
    /// words), unless this layer may replace it.
    fn may_replace(&self, path: &str, below: &str) -> Result<(), OverlayError> {
        match self {
            Layer::Rendered => Ok(()),
            Layer::Component(comp) => component::may_replace(comp, path, below),
        }
    }

    fn describe(&self) -> String {
        match self {
            Layer::Rendered => "the rendered configuration".to_string(),
            Layer::Component(comp) => format!("{}: component `{}`", comp.file.display(), comp.name),
        }
    }
}

/// Why [`Tree::overlay`] (or [`component::refuse_over_base`]) refused a path.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error(
        "{what}: /{path} would be written under /{under}, which is a {kind} in the tree below; use the path it resolves to"
    )]
    Under { what: String, path: String, under: String, kind: &'static str },

    #[error(
        "{}{}: component.install.to: component `{component}` installs /{path}, which the base already provides \
         ({below}), and a component replaces the base's files only where it says so\n  fix: install it at another \
         path, or add `replace = true` to this [[component.install]] if replacing the base's /{path} is meant",
        file.display(), line.map(|l| format!(":{l}")).unwrap_or_default()
    )]
    Replaces { file: PathBuf, line: Option<usize>, component: String, path: String, below: String },
}

impl Content {
    /// What the entry is, in words.
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Dir => "directory",
            Content::File { .. } => "file",
            Content::Symlink { .. } => "symlink",
            Content::Hardlink { .. } => "hard link",
            Content::Device { .. } => "device node",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_added_once_and_sorted() {
        let mut t = Tree::default();
        let f = |n: u8| Entry::new(0o755, 0, 0, Content::File { blob: Digest::of(&[n]), size: 1 });
        t.add("/usr/local/bin/b", f(1));
        t.add("/usr/local/bin/a", f(2));
        let paths: Vec<_> = t.entries.keys().cloned().collect();
        assert_eq!(paths, ["usr", "usr/local", "usr/local/bin", "usr/local/bin/a", "usr/local/bin/b"]);
        assert_eq!(t.entries["usr/local"].content, Content::Dir);
    }

    #[test]
    fn generated_file_is_a_blob_of_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::create(dir.path()).unwrap();
        let unit = b"[Service]\nExecStart=/usr/local/bin/livepeer\n";
        let e = Entry::generated(&store, unit, 0o644, 0, 0).unwrap();
        let Content::File { blob, size } = e.content else { panic!("{e:?}") };
        assert_eq!((blob, size), (Digest::of(unit), unit.len() as u64));
        assert_eq!(store.read_small(&blob).unwrap(), unit);
    }

    #[test]
    fn entries_without_caps_serialize_as_before() {
        let e = Entry::new(0o755, 0, 0, Content::Dir);
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"mode":493,"uid":0,"gid":0,"content":{"type":"dir"}}"#);
    }
}
