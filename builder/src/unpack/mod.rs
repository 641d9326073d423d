//! Unpack: reads a pinned upstream archive (tar, tar.gz, tar.xz, tar.zst, zip, deb), refuses
//! anything unsafe in any of its entries (`..`, absolute paths, links leaving the root, device
//! nodes, size bombs, a taken path present twice), and stores regular files in the blob store.
//! Two modes: [`unpack`] picks the wanted files; [`unpack_tree`] takes a whole root filesystem
//! (hard links, allowed device nodes, owners, OCI whiteouts when layering several archives).
//!
//! Every format reader (`tar.rs`, `zip.rs`, `deb.rs`) feeds its entries through one
//! [`Collector`] (`collector.rs`), which owns the policy; member paths are normalized once
//! (`path.rs`, also the spec's rule for `install.from`); each refusal is an [`UnpackError`]
//! (`error.rs`). Nothing an unpack gave is kept between builds: a member map in the cache could
//! be checked only by unpacking again, so the archive is unpacked again. Archives are streamed: memory stays flat whatever their size, and the sha256 of the
//! archive is checked in the same pass (zip: in a pass before, since it needs to seek).

mod collector;
mod deb;
mod error;
pub(crate) mod path;
#[cfg(test)]
mod props;
mod tar;
#[cfg(test)]
mod tests;
mod zip;

pub(crate) use collector::{Collector, Kind, Meta};
pub use error::UnpackError;

use crate::digest::{Digest, HashMismatch, VerifyingReader};
use crate::store::BlobStore;
use collector::Take;
use path::is_under;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

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

impl Limits {
    /// For a whole root filesystem (a base image's layers, the appliance's base): room for a
    /// full distribution.
    pub const ROOTFS: Limits = Limits { max_entry_bytes: 2 << 30, max_total_bytes: 16 << 30, max_entries: 500_000 };
}

/// One member taken out of an archive.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// Normalized path inside the archive ([`path::normalize`]: relative, no empty, `.` or `..`
    /// component).
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

impl MemberKind {
    /// What the member is, in words.
    fn describe(&self) -> &'static str {
        match self {
            MemberKind::File { .. } => "file",
            MemberKind::Dir => "directory",
            MemberKind::Symlink { .. } => "symlink",
            MemberKind::Hardlink { .. } => "hard link",
            MemberKind::Device { kind, .. } => kind.describe(),
        }
    }
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

/// Reads the archive at `archive` (its content must hash to `expected`; `name` is how errors
/// name it, e.g. the URL), validates EVERY entry (not only the wanted ones), stores the content of
/// each wanted regular file into `store`, and returns the wanted members keyed by normalized path.
///
/// `wanted` holds normalized paths ([`path::normalize`]); for a .deb, paths inside its
/// data.tar. Every entry's path is normalized before it is matched, so a wanted path present
/// twice, however spelled, is refused ([`UnpackError::Duplicate`]): no copy is "the" member.
/// Only regular files are taken: a wanted directory, symlink or hard link is refused, naming
/// what to select instead. Content of wanted files may reach the store (and a tee) before the archive is
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
/// directory. A path present twice in one archive is refused, and so is an entry under a file
/// or a link (of this archive or an earlier one) or a file or link where this archive put
/// entries under it.
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
        // Through the bounded reader: an archive swapped for a FIFO since it was checked is refused.
        lpbake_rules::read::open(path, u64::MAX)
            .map(lpbake_rules::read::Bounded::into_file)
            .map_err(|e| UnpackError::Open { archive: name.to_string(), path: path.into(), source: e.into_io() })
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
