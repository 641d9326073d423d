//! OCI registries through oci-client: resolve a tag to a digest, and pull manifests and blobs
//! by digest into the cache. Plain http is used only for loopback registries
//! ([`crate::urls::is_loopback_registry`]); a blob is never read past its descriptor's size.

use super::wrong_size;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::report::Reporter;
use crate::store::BlobStore;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::fmt;
use std::io::Write;

/// Media types of single-platform manifests lpbake reads.
pub const MANIFEST_TYPES: [&str; 2] =
    ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"];
/// Media types of multi-platform indexes lpbake reads.
pub const INDEX_TYPES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];

/// An image reference as written in the spec, e.g. `debian:bookworm-slim`.
#[derive(Clone, Debug)]
pub struct ImageRef {
    text: String,
    reference: Reference,
}

impl ImageRef {
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let reference: Reference = text.parse().map_err(|e| format!("`{text}` is not an image reference: {e}"))?;
        Ok(ImageRef { text: text.to_string(), reference })
    }

    fn registry(&self) -> &str {
        self.reference.resolve_registry()
    }

    fn client(&self) -> Client {
        let protocol = if crate::urls::is_loopback_registry(self.registry()) {
            ClientProtocol::HttpsExcept(vec![self.registry().to_string()])
        } else {
            ClientProtocol::Https
        };
        Client::new(ClientConfig { protocol, ..Default::default() })
    }

    fn at(&self, d: Digest) -> Reference {
        self.reference.clone_with_digest(d.to_string())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn fail(image: &ImageRef, e: impl fmt::Display) -> Error {
    Error::Fetch {
        what: format!("image {image}"),
        msg: e.to_string(),
        fix: "check the reference and that the registry is reachable (loopback registries are spoken to over http)"
            .into(),
    }
}

/// The digest `image`'s tag points at.
pub async fn resolve(image: &ImageRef) -> Result<Digest> {
    let d = image
        .client()
        .fetch_manifest_digest(&image.reference, &RegistryAuth::Anonymous)
        .await
        .map_err(|e| fail(image, e))?;
    Digest::parse(&d).ok_or_else(|| fail(image, format!("registry answered a non-sha256 digest {d}")))
}

/// Pulls manifest or index `d` of `image` into `store`, verified.
pub async fn pull_manifest(image: &ImageRef, d: Digest, store: &BlobStore) -> Result<()> {
    let types: Vec<&str> = MANIFEST_TYPES.iter().chain(INDEX_TYPES.iter()).copied().collect();
    let (bytes, _) = image
        .client()
        .pull_manifest_raw(&image.at(d), &RegistryAuth::Anonymous, &types)
        .await
        .map_err(|e| fail(image, e))?;
    let actual = Digest::of(&bytes);
    if actual != d {
        return Err(Error::Mismatch(crate::digest::HashMismatch {
            what: format!("manifest of {image}"),
            expected: d,
            actual,
        }));
    }
    store.put(&bytes).map_err(|e| Error::io(store.root(), e))?;
    Ok(())
}

/// Pulls blob `d` of `image`, `size` bytes by its descriptor, into `store`, verified while it
/// streams; a blob announced or found larger is refused before more is read.
pub async fn pull_blob(image: &ImageRef, d: Digest, size: u64, store: &BlobStore, report: &Reporter) -> Result<()> {
    let client = image.client();
    let reference = image.at(d);
    let digest = d.to_string();
    let what = format!("blob {d} of {image}");
    let sized = client.pull_blob_stream(&reference, digest.as_str()).await.map_err(|e| fail(image, e))?;
    if let Some(announced) = sized.content_length.filter(|&n| n > size) {
        return Err(wrong_size(&what, size, announced));
    }
    let bar = report.bytes(Some(size), format!("{image} {}", &d.hex()[..12]));
    let mut w = store.writer().map_err(|e| Error::io(store.root(), e))?;
    let mut stream = sized.stream;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(image, e))?;
        if w.written() + chunk.len() as u64 > size {
            return Err(wrong_size(&what, size, w.written() + chunk.len() as u64));
        }
        w.write_all(&chunk).map_err(|e| Error::io(store.root(), e))?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if w.written() != size {
        return Err(wrong_size(&what, size, w.written()));
    }
    w.commit(Some(d)).map_err(|e| match e {
        crate::store::CommitError::Io(e) => Error::io(store.root(), e),
        crate::store::CommitError::Mismatch(mut m) => {
            m.what = what;
            Error::Mismatch(m)
        }
    })?;
    Ok(())
}
