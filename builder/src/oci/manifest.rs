//! Manifests lpbake writes: an image's OCI manifest (base layers, then ours), the artifact
//! manifest that makes an SBOM a referrer of its image, and the `manifest.json` of a
//! docker-archive. All canonical JSON.

use crate::base::Base;
use crate::digest::Digest;
use crate::oci::canonical::to_vec;
use crate::oci::config::LayerRef;
use crate::oci::media::{self, annotated, descriptor};
use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};
use serde::Serialize;

fn build(b: ImageManifestBuilder) -> Vec<u8> {
    to_vec(&b.schema_version(2u32).media_type(MediaType::ImageManifest).build().expect("every field is set"))
}

/// The image manifest (canonical bytes) for a config and the full layer list.
pub fn image(config: &[u8], base: &Base, layers: &[LayerRef]) -> Vec<u8> {
    let mut descs: Vec<Descriptor> = base.layers.iter().map(|l| descriptor(&l.media_type, l.digest, l.size)).collect();
    descs.extend(layers.iter().map(|l| descriptor(&l.media_type, l.digest, l.size)));
    build(
        ImageManifestBuilder::default()
            .config(descriptor(media::CONFIG, Digest::of(config), config.len() as u64))
            .layers(descs),
    )
}

/// The OCI 1.1 artifact manifest of image `name`'s SBOM (`sbom`, `size` bytes): config = the
/// empty blob, one layer = the SBOM, `subject` = the image manifest.
pub fn sbom_referrer(name: &str, subject: Descriptor, sbom: Digest, size: u64) -> Vec<u8> {
    let title = format!("{name}.spdx.json");
    let layer = annotated(media::SPDX, sbom, size, &[("org.opencontainers.image.title", &title)]);
    build(
        ImageManifestBuilder::default()
            .artifact_type(MediaType::from(media::SPDX))
            .config(descriptor(media::EMPTY, Digest::of(media::EMPTY_BLOB), media::EMPTY_BLOB.len() as u64))
            .layers(vec![layer])
            .subject(subject),
    )
}

/// Parses an image manifest.
pub fn parse(bytes: &[u8]) -> Result<ImageManifest, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// One entry of a docker-archive's `manifest.json`, the file `docker load` reads.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry<'a> {
    config: String,
    repo_tags: &'a [String],
    layers: Vec<String>,
}

/// The `manifest.json` of a docker-archive holding the config and layers as `blobs/sha256/<hex>`.
pub fn docker_archive(config: Digest, tags: &[String], layers: &[Digest]) -> Vec<u8> {
    let path = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    to_vec(&[DockerArchiveEntry { config: path(&config), repo_tags: tags, layers: layers.iter().map(path).collect() }])
}
