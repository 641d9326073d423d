//! The output files of one image: `oci/<name>/` (OCI image layout), `<name>.oci.tar` (the same
//! layout as one archive), `<name>.docker.tar` (plus `manifest.json`, for `docker load`) and
//! `<name>.spdx.json` (its SBOM). [`files`] is the one list of them, derived from the image's
//! entry in `images.json`; [`write_image`] writes exactly those and returns their records for the
//! output's contents list.

use super::contents::FileRecord;
use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::fsutil::{copy_file, write_atomic};
use crate::layer::write_tar;
use crate::oci::summary::ImageSummary;
use crate::oci::{index, manifest};
use crate::stage::{Content, Entry, Tree};
use crate::store::BlobStore;
use std::io::BufWriter;
use std::path::Path;

/// Every file image `name` (whose `images.json` entry is `s`) puts in the output directory, by
/// relative path: its layout's index, marker and blobs, its two archives and its SBOM.
pub fn files(name: &str, s: &ImageSummary) -> Vec<String> {
    let mut blobs: Vec<&Digest> = [&s.manifest, &s.config].into_iter().chain(&s.layers).collect();
    blobs.sort();
    blobs.dedup();
    let layout = format!("oci/{name}");
    let mut out = vec![format!("{layout}/index.json"), format!("{layout}/oci-layout")];
    out.extend(blobs.iter().map(|d| format!("{layout}/blobs/sha256/{}", d.hex())));
    out.extend([format!("{name}.oci.tar"), format!("{name}.docker.tar"), format!("{name}.spdx.json")]);
    out
}

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
    pub fn summary(&self) -> ImageSummary {
        ImageSummary {
            manifest: Digest::of(&self.manifest),
            config: Digest::of(&self.config),
            layers: self.layers.iter().map(|(d, _)| *d).collect(),
            sbom: Digest::of(&self.sbom),
            tags: self.tags.clone(),
        }
    }

    /// The files this image puts in the output directory.
    pub fn files(&self) -> Vec<String> {
        files(&self.name, &self.summary())
    }

    fn blobs(&self, store: &BlobStore) -> Result<Vec<(Digest, u64)>> {
        let m = store.put(&self.manifest).at(store.root())?;
        let c = store.put(&self.config).at(store.root())?;
        let mut all = vec![(m, self.manifest.len() as u64), (c, self.config.len() as u64)];
        all.extend(self.layers.iter().copied());
        Ok(all)
    }
}

/// Writes all outputs of `b` under `dir` (exactly [`files`] of its summary); returns the record
/// of each, by relative path.
pub fn write_image(dir: &Path, b: &Built, store: &BlobStore, epoch: u64) -> Result<Vec<(String, FileRecord)>> {
    let mut written = Vec::new();
    let mut put_file = |rel: String, bytes: &[u8]| -> Result<()> {
        write_atomic(&dir.join(&rel), bytes)?;
        written.push((rel, FileRecord::of(bytes)));
        Ok(())
    };
    put_file(format!("{}.spdx.json", b.name), &b.sbom)?;
    let blobs = b.blobs(store)?;
    let index = index::layout(&b.manifest, &b.version);
    let header = index::layout_header();

    // The layout directory: blobs copied from the cache (never linked: an output is the
    // user's to change, the cache is not), reflinked where the filesystem can.
    let layout = format!("oci/{}", b.name);
    put_file(format!("{layout}/index.json"), &index)?;
    put_file(format!("{layout}/oci-layout"), &header)?;
    for (d, size) in &blobs {
        let rel = format!("{layout}/blobs/sha256/{}", d.hex());
        copy_file(&store.path(d), &dir.join(&rel))?;
        written.push((rel, FileRecord { sha256: *d, size: *size }));
    }

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
    put(&mut tree, "oci-layout", &header)?;
    let oci_tar = format!("{}.oci.tar", b.name);
    written.push((oci_tar.clone(), write_archive(&dir.join(&oci_tar), &tree, store, epoch)?));

    let layers: Vec<Digest> = b.layers.iter().map(|(d, _)| *d).collect();
    put(&mut tree, "manifest.json", &manifest::docker_archive(Digest::of(&b.config), &b.tags, &layers))?;
    let docker_tar = format!("{}.docker.tar", b.name);
    written.push((docker_tar.clone(), write_archive(&dir.join(&docker_tar), &tree, store, epoch)?));
    Ok(written)
}

/// Writes `tree` as a tar at `path`; its record (the tar's sha256, taken as it is written).
fn write_archive(path: &Path, tree: &Tree, store: &BlobStore, epoch: u64) -> Result<FileRecord> {
    let f = std::fs::File::create(path).at(path)?;
    let (w, sha256) = write_tar(tree, epoch, store, BufWriter::with_capacity(1 << 20, f))?;
    let f = w.into_inner().map_err(|e| e.into_error()).at(path)?;
    let size = f.metadata().at(path)?.len();
    Ok(FileRecord { sha256, size })
}
