//! Base images pulled by digest (ko / rules_oci model): the manifest (picked from an index for
//! linux/amd64; both read as oci-spec types), the config (kept as JSON, every field of it), and
//! the layer descriptors, which are reused unchanged; and the tree those layers give, so that a
//! component replaces what its base provides only where its spec says so.

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fetch::{Fetcher, ImageRef};
use crate::oci::media::sha256_of;
use crate::oci::{index, manifest};
use crate::stage::Tree;
use crate::store::BlobStore;
use crate::unpack::{self, Format, Limits, Specials};
use oci_spec::image::{Arch, ImageIndex, Os};
use serde_json::{json, Value};
use std::collections::BTreeMap;

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

    /// The base's file system (paths relative to `/`, normalized, with their kinds, modes and
    /// owners), read from its layers in `store` (each must be there, e.g. fetched by the build)
    /// with the unpack rules of a whole tree: OCI whiteouts applied, bounded by
    /// [`Limits::ROOTFS`]. Empty for scratch.
    pub fn tree(&self, store: &BlobStore) -> Result<Tree> {
        let Some(image) = &self.image else { return Ok(Tree::default()) };
        let everywhere = Specials { under: vec![String::new()] };
        let mut tree = BTreeMap::new();
        for l in &self.layers {
            let name = format!("base image {image} layer {}", l.digest);
            let format = layer_format(&l.media_type).ok_or_else(|| Error::Fetch {
                what: name.clone(),
                msg: format!("layers of media type `{}` cannot be read", l.media_type),
                fix: "pick a base image whose layers are tar, tar+gzip or tar+zstd".into(),
            })?;
            let path = store.path(&l.digest);
            tree = unpack::unpack_tree(&path, l.digest, &name, format, &Limits::ROOTFS, &everywhere, store, tree)?;
        }
        Ok(Tree::from_members(&tree))
    }
}

/// The archive format of an OCI (or Docker, foreign or non-distributable) layer media type.
fn layer_format(media_type: &str) -> Option<Format> {
    const SUFFIXES: [(&str, Format); 4] =
        [(".tar", Format::Tar), ("tar+gzip", Format::TarGz), ("tar.gzip", Format::TarGz), ("tar+zstd", Format::TarZst)];
    SUFFIXES.iter().find(|(suffix, _)| media_type.ends_with(suffix)).map(|&(_, f)| f)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer tar of (path as written, type, content): names written raw, as a registry may
    /// serve them.
    fn layer(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, ty, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_entry_type(*ty);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// A base of `layers` (bytes, media type), put into `store`.
    fn base_of(store: &BlobStore, layers: &[(Vec<u8>, &str)]) -> Base {
        let layers = layers
            .iter()
            .map(|(bytes, media_type)| BaseLayer {
                digest: store.put(bytes).unwrap(),
                size: bytes.len() as u64,
                media_type: media_type.to_string(),
            })
            .collect();
        Base { image: Some(ImageRef::parse("registry.example/base:1").unwrap()), layers, ..Base::scratch() }
    }

    #[test]
    fn the_tree_is_the_layers_merged_with_whiteouts() {
        use tar::EntryType::{Directory as D, Regular as F};
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::create(dir.path()).unwrap();
        let lower = layer(&[
            ("./", D, b""),
            ("./etc/", D, b""),
            ("./etc/passwd", F, b"root:x:0:0::/root:/bin/sh\n"),
            ("./etc/shadow", F, b"root:*:"),
            ("./opt/", D, b""),
            ("./opt/old", F, b"old"),
            ("./usr/", D, b""),
            ("./usr/bin/", D, b""),
            ("./usr/bin/sh", F, b"elf"),
        ]);
        let upper = layer(&[
            ("etc/.wh.shadow", F, b""),
            ("opt/.wh..wh..opq", F, b""),
            ("opt/new", F, b"new"),
            ("usr//bin/./ls", F, b"elf2"),
        ]);
        let base = base_of(
            &store,
            &[
                (gzip(&lower), "application/vnd.oci.image.layer.v1.tar+gzip"),
                (upper, "application/vnd.oci.image.layer.v1.tar"),
            ],
        );
        let tree = base.tree(&store).unwrap();
        assert_eq!(
            tree.entries.keys().map(String::as_str).collect::<Vec<_>>(),
            ["etc", "etc/passwd", "opt", "opt/new", "usr", "usr/bin", "usr/bin/ls", "usr/bin/sh"]
        );
        assert!(Base::scratch().tree(&store).unwrap().is_empty());
    }

    #[test]
    fn layers_of_an_unknown_media_type_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::create(dir.path()).unwrap();
        let base = base_of(&store, &[(b"x".to_vec(), "application/vnd.example.layer.v1.squashfs")]);
        let err = base.tree(&store).unwrap_err().to_string();
        assert!(err.contains("squashfs") && err.contains("base image registry.example/base:1"), "{err}");
        assert_eq!(layer_format("application/vnd.docker.image.rootfs.diff.tar.gzip"), Some(Format::TarGz));
        assert_eq!(layer_format("application/vnd.oci.image.layer.v1.tar+zstd"), Some(Format::TarZst));
    }
}
