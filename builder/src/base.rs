//! Base images pulled by digest (ko / rules_oci model): the manifest (picked from an index for
//! linux/amd64; both read as oci-spec types), the config (kept as JSON, every field of it), and
//! the layer descriptors, which are reused unchanged.

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fetch::{Fetcher, ImageRef};
use crate::oci::media::sha256_of;
use crate::oci::{index, manifest};
use oci_spec::image::{Arch, ImageIndex, Os};
use serde_json::{json, Value};

pub const PLATFORM_OS: &str = "linux";
pub const PLATFORM_ARCH: &str = "amd64";

/// One layer of the base, exactly as its manifest describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseLayer {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// A resolved base image.
#[derive(Clone, Debug)]
pub struct Base {
    /// None for `scratch`.
    pub image: Option<ImageRef>,
    /// The platform manifest's digest (None for scratch).
    pub digest: Option<Digest>,
    pub config: Value,
    pub layers: Vec<BaseLayer>,
}

impl Base {
    pub fn scratch() -> Self {
        Base {
            image: None,
            digest: None,
            config: json!({
                "architecture": PLATFORM_ARCH,
                "os": PLATFORM_OS,
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
            }),
            layers: Vec::new(),
        }
    }

    /// Reads the base `image` pinned at `pinned` (a manifest or an index).
    pub fn load(fetcher: &Fetcher, image: &ImageRef, pinned: Digest) -> Result<Self> {
        let mut digest = pinned;
        let mut bytes = read(fetcher, image, digest, None)?;
        if let Ok(index) = index::parse(&bytes) {
            digest = pick_platform(image, &index)?;
            bytes = read(fetcher, image, digest, None)?;
        }
        let bad = |msg: String| Error::Fetch {
            what: format!("base image {image}@{digest}"),
            msg,
            fix: "pin a single-platform manifest or an index that has linux/amd64".into(),
        };
        let manifest = manifest::parse(&bytes).map_err(|e| bad(format!("not an image manifest: {e}")))?;
        let sha = |d: &oci_spec::image::Descriptor| {
            sha256_of(d.digest()).ok_or_else(|| bad(format!("{} is not a sha256 digest", d.digest())))
        };
        let config_digest = sha(manifest.config())?;
        let config = read(fetcher, image, config_digest, Some(manifest.config().size()))?;
        let config: Value = serde_json::from_slice(&config).map_err(|e| not_json(image, config_digest, e))?;
        let mut layers = Vec::new();
        for l in manifest.layers() {
            layers.push(BaseLayer {
                digest: sha(l)?,
                size: l.size(),
                media_type: oci_layer_type(l.media_type().as_ref()),
            });
        }
        if config["rootfs"]["diff_ids"].as_array().map(Vec::len) != Some(layers.len()) {
            return Err(bad("config diff_ids do not match the manifest's layers".into()));
        }
        Ok(Base { image: Some(image.clone()), digest: Some(digest), config, layers })
    }
}

/// The bytes of a manifest (`blob_size` None) or of a blob of `blob_size` bytes (its pinned size,
/// checked before more is read), from the cache (fetched first if need be).
fn read(fetcher: &Fetcher, image: &ImageRef, d: Digest, blob_size: Option<u64>) -> Result<Vec<u8>> {
    let path = match blob_size {
        None => fetcher.image_manifest(image, d)?,
        Some(size) => fetcher.image_blob(image, d, size)?,
    };
    fetcher.cache().read_small(&d).at(&path)
}

fn not_json(image: &ImageRef, d: Digest, e: serde_json::Error) -> Error {
    Error::Fetch {
        what: format!("{image}@{d}"),
        msg: format!("not a JSON image config: {e}"),
        fix: "the pinned digest must name a manifest or index whose config is JSON".into(),
    }
}

fn pick_platform(image: &ImageRef, index: &ImageIndex) -> Result<Digest> {
    index
        .manifests()
        .iter()
        .find(|m| m.platform().as_ref().is_some_and(|p| *p.os() == Os::Linux && *p.architecture() == Arch::Amd64))
        .and_then(|m| sha256_of(m.digest()))
        .ok_or_else(|| Error::Fetch {
            what: format!("base image {image}"),
            msg: "its index has no linux/amd64 manifest".into(),
            fix: "pick a base image published for linux/amd64".into(),
        })
}

/// Docker media types for the same bytes, renamed to their OCI equivalents.
fn oci_layer_type(t: &str) -> String {
    match t {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        "application/vnd.docker.image.rootfs.diff.tar" => "application/vnd.oci.image.layer.v1.tar".into(),
        other => other.into(),
    }
}
