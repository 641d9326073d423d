//! Base images pulled by digest (ko / rules_oci model): the manifest (picked from an index for
//! linux/amd64), the config, and the layer descriptors, which are reused unchanged.

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fetch::{Fetcher, ImageRef, INDEX_TYPES};
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
        let mut manifest = read_json(fetcher, image, digest, None)?;
        if is_index(&manifest) {
            digest = pick_platform(image, &manifest)?;
            manifest = read_json(fetcher, image, digest, None)?;
        }
        let bad = |msg: &str| Error::Fetch {
            what: format!("base image {image}@{digest}"),
            msg: msg.into(),
            fix: "pin a single-platform manifest or an index that has linux/amd64".into(),
        };
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .and_then(Digest::parse)
            .ok_or_else(|| bad("manifest has no config digest"))?;
        let config_size = manifest["config"]["size"].as_u64().ok_or_else(|| bad("manifest has no config size"))?;
        let config = read_json(fetcher, image, config_digest, Some(config_size))?;
        let mut layers = Vec::new();
        for l in manifest["layers"].as_array().ok_or_else(|| bad("manifest has no layers"))? {
            layers.push(BaseLayer {
                digest: l["digest"]
                    .as_str()
                    .and_then(Digest::parse)
                    .ok_or_else(|| bad("layer without a sha256 digest"))?,
                size: l["size"].as_u64().ok_or_else(|| bad("layer without a size"))?,
                media_type: oci_layer_type(l["mediaType"].as_str().unwrap_or_default()),
            });
        }
        if config["rootfs"]["diff_ids"].as_array().map(Vec::len) != Some(layers.len()) {
            return Err(bad("config diff_ids do not match the manifest's layers"));
        }
        Ok(Base { image: Some(image.clone()), digest: Some(digest), config, layers })
    }
}

/// A manifest (`blob_size` None) or a config blob of `blob_size` bytes, as JSON.
fn read_json(fetcher: &Fetcher, image: &ImageRef, d: Digest, blob_size: Option<u64>) -> Result<Value> {
    let path = match blob_size {
        None => fetcher.image_manifest(image, d)?,
        Some(size) => fetcher.image_blob(image, d, size)?,
    };
    let bytes = fetcher.cache().read_small(&d).at(&path)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Fetch {
        what: format!("{image}@{d}"),
        msg: format!("not JSON: {e}"),
        fix: "the pinned digest must name a manifest, index or config".into(),
    })
}

fn is_index(v: &Value) -> bool {
    v["manifests"].is_array() || v["mediaType"].as_str().is_some_and(|m| INDEX_TYPES.contains(&m))
}

fn pick_platform(image: &ImageRef, index: &Value) -> Result<Digest> {
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["platform"]["os"] == PLATFORM_OS && m["platform"]["architecture"] == PLATFORM_ARCH)
        .and_then(|m| m["digest"].as_str().and_then(Digest::parse))
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
