//! The typed OCI model lpbake writes and reads: media types and descriptors, the image manifest
//! and index (oci-spec's types), the image config (the base's JSON with our settings applied),
//! the SPDX SBOM, and `images.json`, the summary of a build output shared by its writer and every
//! reader. Everything is serialized as canonical JSON, so digests are stable.

pub mod canonical;
pub mod config;
pub mod index;
pub mod manifest;
pub mod media;
pub mod sbom;
pub mod summary;

#[cfg(test)]
mod golden;
