//! Getting pinned inputs: from the cache, an offline mirror, `file://`, https (plain http only
//! to loopback: [`crate::urls`] decides), or an OCI registry. A mirror blob and a `file://`
//! source are opened through the one bounded reader ([`lpbake_rules::read`]: a regular file,
//! judged on the opened descriptor, read no further than its pinned size, else than
//! `MAX_INPUT_BYTES` or [`MAX_MANIFEST_BYTES`]). A pinned size is checked before a byte more is
//! read (metadata, Content-Length, descriptor size, a running count), every byte is checked
//! against its pin while it is written, and a cache blob is checked whole before it is used: a
//! damaged one is dropped, with a warning naming it, and fetched again. Nothing unverified
//! enters the cache.

mod http;
mod registry;

pub use registry::{ImageRef, INDEX_TYPES, MANIFEST_TYPES};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::lock::FilePin;
use crate::report::Reporter;
use crate::store::{BlobStore, BlobWriter, CommitError};
use crate::urls::{self, Transport};
use lpbake_rules::read::{self, Bounded, ReadError};
use std::path::{Path, PathBuf};

/// Largest input read whose pin gives no size (a `file://` source being pinned, or a mirror blob
/// pinned by its sha256 alone): room for a root filesystem tarball, the largest input there is.
const MAX_INPUT_BYTES: u64 = 16 << 30;
/// Largest image manifest or index read from a mirror or a build output (the OCI distribution
/// spec lets registries refuse manifests over 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// Where blobs come from, in order: cache, mirror, network (unless offline).
pub struct Fetcher {
    cache: BlobStore,
    mirror: Option<BlobStore>,
    offline: bool,
    report: Reporter,
    http: reqwest::Client,
}

impl Fetcher {
    pub fn new(cache: BlobStore, mirror: Option<&Path>, offline: bool, report: Reporter) -> Result<Self> {
        let mirror = mirror
            .map(|m| {
                BlobStore::existing(m).map_err(|e| Error::Fetch {
                    what: format!("mirror {}", m.display()),
                    msg: e.to_string(),
                    fix: "point --mirror at a directory holding blobs/sha256/<hex> (e.g. target/fixtures/mirror after `make fixtures`)".into(),
                })
            })
            .transpose()?;
        let http = http::client()?;
        Ok(Fetcher { cache, mirror, offline, report, http })
    }

    pub fn cache(&self) -> &BlobStore {
        &self.cache
    }

    /// A local path holding the bytes pinned by `pin` for `url`. The path may be in the mirror
    /// (judged by the bounded reader: a regular file of the pinned size; its content verified by
    /// whoever reads it, see [`BlobStore::open`]).
    pub fn pinned(&self, url: &str, pin: FilePin) -> Result<PathBuf> {
        if let Some(p) = self.cached(&pin.sha256, pin.size) {
            return Ok(p);
        }
        if let Some(blob) = self.in_mirror(&pin.sha256, pin.size, MAX_INPUT_BYTES)? {
            return Ok(blob.path().to_path_buf());
        }
        self.need_network(url)?;
        self.report.step(format!("fetching {url}"));
        self.download(url, Some(pin))?;
        Ok(self.cache.path(&pin.sha256))
    }

    /// Downloads `url` without a pin (to pin it): its digest and size. The bytes stay cached.
    pub fn unpinned(&self, url: &str) -> Result<(Digest, u64)> {
        self.need_network(url)?;
        self.report.step(format!("fetching {url} (unpinned: will be pinned by its sha256)"));
        self.download(url, None)
    }

    /// Manifest or index `d` of `image`, copied into the cache (from the mirror or the registry).
    pub fn image_manifest(&self, image: &ImageRef, d: Digest) -> Result<PathBuf> {
        self.image_part(image, d, None)
    }

    /// Blob (config or layer) `d` of `image`, `size` bytes as its descriptor says, copied into
    /// the cache.
    pub fn image_blob(&self, image: &ImageRef, d: Digest, size: u64) -> Result<PathBuf> {
        self.image_part(image, d, Some(size))
    }

    /// A manifest when `size` is None (pulled as a manifest), else a blob.
    fn image_part(&self, image: &ImageRef, d: Digest, size: Option<u64>) -> Result<PathBuf> {
        if let Some(p) = self.cached(&d, size) {
            return Ok(p);
        }
        if let Some(mut blob) = self.in_mirror(&d, size, MAX_MANIFEST_BYTES)? {
            let src = blob.path().to_path_buf();
            let mut w = self.cache.writer().at(self.cache.root())?;
            std::io::copy(&mut blob, &mut w).at(&src)?;
            // Committed only if it is `d`: a mismatch names the mirror file.
            self.commit(w, Some(d), size, &src.display().to_string())?;
            return Ok(self.cache.path(&d));
        }
        self.need_network(&image.to_string())?;
        match size {
            None => crate::runtime::block_on(registry::pull_manifest(image, d, &self.cache))??,
            Some(size) => crate::runtime::block_on(registry::pull_blob(image, d, size, &self.cache, &self.report))??,
        }
        Ok(self.cache.path(&d))
    }

    /// The digest a tag points at now (for `lpbake lock`).
    pub fn resolve_tag(&self, image: &ImageRef) -> Result<Digest> {
        self.need_network(&image.to_string())?;
        crate::runtime::block_on(registry::resolve(image))?
    }

    /// Blob `d` of the cache, checked whole (size, then sha256) before it is used. A damaged one
    /// is removed, with a warning naming it, so that it is fetched again.
    fn cached(&self, d: &Digest, size: Option<u64>) -> Option<PathBuf> {
        let path = self.cache.path(d);
        let damage = match self.cache.check(d, size) {
            Ok(None) => return Some(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Ok(Some(damage)) => damage.to_string(),
            Err(e) => e.to_string(),
        };
        self.report.warn(format!("{}: damaged cache blob ({damage}); removed it, fetching {d} again", path.display()));
        // If it cannot be removed, committing the fresh copy over it says why.
        let _ = std::fs::remove_file(&path);
        None
    }

    /// Blob `d` of the mirror, if there, opened through the bounded reader (at most its pinned
    /// `size`, else `unsized_max`). The mirror is not lpbake's to repair: anything but a regular
    /// file of the pinned size is an error, found on the opened file without reading it.
    fn in_mirror(&self, d: &Digest, size: Option<u64>, unsized_max: u64) -> Result<Option<Bounded>> {
        let Some(mirror) = &self.mirror else { return Ok(None) };
        let path = mirror.path(d);
        match read::open(&path, size.unwrap_or(unsized_max)) {
            Ok(blob) => match size {
                Some(expected) if expected != blob.size() => {
                    Err(wrong_size(&path.display().to_string(), expected, blob.size()))
                }
                _ => Ok(Some(blob)),
            },
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(refused(e, &path.display().to_string(), size)),
        }
    }

    fn need_network(&self, what: &str) -> Result<()> {
        if self.offline {
            let fix = match &self.mirror {
                Some(m) => format!("add the blob to {}/blobs/sha256/, or run without --offline", m.root().display()),
                None => "run without --offline once to fill the cache, or pass --mirror DIR".into(),
            };
            return Err(Error::Fetch {
                what: what.into(),
                msg: "not in the cache or mirror, and --offline forbids the network".into(),
                fix,
            });
        }
        Ok(())
    }

    fn download(&self, url: &str, pin: Option<FilePin>) -> Result<(Digest, u64)> {
        let (parsed, transport) =
            urls::source(url).map_err(|r| Error::Fetch { what: urls::shown(url), msg: r.msg, fix: r.fix })?;
        let limit = pin.and_then(|p| p.size);
        let mut w = self.cache.writer().at(self.cache.root())?;
        match transport {
            Transport::File => {
                let path = parsed.to_file_path().map_err(|()| Error::Fetch {
                    what: url.into(),
                    msg: "not a local absolute path".into(),
                    fix: "write file:///absolute/path".into(),
                })?;
                let mut f = read::open(&path, limit.unwrap_or(MAX_INPUT_BYTES)).map_err(|e| match e {
                    ReadError::Io { source, .. } => Error::Fetch {
                        what: url.into(),
                        msg: source.to_string(),
                        fix: "check the path of the file:// URL".into(),
                    },
                    e => refused(e, url, limit),
                })?;
                std::io::copy(&mut f, &mut w).at(&path)?;
            }
            Transport::Https | Transport::LoopbackHttp => {
                w = crate::runtime::block_on(http::download(&self.http, &parsed, w, limit, &self.report))??;
            }
        }
        self.commit(w, pin.map(|p| p.sha256), limit, url)
    }

    /// Commits `w` if it holds `size` bytes (when known) hashing to `expected` (when known).
    fn commit(&self, w: BlobWriter, expected: Option<Digest>, size: Option<u64>, what: &str) -> Result<(Digest, u64)> {
        if let Some(size) = size.filter(|&s| s != w.written()) {
            return Err(wrong_size(what, size, w.written()));
        }
        w.commit(expected).map_err(|e| match e {
            CommitError::Io(e) => Error::io(self.cache.root(), e),
            CommitError::Mismatch(mut m) => {
                m.what = what.to_string();
                Error::Mismatch(m)
            }
        })
    }
}

/// The bounded reader's refusal of `what` (a URL or file): larger than its `pin`ned size is the
/// pin's [`wrong_size`] (with the re-pin fix), anything else the reader's own error.
fn refused(e: ReadError, what: &str, pin: Option<u64>) -> Error {
    match (e, pin) {
        (ReadError::TooLarge { size, .. }, Some(expected)) => wrong_size(what, expected, size),
        (e, _) => e.into(),
    }
}

/// `what` (a URL or file) is `actual` bytes (at least), not the `expected` its pin says.
fn wrong_size(what: &str, expected: u64, actual: u64) -> Error {
    Error::Fetch {
        what: what.into(),
        msg: format!("{actual} bytes where the pin says {expected} bytes"),
        fix: "if the upstream file really changed, re-pin it with `lpbake lock --update`; otherwise replace or delete the bad copy (mirror or cache) and fetch it again".into(),
    }
}
