//! Build outputs of one image: `oci/<name>/` (OCI image layout), `<name>.oci.tar` (the same
//! layout as one archive), `<name>.docker.tar` (plus `manifest.json`, for `docker load`) and
//! `<name>.spdx.json` (its SBOM); and `images.json`, the summary of every image's digests.

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::fsutil::{link_or_copy, write_atomic};
use crate::image::MANIFEST_TYPE;
use crate::json::canonical;
use crate::layer::write_tar;
use crate::stage::{Content, Entry, Tree};
use crate::store::BlobStore;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::Path;

pub const SUMMARY: &str = "images.json";

/// A fully planned image: every blob it needs is in the cache store.
#[derive(Clone, Debug)]
pub struct Built {
    pub name: String,
    pub version: String,
    pub tags: Vec<String>,
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    /// SPDX SBOM (written beside the image, pushed as its referrer).
    pub sbom: Vec<u8>,
    /// Layer blobs in manifest order, with their sizes.
    pub layers: Vec<(Digest, u64)>,
}

impl Built {
    /// This image's entry in `images.json`.
    pub fn summary(&self) -> Value {
        json!({
            "manifest": Digest::of(&self.manifest).to_string(),
            "config": Digest::of(&self.config).to_string(),
            "layers": self.layers.iter().map(|(d, _)| d.to_string()).collect::<Vec<_>>(),
            "sbom": Digest::of(&self.sbom).to_string(),
            "tags": self.tags,
        })
    }

    /// The files this image puts in the output directory.
    pub fn files(&self) -> [String; 4] {
        [
            format!("oci/{}", self.name),
            format!("{}.oci.tar", self.name),
            format!("{}.docker.tar", self.name),
            format!("{}.spdx.json", self.name),
        ]
    }

    fn blobs(&self, store: &BlobStore) -> Result<Vec<(Digest, u64)>> {
        let m = store.put(&self.manifest).at(store.root())?;
        let c = store.put(&self.config).at(store.root())?;
        let mut all = vec![(m, self.manifest.len() as u64), (c, self.config.len() as u64)];
        all.extend(self.layers.iter().copied());
        Ok(all)
    }

    fn index(&self) -> Vec<u8> {
        canonical(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": MANIFEST_TYPE,
                "digest": Digest::of(&self.manifest).to_string(),
                "size": self.manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": self.version},
            }],
        }))
    }
}

const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes all outputs of `b` under `dir`.
pub fn write_image(dir: &Path, b: &Built, store: &BlobStore, epoch: u64) -> Result<()> {
    write_atomic(&dir.join(format!("{}.spdx.json", b.name)), &b.sbom)?;
    let blobs = b.blobs(store)?;
    let index = b.index();

    // The layout directory: blobs hard-linked from the cache (they are verified on every read).
    let layout = dir.join("oci").join(&b.name);
    for (d, _) in &blobs {
        link_or_copy(&store.path(d), &layout.join("blobs/sha256").join(d.hex()))?;
    }
    write_atomic(&layout.join("index.json"), &index)?;
    write_atomic(&layout.join("oci-layout"), LAYOUT)?;

    // The archives: the same files as a tar, and for docker also manifest.json.
    let mut tree = Tree::default();
    let file = |blob: Digest, size: u64| Entry::new(0o644, 0, 0, Content::File { blob, size });
    for (d, size) in &blobs {
        tree.add(&format!("blobs/sha256/{}", d.hex()), file(*d, *size));
    }
    let put = |tree: &mut Tree, name: &str, bytes: &[u8]| -> Result<()> {
        let d = store.put(bytes).at(store.root())?;
        tree.add(name, file(d, bytes.len() as u64));
        Ok(())
    };
    put(&mut tree, "index.json", &index)?;
    put(&mut tree, "oci-layout", LAYOUT)?;
    write_archive(&dir.join(format!("{}.oci.tar", b.name)), &tree, store, epoch)?;

    let docker_manifest = canonical(&json!([{
        "Config": format!("blobs/sha256/{}", Digest::of(&b.config).hex()),
        "RepoTags": b.tags,
        "Layers": b.layers.iter().map(|(d, _)| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
    }]));
    put(&mut tree, "manifest.json", &docker_manifest)?;
    write_archive(&dir.join(format!("{}.docker.tar", b.name)), &tree, store, epoch)
}

fn write_archive(path: &Path, tree: &Tree, store: &BlobStore, epoch: u64) -> Result<()> {
    let f = std::fs::File::create(path).at(path)?;
    let (w, _) = write_tar(tree, epoch, store, BufWriter::with_capacity(1 << 20, f))?;
    w.into_inner().map_err(|e| e.into_error()).at(path)?;
    Ok(())
}

/// `images.json`: image name -> its summary, canonical JSON and a final newline.
pub fn write_summary(dir: &Path, images: &BTreeMap<String, Value>) -> Result<()> {
    let mut bytes = canonical(&json!(images));
    bytes.push(b'\n');
    write_atomic(&dir.join(SUMMARY), &bytes)
}

/// The summary of a previous build in `dir`, if any.
pub fn read_summary(dir: &Path) -> BTreeMap<String, Value> {
    std::fs::read(dir.join(SUMMARY)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}
