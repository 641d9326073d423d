//! The policy every format reader feeds its entries through ([`Collector`]): paths normalized
//! once ([`super::path`]), `..`, absolute paths, escaping links, specials, duplicates and size
//! bombs refused, only files taken as members, wanted files stored, whole trees merged with OCI
//! whiteouts and nothing under a file or a link.

use super::path::{file_name, land, normalize, parent, Outside};
use super::{find_mismatch, DeviceKind, Limits, Member, MemberKind, Specials, Tee, UnpackError, BUF};
use crate::store::{BlobStore, CommitError};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::Path;

/// An entry as a format reader sees it, before the policy looks at it.
pub(crate) enum Kind {
    File,
    Dir,
    Symlink(String),
    /// Target path relative to the archive root (tar semantics).
    HardLink(String),
    /// A device node or fifo with its numbers.
    Device(DeviceKind, u32, u32),
    /// A socket, an unknown type, or a device whose numbers the format lacks; the string says which.
    Special(String),
}

impl Kind {
    /// What the entry is in words, None for a directory.
    fn non_dir(&self) -> Option<&'static str> {
        match self {
            Kind::Dir => None,
            Kind::File => Some("file"),
            Kind::Symlink(_) => Some("symlink"),
            Kind::HardLink(_) => Some("hard link"),
            Kind::Device(kind, ..) => Some(kind.describe()),
            Kind::Special(_) => Some("special file"),
        }
    }
}

/// What an entry's header says besides its path and kind.
pub(crate) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The size the header claims (content is counted as read: sizes can lie).
    pub size: u64,
}

/// A wanted regular file whose content the reader must pass to [`Collector::store`].
pub(crate) struct Pending {
    path: String,
    mode: u32,
    uid: u32,
    gid: u32,
    declared: u64,
}

/// Which entries are taken.
#[derive(Clone, Copy)]
pub(super) enum Take<'a> {
    /// The listed members (member picking).
    Members(&'a BTreeSet<String>),
    /// All of them (whole-tree mode), device nodes and fifos only where allowed.
    Tree(&'a Specials),
}

/// The policy and the bookkeeping shared by all format readers.
pub(crate) struct Collector<'a> {
    pub(super) name: &'a str,
    /// The archive file (in the cache or mirror), for errors about its content.
    file: &'a Path,
    take: Take<'a>,
    limits: Limits,
    store: &'a BlobStore,
    buf: Vec<u8>,
    entries: u64,
    total: u64,
    found: BTreeMap<String, Member>,
    /// Whole-tree mode: the tree of earlier archives, which whiteouts apply to.
    lower: BTreeMap<String, Member>,
    /// Paths taken so far: a second entry for one of them is refused.
    seen: BTreeSet<String>,
    /// Symlinks of this archive seen so far (taken or not): normalized path -> target as
    /// recorded. Those of `lower` are looked up there.
    symlinks: BTreeMap<String, String>,
    /// For the error about a missing member: the first entries, and entries sharing a wanted
    /// member's file name (both at most 10).
    first: Vec<String>,
    same_name: BTreeMap<String, Vec<String>>,
    pub(super) tee: Option<&'a mut dyn Tee>,
}

/// The prefix of an OCI whiteout's file name, and the name of an opaque-directory marker.
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

impl<'a> Collector<'a> {
    pub(super) fn new(name: &'a str, file: &'a Path, take: Take<'a>, limits: Limits, store: &'a BlobStore) -> Self {
        let same_name = match take {
            Take::Members(wanted) => wanted.iter().map(|w| (file_name(w).to_string(), Vec::new())).collect(),
            Take::Tree(_) => BTreeMap::new(),
        };
        Collector {
            name,
            file,
            take,
            limits,
            store,
            buf: vec![0; BUF],
            entries: 0,
            total: 0,
            found: BTreeMap::new(),
            lower: BTreeMap::new(),
            seen: BTreeSet::new(),
            symlinks: BTreeMap::new(),
            first: Vec::new(),
            same_name,
            tee: None,
        }
    }

    /// Whole-tree mode: starts from `lower`, whose symlinks later links resolve through.
    pub(super) fn seed(&mut self, lower: BTreeMap<String, Member>) {
        self.lower = lower;
    }

    /// Applies the policy to one entry. Returns a [`Pending`] when the entry is a wanted regular
    /// file, whose content the reader must then pass to [`Collector::store`]; other wanted
    /// entries are recorded here.
    pub(crate) fn check(&mut self, raw: &str, kind: Kind, h: Meta) -> Result<Option<Pending>, UnpackError> {
        self.count(raw, h.size)?;
        let path = normalize(raw).map_err(|outside| match outside {
            Outside::Absolute => UnpackError::Absolute { archive: self.name.into(), path: raw.into() },
            Outside::ParentDir => UnpackError::ParentDir { archive: self.name.into(), path: raw.into() },
        })?;
        if path.is_empty() {
            // The archive root itself ("./"): nothing to take, but only a directory may be there.
            return match kind {
                Kind::Dir => Ok(None),
                _ => Err(self.corrupt(format!("entry `{raw}` names the archive root but is not a directory"))),
            };
        }
        self.note(&path);

        let tree = matches!(self.take, Take::Tree(_));
        if tree && file_name(&path).starts_with(WHITEOUT) {
            self.whiteout(&path)?;
            return Ok(None);
        }
        let wanted = match self.take {
            Take::Members(wanted) => wanted.contains(&path),
            Take::Tree(_) => true,
        };
        if wanted && !self.seen.insert(path.clone()) {
            return Err(UnpackError::Duplicate { archive: self.name.into(), file: self.file.into(), path });
        }
        if tree {
            self.check_place(&path, kind.non_dir())?;
        }
        let member = match kind {
            Kind::Special(kind) => return Err(UnpackError::Special { archive: self.name.into(), path, kind }),
            Kind::Device(kind, major, minor) => match self.take {
                Take::Tree(specials) if specials.allow(&path) => MemberKind::Device { kind, major, minor },
                _ => {
                    return Err(UnpackError::Special { archive: self.name.into(), path, kind: kind.describe().into() })
                }
            },
            Kind::HardLink(target) => {
                let Some(resolved) = self.resolve("", &target) else {
                    return Err(self.link_escapes(path, "hard link", target));
                };
                self.symlinks.remove(&path);
                if !tree {
                    if wanted {
                        return Err(UnpackError::HardLinkWanted { archive: self.name.into(), path, target });
                    }
                    return Ok(None);
                }
                if !self.is_file(&resolved) {
                    return Err(UnpackError::DanglingHardLink { archive: self.name.into(), path, target });
                }
                MemberKind::Hardlink { target: resolved }
            }
            Kind::Symlink(target) => {
                let Some(resolved) = self.resolve(parent(&path), &target) else {
                    return Err(self.link_escapes(path, "symlink", target));
                };
                if wanted && !tree {
                    return Err(UnpackError::SymlinkWanted { archive: self.name.into(), path, target, resolved });
                }
                self.symlinks.insert(path.clone(), target.clone());
                MemberKind::Symlink { target }
            }
            Kind::Dir => {
                if wanted && !tree {
                    return Err(UnpackError::DirWanted { archive: self.name.into(), path });
                }
                self.symlinks.remove(&path);
                MemberKind::Dir
            }
            Kind::File => {
                self.symlinks.remove(&path);
                let pending = Pending { path, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, declared: h.size };
                return Ok(wanted.then_some(pending));
            }
        };
        if wanted {
            let m = Member { path: path.clone(), mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, kind: member };
            self.found.insert(path, m);
        }
        Ok(None)
    }

    /// Whole-tree mode: applies the whiteout at `path` to the tree of earlier archives.
    fn whiteout(&mut self, path: &str) -> Result<(), UnpackError> {
        let dir = parent(path);
        let name = file_name(path);
        if name == OPAQUE {
            remove_under(&mut self.lower, dir);
            return Ok(());
        }
        let hidden = &name[WHITEOUT.len()..];
        if matches!(hidden, "" | "." | "..") || hidden.starts_with(WHITEOUT) {
            return Err(UnpackError::BadWhiteout { archive: self.name.into(), path: path.into() });
        }
        let gone = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
        self.lower.remove(&gone);
        remove_under(&mut self.lower, &gone);
        Ok(())
    }

    /// Whole-tree mode: refuses an entry under something of the tree so far that is not a
    /// directory (this archive's, else an earlier one's), and an entry that is not a directory
    /// (`non_dir` says what it is) where this archive already put entries under it: either would
    /// leave an entry under a file or a link, whose place depends on the order it is written in.
    fn check_place(&self, path: &str, non_dir: Option<&'static str>) -> Result<(), UnpackError> {
        let under = |dir: &str, kind: &'static str, path: &str| UnpackError::UnderNonDir {
            archive: self.name.into(),
            path: path.into(),
            under: dir.into(),
            kind,
        };
        let mut dir = path;
        while let Some((up, _)) = dir.rsplit_once('/') {
            if let Some(m) = self.found.get(up).or_else(|| self.lower.get(up)) {
                if !matches!(m.kind, MemberKind::Dir) {
                    return Err(under(up, m.kind.describe(), path));
                }
            }
            dir = up;
        }
        let (Some(kind), inside) = (non_dir, format!("{path}/")) else { return Ok(()) };
        match self.found.range(inside.clone()..).next() {
            Some((child, _)) if child.starts_with(&inside) => Err(under(path, kind, child)),
            _ => Ok(()),
        }
    }

    /// Whether `path` is a regular file of the tree so far (this archive's, else an earlier one's).
    fn is_file(&self, path: &str) -> bool {
        let m = self.found.get(path).or_else(|| self.lower.get(path));
        matches!(m, Some(Member { kind: MemberKind::File { .. }, .. }))
    }

    /// Counts one entry and its declared size against the limits. [`Collector::check`] does this
    /// too; readers call it alone for entries that are not members (a pax global header).
    pub(crate) fn count(&mut self, raw: &str, declared: u64) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                archive: self.name.into(),
                path: raw.into(),
                limit: self.limits.max_entries,
            });
        }
        if declared > self.limits.max_entry_bytes {
            return Err(self.entry_too_large(raw, declared));
        }
        self.total = self.total.saturating_add(declared);
        if self.total > self.limits.max_total_bytes {
            return Err(self.total_too_large(raw));
        }
        Ok(())
    }

    /// Streams a wanted file's content (as returned by [`Collector::check`]) into the store.
    pub(crate) fn store(&mut self, p: Pending, content: &mut dyn Read) -> Result<(), UnpackError> {
        let store_error = |source| UnpackError::Store { archive: self.name.into(), path: p.path.clone(), source };
        let mut out = self.store.writer().map_err(store_error)?;
        if let Some(tee) = self.tee.as_mut() {
            tee.begin(&p.path, p.mode, p.declared);
        }
        self.copy(&p.path, p.declared, content, &mut out, true)?;
        let (sha256, size) = out.commit(None).map_err(|e| match e {
            CommitError::Io(e) => store_error(e),
            CommitError::Mismatch(m) => store_error(io::Error::new(io::ErrorKind::InvalidData, m)),
        })?;
        let kind = MemberKind::File { sha256, size };
        self.found.insert(p.path.clone(), Member { path: p.path, mode: p.mode, uid: p.uid, gid: p.gid, kind });
        Ok(())
    }

    /// Reads and discards content that is not wanted, still counting it against the limits.
    pub(crate) fn skip(&mut self, path: &str, declared: u64, content: &mut dyn Read) -> Result<(), UnpackError> {
        self.copy(path, declared, content, &mut io::sink(), false).map(drop)
    }

    /// Copies `r` to `w` (and to the tee, with `tee`), counting the bytes actually read: sizes in
    /// headers can lie.
    fn copy(
        &mut self,
        path: &str,
        declared: u64,
        r: &mut dyn Read,
        w: &mut dyn Write,
        tee: bool,
    ) -> Result<u64, UnpackError> {
        let mut n: u64 = 0;
        loop {
            let k = match r.read(&mut self.buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e)),
            };
            n += k as u64;
            if n > self.limits.max_entry_bytes {
                return Err(self.entry_too_large(path, n));
            }
            if self.total.saturating_add(n.saturating_sub(declared)) > self.limits.max_total_bytes {
                return Err(self.total_too_large(path));
            }
            w.write_all(&self.buf[..k]).map_err(|source| UnpackError::Store {
                archive: self.name.into(),
                path: path.into(),
                source,
            })?;
            if let Some(t) = self.tee.as_mut().filter(|_| tee) {
                t.data(&self.buf[..k]);
            }
        }
        self.total = self.total.saturating_add(n.saturating_sub(declared));
        Ok(n)
    }

    /// The members found, or the error for the first wanted member that is absent.
    pub(super) fn finish(mut self) -> Result<BTreeMap<String, Member>, UnpackError> {
        let Take::Members(wanted) = self.take else { return Ok(self.found) };
        let Some(path) = wanted.iter().find(|w| !self.found.contains_key(*w)) else {
            return Ok(self.found);
        };
        let similar = self.same_name.remove(file_name(path)).unwrap_or_default();
        let same_name = !similar.is_empty();
        Err(UnpackError::Missing {
            archive: self.name.into(),
            path: path.clone(),
            candidates: if same_name { similar } else { self.first },
            same_name,
        })
    }

    /// Whole-tree mode: the tree of earlier archives (whiteouts applied) with this archive's
    /// entries over it. An entry that is not a directory hides what an earlier archive had under
    /// it; every hard link must still name a regular file, and every symlink is resolved once
    /// more in the merged tree (one read before a later entry made a directory on its way a
    /// link may leave the root now).
    pub(super) fn merge(self) -> Result<BTreeMap<String, Member>, UnpackError> {
        let mut tree = self.lower;
        for (path, m) in &self.found {
            if !matches!(m.kind, MemberKind::Dir) {
                remove_under(&mut tree, path);
            }
        }
        tree.extend(self.found);
        let links: BTreeMap<&str, &str> = links_of(&tree).collect();
        for (&path, &target) in &links {
            if land(parent(path), target, true, |p| links.get(p).copied()).is_none() {
                return Err(UnpackError::LinkEscapes {
                    archive: self.name.into(),
                    path: path.into(),
                    link: "symlink",
                    target: target.into(),
                });
            }
        }
        for m in tree.values() {
            if let MemberKind::Hardlink { target } = &m.kind {
                if !matches!(tree.get(target), Some(Member { kind: MemberKind::File { .. }, .. })) {
                    return Err(UnpackError::DanglingHardLink {
                        archive: self.name.into(),
                        path: m.path.clone(),
                        target: target.clone(),
                    });
                }
            }
        }
        Ok(tree)
    }

    /// Remembers a path for the hints of [`UnpackError::Missing`].
    fn note(&mut self, path: &str) {
        if self.first.len() < 10 {
            self.first.push(path.to_string());
        }
        if let Some(list) = self.same_name.get_mut(file_name(path)) {
            if list.len() < 10 {
                list.push(path.to_string());
            }
        }
    }

    /// Where `target` lands when read from directory `dir` (root-relative), following the
    /// symlinks seen so far ([`land`]); None if it leaves the root. Absolute targets leave the
    /// root when members are picked; in a whole root filesystem they resolve from its root.
    fn resolve(&self, dir: &str, target: &str) -> Option<String> {
        let tree = matches!(self.take, Take::Tree(_));
        land(dir, target, tree, |p| match self.symlinks.get(p) {
            Some(target) => Some(target.as_str()),
            None if self.found.contains_key(p) => None,
            None => match self.lower.get(p).map(|m| &m.kind) {
                Some(MemberKind::Symlink { target }) => Some(target.as_str()),
                _ => None,
            },
        })
    }

    /// Turns a read error into [`UnpackError::Mismatch`] if a digest check caused it, else
    /// [`UnpackError::Corrupt`].
    pub(crate) fn read_error(&self, e: io::Error) -> UnpackError {
        match find_mismatch(&e) {
            Some(m) => UnpackError::Mismatch(m),
            None => UnpackError::Corrupt { archive: self.name.into(), source: e },
        }
    }

    /// A [`UnpackError::Corrupt`] for a structural problem found by lpbake itself.
    pub(crate) fn corrupt(&self, msg: String) -> UnpackError {
        UnpackError::Corrupt { archive: self.name.into(), source: io::Error::new(io::ErrorKind::InvalidData, msg) }
    }

    fn entry_too_large(&self, path: &str, size: u64) -> UnpackError {
        UnpackError::EntryTooLarge {
            archive: self.name.into(),
            path: path.into(),
            size,
            limit: self.limits.max_entry_bytes,
        }
    }

    fn total_too_large(&self, path: &str) -> UnpackError {
        UnpackError::TotalTooLarge { archive: self.name.into(), path: path.into(), limit: self.limits.max_total_bytes }
    }

    fn link_escapes(&self, path: String, link: &'static str, target: String) -> UnpackError {
        UnpackError::LinkEscapes { archive: self.name.into(), path, link, target }
    }
}

/// The symlinks of a tree: path -> target as recorded.
fn links_of(tree: &BTreeMap<String, Member>) -> impl Iterator<Item = (&str, &str)> {
    tree.values().filter_map(|m| match &m.kind {
        MemberKind::Symlink { target } => Some((m.path.as_str(), target.as_str())),
        _ => None,
    })
}

/// Removes every path strictly inside directory `dir` ("" is the root) from a map keyed by
/// normalized path, in the time of what is removed.
fn remove_under<V>(map: &mut BTreeMap<String, V>, dir: &str) {
    if dir.is_empty() {
        return map.clear();
    }
    let inside = format!("{dir}/");
    let gone: Vec<String> =
        map.range(inside.clone()..).map(|(p, _)| p).take_while(|p| p.starts_with(&inside)).cloned().collect();
    for p in gone {
        map.remove(&p);
    }
}
