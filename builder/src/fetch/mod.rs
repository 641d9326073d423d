//! Getting pinned inputs: from the cache, an offline mirror, `file://`, https, or an OCI
//! registry. Every byte is checked against its pin while it is written, and again whenever a
//! blob is read; nothing unverified enters the cache.

mod http;
mod registry;

pub use registry::{ImageRef, INDEX_TYPES, MANIFEST_TYPES};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;
use crate::store::{BlobStore, CommitError};
use std::path::{Path, PathBuf};

/// Where blobs come from, in order: cache, mirror, network (unless offline).
pub struct Fetcher {
    cache: BlobStore,
    mirror: Option<BlobStore>,
    offline: bool,
    report: Reporter,
    rt: tokio::runtime::Runtime,
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
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().at("tokio runtime")?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("lpbake/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| Error::Fetch {
                what: "https client".into(),
                msg: e.to_string(),
                fix: "check the system's TLS setup".into(),
            })?;
        Ok(Fetcher { cache, mirror, offline, report, rt, http })
    }

    pub fn cache(&self) -> &BlobStore {
        &self.cache
    }

    /// A local path holding the bytes pinned as `sha256` for `url`. The path may be in the
    /// mirror; readers verify it (see [`BlobStore::open`]).
    pub fn pinned(&self, url: &str, sha256: Digest) -> Result<PathBuf> {
        if let Some(p) = self.local(&sha256) {
            return Ok(p);
        }
        self.need_network(url)?;
        self.report.step(format!("fetching {url}"));
        self.download(url, Some(sha256))?;
        Ok(self.cache.path(&sha256))
    }

    /// Downloads `url` without a pin (to pin it): its digest and size. The bytes stay cached.
    pub fn unpinned(&self, url: &str) -> Result<(Digest, u64)> {
        self.need_network(url)?;
        self.report.step(format!("fetching {url} (unpinned: will be pinned by its sha256)"));
        self.download(url, None)
    }

    /// Manifest or index `d` of `image`, copied into the cache (from the mirror or the registry).
    pub fn image_manifest(&self, image: &ImageRef, d: Digest) -> Result<PathBuf> {
        self.image_part(image, d, true)
    }

    /// Blob (config or layer) `d` of `image`, copied into the cache.
    pub fn image_blob(&self, image: &ImageRef, d: Digest) -> Result<PathBuf> {
        self.image_part(image, d, false)
    }

    fn image_part(&self, image: &ImageRef, d: Digest, manifest: bool) -> Result<PathBuf> {
        if self.cache.contains(&d) {
            return Ok(self.cache.path(&d));
        }
        if let Some(m) = self.mirror.as_ref().filter(|m| m.contains(&d)) {
            let mut w = self.cache.writer().at(self.cache.root())?;
            let src = m.path(&d);
            std::io::copy(&mut m.open(&d).at(&src)?, &mut w).at(&src)?;
            self.commit(w, Some(d), &src.display().to_string())?;
            return Ok(self.cache.path(&d));
        }
        self.need_network(&image.to_string())?;
        if manifest {
            self.rt.block_on(registry::pull_manifest(image, d, &self.cache))?;
        } else {
            self.rt.block_on(registry::pull_blob(image, d, &self.cache, &self.report))?;
        }
        Ok(self.cache.path(&d))
    }

    /// The digest a tag points at now (for `lpbake lock`).
    pub fn resolve_tag(&self, image: &ImageRef) -> Result<Digest> {
        self.need_network(&image.to_string())?;
        self.rt.block_on(registry::resolve(image))
    }

    fn local(&self, d: &Digest) -> Option<PathBuf> {
        if self.cache.contains(d) {
            return Some(self.cache.path(d));
        }
        self.mirror.as_ref().filter(|m| m.contains(d)).map(|m| m.path(d))
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

    fn download(&self, url: &str, expected: Option<Digest>) -> Result<(Digest, u64)> {
        let w = self.cache.writer().at(self.cache.root())?;
        let w = if let Some(path) = url.strip_prefix("file://") {
            let mut w = w;
            let mut f = std::fs::File::open(path).map_err(|e| Error::Fetch {
                what: url.into(),
                msg: e.to_string(),
                fix: "check the path of the file:// URL".into(),
            })?;
            std::io::copy(&mut f, &mut w).at(path)?;
            w
        } else {
            self.rt.block_on(http::download(&self.http, url, w, &self.report))?
        };
        self.commit(w, expected, url)
    }

    fn commit(&self, w: crate::store::BlobWriter, expected: Option<Digest>, what: &str) -> Result<(Digest, u64)> {
        w.commit(expected).map_err(|e| match e {
            CommitError::Io(e) => Error::io(self.cache.root(), e),
            CommitError::Mismatch(mut m) => {
                m.what = what.to_string();
                Error::Mismatch(m)
            }
        })
    }
}
