//! Unpack: reads a pinned upstream archive (tar, tar.gz, tar.xz, tar.zst, zip, deb), refuses
//! anything unsafe in any of its entries (`..`, absolute paths, links leaving the root, device
//! nodes, size bombs, a taken path present twice), and stores regular files in the blob store.
//! Two modes: [`unpack`] picks the wanted members; [`unpack_tree`] takes a whole root filesystem
//! (hard links, allowed device nodes, owners, OCI whiteouts when layering several archives).
//!
//! [`remembered::Remembered`] keeps what an unpack gave in the cache, for the next build.
//!
//! Every format reader feeds its entries through one [`Collector`], which owns the policy; the
//! readers only know how to walk their format. Archives are streamed: memory stays flat whatever
//! their size, and the sha256 of the archive is checked in the same pass (zip: in a pass before,
//! since it needs to seek).

mod deb;
pub mod remembered;
mod tar;
#[cfg(test)]
mod tests;
mod zip;

use crate::digest::{Digest, HashMismatch, VerifyingReader};
use crate::store::{BlobStore, CommitError};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Buffer size for every read, copy and decompressor input.
const BUF: usize = 256 << 10;

/// Archive formats lpbake can read. Serde: deserialize from the strings "tar", "tar.gz" (alias
/// "tgz"), "tar.xz", "tar.zst", "zip", "deb".
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub enum Format {
    #[serde(rename = "tar")]
    Tar,
    #[serde(rename = "tar.gz", alias = "tgz")]
    TarGz,
    #[serde(rename = "tar.xz")]
    TarXz,
    #[serde(rename = "tar.zst")]
    TarZst,
    #[serde(rename = "zip")]
    Zip,
    #[serde(rename = "deb")]
    Deb,
}

impl Format {
    /// Guesses from a file name or URL suffix (query strings and fragments ignored, case
    /// ignored); None if unknown.
    pub fn detect(name_or_url: &str) -> Option<Format> {
        let end = name_or_url.find(['?', '#']).unwrap_or(name_or_url.len());
        let name = name_or_url[..end].to_ascii_lowercase();
        const SUFFIXES: [(&str, Format); 9] = [
            (".tar.gz", Format::TarGz),
            (".tgz", Format::TarGz),
            (".tar.xz", Format::TarXz),
            (".txz", Format::TarXz),
            (".tar.zst", Format::TarZst),
            (".tzst", Format::TarZst),
            (".tar", Format::Tar),
            (".zip", Format::Zip),
            (".deb", Format::Deb),
        ];
        SUFFIXES.iter().find(|(suffix, _)| name.ends_with(suffix)).map(|&(_, f)| f)
    }
}

/// Bounds that stop size bombs. Default: max_entry_bytes 2 GiB, max_total_bytes 8 GiB,
/// max_entries 200_000.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest uncompressed size of one entry.
    pub max_entry_bytes: u64,
    /// Largest uncompressed size of all entries together (wanted or not).
    pub max_total_bytes: u64,
    /// Most entries an archive may have.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_entry_bytes: 2 << 30, max_total_bytes: 8 << 30, max_entries: 200_000 }
    }
}

/// One member taken out of an archive.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// Normalized path inside the archive (no leading `./`, no trailing `/`).
    pub path: String,
    /// Permission bits (`& 0o7777`) as the archive records them.
    pub mode: u32,
    /// Numeric owner as the archive records it (0 for zip).
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    pub kind: MemberKind,
}

/// What a [`Member`] is; a file's content is in the blob store under `sha256`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MemberKind {
    File {
        sha256: Digest,
        size: u64,
    },
    Dir,
    /// `target` exactly as the archive records it.
    Symlink {
        target: String,
    },
    /// Another name of the regular file at `target` (a normalized root-relative path).
    /// Only [`unpack_tree`] takes hard links.
    Hardlink {
        target: String,
    },
    /// A device node or fifo; only [`unpack_tree`] takes them, where [`Specials`] allows.
    Device {
        kind: DeviceKind,
        major: u32,
        minor: u32,
    },
}

/// The kinds of [`MemberKind::Device`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Char,
    Block,
    Fifo,
}

impl DeviceKind {
    fn describe(self) -> &'static str {
        match self {
            DeviceKind::Char => "character device",
            DeviceKind::Block => "block device",
            DeviceKind::Fifo => "fifo",
        }
    }
}

/// Where [`unpack_tree`] takes device nodes and fifos: under the listed directories
/// (normalized, e.g. `dev`; "" is everywhere), nowhere by default.
#[derive(Clone, Debug, Default)]
pub struct Specials {
    pub under: Vec<String>,
}

impl Specials {
    fn allow(&self, path: &str) -> bool {
        self.under.iter().any(|dir| is_under(path, dir))
    }
}

/// Why an archive was not unpacked. `archive` is the name the caller gave (e.g. the URL).
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{archive}: cannot open {}: {source}", path.display())]
    Open { archive: String, path: PathBuf, source: io::Error },

    #[error(
        "{archive}: corrupt or truncated archive: {source}; check that the declared format matches \
         the file, or delete the cached copy and fetch it again"
    )]
    Corrupt { archive: String, source: io::Error },

    #[error(
        "{}: sha256 mismatch: expected {}, got {}; the file changed upstream or in the cache: \
         fetch it again, or, if the new content is trusted, update its pin with `lpbake lock`",
        .0.what, .0.expected, .0.actual
    )]
    Mismatch(HashMismatch),

    #[error(
        "{archive}: entry `{path}` has a `..` component and would land outside the unpack root; \
         refusing the whole archive: check that the pinned URL is the genuine upstream release"
    )]
    ParentDir { archive: String, path: String },

    #[error(
        "{archive}: entry `{path}` has an absolute path; refusing the whole archive: check that the \
         pinned URL is the genuine upstream release"
    )]
    Absolute { archive: String, path: String },

    #[error(
        "{archive}: {link} `{path}` -> `{target}` points outside the archive root; refusing the \
         whole archive: check that the pinned URL is the genuine upstream release"
    )]
    LinkEscapes { archive: String, path: String, link: &'static str, target: String },

    #[error(
        "{archive}: entry `{path}` is a {kind}; lpbake takes only files, directories and links \
         from archives (device nodes and fifos only in a whole-tree unpack, under directories the \
         spec allows): refusing the whole archive, use an archive without such entries"
    )]
    Special { archive: String, path: String, kind: String },

    #[error(
        "{archive} (cached as {}): holds `{path}` more than once, so which copy is meant is \
         ambiguous; refusing the whole archive: use an archive with one copy of each path (report \
         it upstream), or pin a release that has one", file.display()
    )]
    Duplicate { archive: String, file: PathBuf, path: String },

    #[error(
        "{archive}: whiteout `{path}` does not name an entry; refusing the whole archive: check \
         that the pinned URL is a genuine OCI layer"
    )]
    BadWhiteout { archive: String, path: String },

    #[error(
        "{archive}: hard link `{path}` -> `{target}` does not name a regular file of the tree (missing, \
         or removed by a whiteout); refusing the whole archive: check that the pinned URL is the \
         genuine upstream release"
    )]
    DanglingHardLink { archive: String, path: String, target: String },

    #[error(
        "{archive}: entry `{path}` is larger than the limit of {limit} bytes per entry (at least \
         {size} bytes); if the archive is genuine, raise the limit (max_entry_bytes)"
    )]
    EntryTooLarge { archive: String, path: String, size: u64, limit: u64 },

    #[error(
        "{archive}: content passes the limit of {limit} bytes in total at entry `{path}`; if the \
         archive is genuine, raise the limit (max_total_bytes)"
    )]
    TotalTooLarge { archive: String, path: String, limit: u64 },

    #[error(
        "{archive}: more than {limit} entries (at entry `{path}`); if the archive is genuine, \
         raise the limit (max_entries)"
    )]
    TooManyEntries { archive: String, path: String, limit: u64 },

    #[error("{archive}: has no member `{path}`; {}", missing_hint(.candidates, *.same_name))]
    Missing { archive: String, path: String, candidates: Vec<String>, same_name: bool },

    #[error(
        "{archive}: wanted member `{path}` is a hard link to `{target}`, and hard links are not \
         supported as members: select `{target}` instead"
    )]
    HardLinkWanted { archive: String, path: String, target: String },

    #[error(
        "{archive}: a .deb needs a data.tar, data.tar.gz, data.tar.xz or data.tar.zst member, \
         found only [{}]; check that the file is a Debian package", .found.join(", ")
    )]
    DebWithoutData { archive: String, found: Vec<String> },

    #[error(
        "{archive}: cannot store member `{path}` in the blob store: {source}; check the free space \
         and permissions of the cache directory"
    )]
    Store { archive: String, path: String, source: io::Error },
}

fn missing_hint(candidates: &[String], same_name: bool) -> String {
    let list = candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    match (same_name, candidates.is_empty()) {
        (_, true) => "the archive has no entries: check the URL".to_string(),
        (true, false) => format!("entries with the same file name: {list}; fix the path in the spec"),
        (false, false) => format!(
            "its first entries are: {list}; fix the path in the spec (relative to the archive root, \
             without a leading `./`)"
        ),
    }
}

/// Reads the archive at `archive` (its content must hash to `expected`; `name` is how errors
/// name it, e.g. the URL), validates EVERY entry (not only the wanted ones), stores the content of
/// each wanted regular file into `store`, and returns the wanted members keyed by normalized path.
///
/// `wanted` holds normalized paths ("dir/file", no leading "./"); for a .deb, paths inside its
/// data.tar. A wanted path present twice is refused ([`UnpackError::Duplicate`]): no copy is
/// "the" member. Content of wanted files may reach the store (and a tee) before the archive is
/// refused; it is stored under its own digest, and no member map is returned then.
pub fn unpack(
    archive: &Path,
    expected: Digest,
    name: &str,
    format: Format,
    wanted: &BTreeSet<String>,
    limits: &Limits,
    store: &BlobStore,
) -> Result<BTreeMap<String, Member>, UnpackError> {
    unpack_tee(archive, expected, name, format, wanted, limits, store, None)
}

/// Sees each wanted file's content while it is unpacked, to stream it onwards (into a layer)
/// as it is stored: [`Tee::begin`] before a file's bytes, then [`Tee::data`] for each chunk.
/// What it saw is only good if the unpack then succeeds.
pub trait Tee {
    fn begin(&mut self, path: &str, mode: u32, size: u64);
    fn data(&mut self, chunk: &[u8]);
}

/// [`unpack`], showing wanted files' content to `tee` as it is stored.
#[allow(clippy::too_many_arguments)]
pub fn unpack_tee<'a>(
    archive: &'a Path,
    expected: Digest,
    name: &'a str,
    format: Format,
    wanted: &'a BTreeSet<String>,
    limits: &Limits,
    store: &'a BlobStore,
    tee: Option<&'a mut dyn Tee>,
) -> Result<BTreeMap<String, Member>, UnpackError> {
    let mut c = Collector::new(name, archive, Take::Members(wanted), *limits, store);
    c.tee = tee;
    walk(archive, expected, format, &mut c)?;
    c.finish()
}

/// Whole-tree mode: unpacks every entry of the archive (a root filesystem, or one OCI layer of
/// several applied in order) on top of `lower`, the tree built so far (empty for the first), and
/// returns the new tree. Regular files go into `store`; directories, symlinks (absolute targets
/// resolve from the root, relative ones may not climb out of it), hard links (to a regular file
/// of the tree), owners and modes are kept; device nodes and fifos only where `specials` allows.
/// OCI whiteouts apply to `lower`: `.wh.NAME` removes NAME, `.wh..wh..opq` empties its
/// directory. A path present twice in one archive is refused.
#[allow(clippy::too_many_arguments)]
pub fn unpack_tree(
    archive: &Path,
    expected: Digest,
    name: &str,
    format: Format,
    limits: &Limits,
    specials: &Specials,
    store: &BlobStore,
    lower: BTreeMap<String, Member>,
) -> Result<BTreeMap<String, Member>, UnpackError> {
    let mut c = Collector::new(name, archive, Take::Tree(specials), *limits, store);
    c.seed(lower);
    walk(archive, expected, format, &mut c)?;
    c.merge()
}

/// Opens `archive` and walks it with its format's reader, checking its digest on the way.
fn walk(archive: &Path, expected: Digest, format: Format, c: &mut Collector) -> Result<(), UnpackError> {
    let name = c.name;
    let open = |path: &Path| {
        File::open(path).map_err(|source| UnpackError::Open { archive: name.to_string(), path: path.into(), source })
    };
    let compression = match format {
        Format::Zip => return zip::read(open(archive)?, expected, c),
        Format::Deb => None,
        Format::Tar => Some(tar::Compression::None),
        Format::TarGz => Some(tar::Compression::Gz),
        Format::TarXz => Some(tar::Compression::Xz),
        Format::TarZst => Some(tar::Compression::Zst),
    };
    let mut verified = VerifyingReader::new(open(archive)?, expected, name);
    let input = io::BufReader::with_capacity(BUF, &mut verified);
    let walked = match compression {
        Some(compression) => tar::read(input, compression, c),
        None => deb::read(input, c),
    };
    // Read what the format reader left so the digest is checked. A wrong digest explains any
    // other error (a tampered or truncated file), so it wins.
    match (walked, verified.drain()) {
        (_, Err(e)) if find_mismatch(&e).is_some() => Err(c.read_error(e)),
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(c.read_error(e)),
        (Ok(()), Ok(())) => Ok(()),
    }
}

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
enum Take<'a> {
    /// The listed members (member picking).
    Members(&'a BTreeSet<String>),
    /// All of them (whole-tree mode), device nodes and fifos only where allowed.
    Tree(&'a Specials),
}

/// The policy and the bookkeeping shared by all format readers.
pub(crate) struct Collector<'a> {
    name: &'a str,
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
    /// Symlinks seen so far: normalized path -> target resolved to a root-relative path.
    symlinks: BTreeMap<String, String>,
    /// For the error about a missing member: the first entries, and entries sharing a wanted
    /// member's file name (both at most 10).
    first: Vec<String>,
    same_name: BTreeMap<String, Vec<String>>,
    tee: Option<&'a mut dyn Tee>,
}

/// The prefix of an OCI whiteout's file name, and the name of an opaque-directory marker.
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

impl<'a> Collector<'a> {
    fn new(name: &'a str, file: &'a Path, take: Take<'a>, limits: Limits, store: &'a BlobStore) -> Self {
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
    fn seed(&mut self, lower: BTreeMap<String, Member>) {
        for m in lower.values() {
            if let MemberKind::Symlink { target } = &m.kind {
                if let Some(resolved) = self.resolve(parent(&m.path), target) {
                    self.symlinks.insert(m.path.clone(), resolved);
                }
            }
        }
        self.lower = lower;
    }

    /// Applies the policy to one entry. Returns a [`Pending`] when the entry is a wanted regular
    /// file, whose content the reader must then pass to [`Collector::store`]; other wanted
    /// entries are recorded here.
    pub(crate) fn check(&mut self, raw: &str, kind: Kind, h: Meta) -> Result<Option<Pending>, UnpackError> {
        self.count(raw, h.size)?;
        let path = normalize(raw);
        if raw.starts_with('/') || path.starts_with('/') {
            return Err(UnpackError::Absolute { archive: self.name.into(), path: raw.into() });
        }
        if path.split('/').any(|c| c == "..") {
            return Err(UnpackError::ParentDir { archive: self.name.into(), path: raw.into() });
        }
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
                self.symlinks.insert(path.clone(), resolved);
                MemberKind::Symlink { target }
            }
            Kind::Dir => {
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
            self.lower.retain(|p, _| !is_under(p, dir));
            return Ok(());
        }
        let hidden = &name[WHITEOUT.len()..];
        if matches!(hidden, "" | "." | "..") || hidden.starts_with(WHITEOUT) {
            return Err(UnpackError::BadWhiteout { archive: self.name.into(), path: path.into() });
        }
        let gone = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
        self.lower.retain(|p, _| *p != gone && !is_under(p, &gone));
        self.symlinks.retain(|p, _| *p != gone && !is_under(p, &gone));
        Ok(())
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
    fn finish(mut self) -> Result<BTreeMap<String, Member>, UnpackError> {
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
    /// it; every hard link must still name a regular file.
    fn merge(self) -> Result<BTreeMap<String, Member>, UnpackError> {
        let mut tree = self.lower;
        for (path, m) in &self.found {
            if !matches!(m.kind, MemberKind::Dir) {
                tree.retain(|p, _| !is_under(p, path));
            }
        }
        tree.extend(self.found);
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
    /// symlinks seen so far; None if it leaves the root. Absolute targets leave the root when
    /// members are picked; in a whole root filesystem they resolve from its root.
    fn resolve(&self, dir: &str, target: &str) -> Option<String> {
        let dir = match (target.starts_with('/'), &self.take) {
            (false, _) => dir,
            (true, Take::Tree(_)) => "",
            (true, Take::Members(_)) => return None,
        };
        let mut at: Vec<&str> = Vec::new();
        for component in dir.split('/').chain(target.split('/')) {
            match component {
                "" | "." => {}
                ".." => {
                    at.pop()?;
                }
                c => {
                    at.push(c);
                    if let Some(to) = self.symlinks.get(&at.join("/")) {
                        at = to.split('/').filter(|c| !c.is_empty()).collect();
                    }
                }
            }
        }
        Some(at.join("/"))
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

/// Strips a leading "./" (repeatedly) and trailing "/"; "." is the root, "".
fn normalize(raw: &str) -> String {
    let mut p = raw;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    if p == "." {
        p = "";
    }
    p.trim_end_matches('/').to_string()
}

/// The directory part of a normalized path ("" at the root).
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Whether `path` lies strictly inside directory `dir` ("" is the root).
fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// The last component of a normalized path.
fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// Finds a [`HashMismatch`] anywhere in the chain of `e` (decoders and tar wrap io errors).
fn find_mismatch(e: &io::Error) -> Option<HashMismatch> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|e| e as _);
    while let Some(err) = cur {
        if let Some(m) = err.downcast_ref::<HashMismatch>() {
            return Some(m.clone());
        }
        cur = match err.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|e| e as _),
            None => err.source(),
        };
    }
    None
}
