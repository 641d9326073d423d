//! Reading a build output as the sinks need it: its summary (`images.json`), each image's
//! docker-archive, its SBOM (checked against the digest in `images.json`) and its OCI layout
//! (index, manifest and blob files, checked against `images.json` too). The files opened here
//! go through the one bounded reader ([`lpbake_rules::read`]): regular files only, each within
//! its bound.

use crate::digest::{Digest, VerifyingReader};
use crate::error::{Error, IoContext, Result};
use crate::fetch::{MANIFEST_TYPES, MAX_MANIFEST_BYTES};
use crate::oci::media::{self, sha256_of};
use crate::oci::summary::{self, ImageSummary, Summary};
use crate::oci::{index, manifest};
use lpbake_rules::read::{self, Bounded};
use oci_spec::image::Descriptor;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest SBOM read: one package per pinned input, a few KiB each.
const MAX_SBOM_BYTES: u64 = 16 << 20;
/// Largest docker-archive loaded: an image's layers, each from inputs of at most
/// `fetch::MAX_INPUT_BYTES`.
const MAX_ARCHIVE_BYTES: u64 = 64 << 30;

/// A build output directory and its summary.
pub struct Layout {
    pub dir: PathBuf,
    pub summary: Summary,
}

/// A blob of an image, as a file of the output.
#[derive(Clone, Debug)]
pub struct BlobFile {
    pub digest: Digest,
    pub size: u64,
    pub path: PathBuf,
}

/// One image of the output, as its OCI layout and `images.json` describe it.
pub struct Image {
    pub name: String,
    /// The manifest's exact bytes (verified against its digest).
    pub manifest: Vec<u8>,
    /// The manifest's descriptor: media type, digest, size.
    pub subject: Descriptor,
    /// The tags of `images.json` (`lpbake/<image>:<version>`, `:latest`).
    pub tags: Vec<String>,
    /// Config and layers, once each (the files are verified when read, not here).
    pub blobs: Vec<BlobFile>,
    pub sbom: BlobFile,
}

impl Layout {
    /// The output in `dir`; an error when there is none.
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Layout { dir: dir.to_path_buf(), summary: Summary::require(dir)? })
    }

    /// The named images (all when none are named), each known to `images.json`.
    pub fn select(&self, wanted: &[String]) -> Result<Vec<(String, &ImageSummary)>> {
        self.summary.select(&self.dir, wanted)
    }

    /// The docker-archive of image `name`, opened (read it to its [`Bounded::size`]).
    pub fn docker_archive(&self, name: &str) -> Result<Bounded> {
        let path = self.dir.join(format!("{name}.docker.tar"));
        match read::open(&path, MAX_ARCHIVE_BYTES) {
            Err(e) if e.is_not_found() => Err(Error::Output(format!(
                "{}: missing, though {} lists `{name}`\n  fix: rebuild it (`lpbake build --out {}`)",
                path.display(),
                summary::FILE,
                self.dir.display()
            ))),
            opened => opened.map_err(Error::from),
        }
    }

    fn sbom_file(&self, name: &str, s: &ImageSummary) -> Result<BlobFile> {
        let path = self.dir.join(format!("{name}.spdx.json"));
        let size = read::open(&path, MAX_SBOM_BYTES)?.size();
        Ok(BlobFile { digest: s.sbom, size, path })
    }

    /// The SBOM of image `name`, verified against the digest in `images.json`.
    pub fn sbom(&self, name: &str) -> Result<Vec<u8>> {
        let (_, s) = self.select(&[name.to_string()])?.remove(0);
        let file = self.sbom_file(name, s)?;
        read_verified(&file)
    }

    /// Image `name` from its OCI layout, checked against `images.json`.
    pub fn image(&self, name: &str) -> Result<Image> {
        let (_, s) = self.select(&[name.to_string()])?.remove(0);
        let rebuild = || format!("rebuild it: `lpbake build --out {}`", self.dir.display());
        let bad = |file: &Path, msg: String| Error::config(file, None, msg, rebuild());

        let layout = self.dir.join("oci").join(name);
        let index_path = layout.join("index.json");
        let index = index::parse(&read::bytes(&index_path, MAX_MANIFEST_BYTES)?)
            .map_err(|e| bad(&index_path, format!("not an OCI index: {e}")))?;
        let [listed] = <[Descriptor; 1]>::try_from(index.manifests().clone())
            .map_err(|m| bad(&index_path, format!("lists {} manifests, expected exactly one", m.len())))?;
        let media_type = listed.media_type().to_string();
        if !MANIFEST_TYPES.contains(&media_type.as_str()) {
            return Err(bad(&index_path, format!("lists a {media_type}, not an image manifest")));
        }
        let digest = sha256_of(listed.digest())
            .ok_or_else(|| bad(&index_path, format!("lists manifest {}, not a sha256 digest", listed.digest())))?;
        if digest != s.manifest {
            let msg = format!("lists manifest {digest}, but {} says {}", summary::FILE, s.manifest);
            return Err(bad(&index_path, msg));
        }
        let blob = |d: Digest, size: u64| BlobFile { digest: d, size, path: layout.join("blobs/sha256").join(d.hex()) };
        let manifest = read_verified(&blob(digest, listed.size().min(MAX_MANIFEST_BYTES)))?;
        let manifest_path = blob(digest, 0).path;
        let parsed =
            manifest::parse(&manifest).map_err(|e| bad(&manifest_path, format!("not an image manifest: {e}")))?;
        let mut blobs: Vec<BlobFile> = Vec::new();
        for d in std::iter::once(parsed.config()).chain(parsed.layers()) {
            let sha = sha256_of(d.digest())
                .ok_or_else(|| bad(&manifest_path, format!("lists blob {}, not a sha256 digest", d.digest())))?;
            if !blobs.iter().any(|b| b.digest == sha) {
                blobs.push(blob(sha, d.size()));
            }
        }
        Ok(Image {
            name: name.to_string(),
            subject: media::descriptor(&media_type, digest, manifest.len() as u64),
            manifest,
            tags: s.tags.clone(),
            blobs,
            sbom: self.sbom_file(name, s)?,
        })
    }
}

/// The whole file, at most its size, verified against its digest.
fn read_verified(f: &BlobFile) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let file = read::open(&f.path, f.size)?;
    VerifyingReader::new(file, f.digest, f.path.display().to_string()).read_to_end(&mut bytes).at(&f.path)?;
    Ok(bytes)
}
