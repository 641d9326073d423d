//! Media types lpbake writes, and descriptors (oci-spec's) built from lpbake's own digests.

use crate::digest::Digest;
use oci_spec::image::{Descriptor, MediaType};
use std::collections::HashMap;

pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The empty JSON blob `{}`: the config of artifact manifests.
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_BLOB: &[u8] = b"{}";
/// An SPDX 2.3 JSON document.
pub const SPDX: &str = "application/spdx+json";

/// The descriptor of a blob: media type, digest and size, nothing else.
pub fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, oci_digest(digest))
}

/// The same descriptor with annotations.
pub fn annotated(media_type: &str, digest: Digest, size: u64, annotations: &[(&str, &str)]) -> Descriptor {
    let mut d = descriptor(media_type, digest, size);
    let map: HashMap<String, String> = annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    d.set_annotations(Some(map));
    d
}

/// lpbake's digest as oci-spec's.
pub fn oci_digest(d: Digest) -> oci_spec::image::Digest {
    d.to_string().parse().expect("a sha256 digest is an OCI digest")
}

/// oci-spec's digest as lpbake's; None unless it is a sha256 digest.
pub fn sha256_of(d: &oci_spec::image::Digest) -> Option<Digest> {
    // `algorithm:hex`: only a sha256 one is 64 hex characters after a `sha256:` prefix.
    Digest::parse(d.as_ref())
}
