//! The staged file tree of one layer: entries sorted by path, each with mode, numeric owner and
//! content (a blob in the store, a directory, or a symlink). Parents are added as root-owned
//! 0755 directories, so every layer is complete and independent of the order things were added.

pub mod secrets;

use crate::digest::Digest;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    Dir,
    File { blob: Digest, size: u64 },
    Symlink { target: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub content: Content,
}

/// A layer's entries keyed by path relative to `/` (no leading slash); BTreeMap order is the
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
            self.entries.entry(parent.clone()).or_insert(Entry { mode: 0o755, uid: 0, gid: 0, content: Content::Dir });
        }
        self.entries.insert(rel.to_string(), entry);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_added_once_and_sorted() {
        let mut t = Tree::default();
        let f =
            |n: u8| Entry { mode: 0o755, uid: 0, gid: 0, content: Content::File { blob: Digest::of(&[n]), size: 1 } };
        t.add("/usr/local/bin/b", f(1));
        t.add("/usr/local/bin/a", f(2));
        let paths: Vec<_> = t.entries.keys().cloned().collect();
        assert_eq!(paths, ["usr", "usr/local", "usr/local/bin", "usr/local/bin/a", "usr/local/bin/b"]);
        assert_eq!(t.entries["usr/local"].content, Content::Dir);
    }
}
