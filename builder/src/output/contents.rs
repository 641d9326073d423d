//! The list of the files lpbake wrote into an output directory (`OUT/contents.json` of a build,
//! `DIR/.lpbake-render` of a render): every file by relative path, with its size and sha256.
//! The writer fills it as it writes; a later run reads it to refuse a directory holding anything
//! else, anywhere inside it (not only at its top), and to prove what it carries over
//! ([`super::intact`]). Canonical JSON, so the same output gives the same bytes.

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_atomic;
use crate::oci::canonical::to_vec;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The list's file name in a build output.
pub const FILE: &str = "contents.json";

/// Largest list read: a build output lists a few hundred files.
const MAX_BYTES: u64 = 16 << 20;

/// What lpbake recorded of one file it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    pub sha256: Digest,
    pub size: u64,
}

impl FileRecord {
    /// The record of a file with these bytes.
    pub fn of(bytes: &[u8]) -> Self {
        FileRecord { sha256: Digest::of(bytes), size: bytes.len() as u64 }
    }
}

/// Every entry of an output, by `/`-separated relative path: its files, and (a render's) the
/// symlinks and the directories that are there for their own sake (mount points).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contents {
    pub files: BTreeMap<String, FileRecord>,
    /// Symlink -> its target.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
    /// Directories listed for their own sake (those on the way to an entry need not be).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub dirs: BTreeSet<String>,
}

impl Contents {
    /// Records a file.
    pub fn add(&mut self, path: impl Into<String>, record: FileRecord) {
        self.files.insert(path.into(), record);
    }

    /// Writes the list as `dir/name` (canonical JSON and a final newline).
    pub fn write(&self, dir: &Path, name: &str) -> Result<()> {
        let mut bytes = to_vec(self);
        bytes.push(b'\n');
        write_atomic(&dir.join(name), &bytes)
    }

    /// The list `dir/name`; None when there is none. A list that is not lpbake's (unreadable,
    /// or naming a path that is not a plain relative path) is an error naming the file.
    pub fn read(dir: &Path, name: &str) -> Result<Option<Self>> {
        let path = dir.join(name);
        let bytes = match lpbake_rules::read::bytes(&path, MAX_BYTES) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(Error::Output(e.to_string())),
        };
        let bad = |msg: String| {
            Error::Output(format!(
                "{}: {msg}\n  fix: this is not a list lpbake wrote; remove {} and build or render into it again",
                path.display(),
                dir.display()
            ))
        };
        let contents: Contents = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not lpbake's list ({e})")))?;
        let mut paths = contents.files.keys().chain(contents.links.keys()).chain(&contents.dirs);
        if let Some(p) = paths.find(|p| !is_plain(p) || p.as_str() == name) {
            return Err(bad(format!("lists `{p}`, which is not a file of this directory")));
        }
        Ok(Some(contents))
    }

    /// The first entry of `dir` that is not lpbake's: neither a listed file, symlink (to the
    /// listed target) or directory, nor the list `name` itself, nor a directory on the way to a
    /// listed entry. FIFOs and other specials are never lpbake's. Directories are walked without
    /// following links.
    pub fn foreign(&self, dir: &Path, name: &str) -> Result<Option<String>> {
        let mut parents: BTreeSet<&str> = self.dirs.iter().map(String::as_str).collect();
        for p in self.files.keys().chain(self.links.keys()).chain(&self.dirs) {
            let mut at = p.as_str();
            while let Some((parent, _)) = at.rsplit_once('/') {
                parents.insert(parent);
                at = parent;
            }
        }
        let mut todo = vec![String::new()];
        while let Some(rel) = todo.pop() {
            let here = if rel.is_empty() { dir.to_path_buf() } else { dir.join(&rel) };
            let mut names = Vec::new();
            for e in std::fs::read_dir(&here).at(&here)? {
                let e = e.at(&here)?;
                names.push((e.file_name(), e.file_type().at(e.path())?));
            }
            names.sort_by(|a, b| a.0.cmp(&b.0));
            for (n, kind) in names {
                let Some(n) = n.to_str() else {
                    return Ok(Some(format!("{rel}/{}", n.to_string_lossy()).trim_start_matches('/').to_string()));
                };
                let child = if rel.is_empty() { n.to_string() } else { format!("{rel}/{n}") };
                let path = dir.join(&child);
                let ours = if kind.is_dir() {
                    parents.contains(child.as_str())
                } else if kind.is_symlink() {
                    let target = std::fs::read_link(&path).at(&path)?;
                    self.links.get(&child).is_some_and(|t| Path::new(t) == target)
                } else {
                    kind.is_file() && (self.files.contains_key(&child) || child == name)
                };
                if !ours {
                    return Ok(Some(child));
                }
                if kind.is_dir() {
                    todo.push(child);
                }
            }
        }
        Ok(None)
    }
}

/// A `/`-separated relative path of plain components (no empty, `.` or `..` component).
fn is_plain(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(paths: &[&str]) -> Contents {
        let mut c = Contents::default();
        for p in paths {
            c.add(*p, FileRecord::of(p.as_bytes()));
        }
        c
    }

    #[test]
    fn anything_unlisted_anywhere_is_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("oci/a/blobs/sha256")).unwrap();
        for f in ["oci/a/index.json", "oci/a/blobs/sha256/x", "images.json", FILE] {
            std::fs::write(d.join(f), "x").unwrap();
        }
        let c = listed(&["oci/a/index.json", "oci/a/blobs/sha256/x", "images.json"]);
        assert_eq!(c.foreign(d, FILE).unwrap(), None);
        std::fs::write(d.join("oci/a/blobs/sha256/notes.txt"), "mine").unwrap();
        assert_eq!(c.foreign(d, FILE).unwrap().as_deref(), Some("oci/a/blobs/sha256/notes.txt"));
        std::fs::remove_file(d.join("oci/a/blobs/sha256/notes.txt")).unwrap();
        std::fs::create_dir(d.join("oci/b")).unwrap();
        assert_eq!(c.foreign(d, FILE).unwrap().as_deref(), Some("oci/b"), "an unlisted directory, even empty");
        std::fs::remove_dir(d.join("oci/b")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("oci/a/blobs/sha256/link")).unwrap();
        assert_eq!(c.foreign(d, FILE).unwrap().as_deref(), Some("oci/a/blobs/sha256/link"));
    }

    #[test]
    fn a_list_naming_paths_outside_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/passwd", "a//b", "a/./b", ""] {
            listed(&[bad]).write(dir.path(), FILE).unwrap();
            let e = Contents::read(dir.path(), FILE).unwrap_err().to_string();
            assert!(e.contains("not a file of this directory") && e.contains("fix:"), "{bad}: {e}");
        }
        let good = listed(&["images.json", "disk/disk.raw"]);
        good.write(dir.path(), FILE).unwrap();
        assert_eq!(Contents::read(dir.path(), FILE).unwrap(), Some(good));
        assert_eq!(Contents::read(&dir.path().join("none"), FILE).unwrap(), None);
    }
}
