//! Remembered unpacks: the members an archive gave when it was unpacked, kept in the cache as
//! `trees/<key>.json` and reused while every file they name is still in the blob store, so a
//! rebuild of the disk does not decompress the same pinned archives again. The key names the
//! archive's sha256 and what was taken from it (the wanted paths, or the whole tree).

use super::Member;
use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::fsutil;
use crate::store::BlobStore;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bumped when the unpack rules change what an archive gives (2: member paths normalized whole,
/// wanted symlinks and directories refused), so an unpack remembered under older rules is
/// unpacked again, and refused if the new rules refuse it.
const RULES: u32 = 2;

/// Remembered unpacks under `cache`/trees.
pub struct Remembered {
    dir: PathBuf,
}

impl Remembered {
    pub fn new(cache: &Path) -> Self {
        Remembered { dir: cache.join("trees") }
    }

    /// The key of unpacking `archive`: `wanted` paths of it, or None for its whole tree, under
    /// the rules of [`RULES`].
    pub fn key(archive: Digest, wanted: Option<&BTreeSet<String>>) -> Digest {
        let what = serde_json::json!({ "archive": archive, "wanted": wanted, "rules": RULES });
        Digest::of(what.to_string().as_bytes())
    }

    /// The members remembered under `key`, if readable and every file they name is in `store`.
    pub fn recall(&self, key: Digest, store: &BlobStore) -> Option<BTreeMap<String, Member>> {
        let members: BTreeMap<String, Member> = serde_json::from_slice(&std::fs::read(self.path(key)).ok()?).ok()?;
        let whole = members.values().all(|m| match &m.kind {
            super::MemberKind::File { sha256, .. } => store.contains(sha256),
            _ => true,
        });
        whole.then_some(members)
    }

    /// Remembers `members` under `key` (written whole or not at all; a key names its members, so
    /// one remembered before is left as it is).
    pub fn remember(&self, key: Digest, members: &BTreeMap<String, Member>) -> Result<()> {
        let path = self.path(key);
        if path.is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).at(&self.dir)?;
        fsutil::write_atomic(&path, &serde_json::to_vec(members).expect("members serialize"))
    }

    fn path(&self, key: Digest) -> PathBuf {
        self.dir.join(format!("{}.json", key.hex()))
    }
}
