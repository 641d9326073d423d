//! OCI image indexes lpbake writes: the `index.json` of an image layout (its one manifest, named
//! by version), the referrers tag-schema index of a registry push, and the layout header.

use crate::digest::Digest;
use crate::oci::canonical::to_vec;
use crate::oci::media::{self, annotated};
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType, OciLayoutBuilder};

/// An index listing `manifests` (as the referrers tag-schema fallback of a registry is).
pub fn listing(manifests: Vec<Descriptor>) -> Vec<u8> {
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .expect("every field is set");
    to_vec(&index)
}

/// The `index.json` of a layout holding one image manifest, named `ref_name`.
pub fn layout(manifest: &[u8], ref_name: &str) -> Vec<u8> {
    let m = annotated(
        media::MANIFEST,
        Digest::of(manifest),
        manifest.len() as u64,
        &[("org.opencontainers.image.ref.name", ref_name)],
    );
    listing(vec![m])
}

/// Parses an image index.
pub fn parse(bytes: &[u8]) -> Result<ImageIndex, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// The `oci-layout` file of an image layout.
pub fn layout_header() -> Vec<u8> {
    to_vec(&OciLayoutBuilder::default().image_layout_version("1.0.0").build().expect("every field is set"))
}
