//! `images.json`: the summary of a build output, image name -> digests of its manifest, config,
//! layers and SBOM, and its tags. One typed definition, written by the build and read by the
//! up-to-date check, load, push, sbom and the tests.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::oci::canonical::to_vec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The file name of the summary in a build output.
pub const FILE: &str = "images.json";

/// Largest summary read: a few hundred bytes per image.
const MAX_BYTES: u64 = 16 << 20;

/// One image of a build output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSummary {
    pub manifest: Digest,
    pub config: Digest,
    /// Every layer, base layers first, in manifest order.
    pub layers: Vec<Digest>,
    pub sbom: Digest,
    /// `lpbake/<image>:<version>` and `lpbake/<image>:latest`.
    pub tags: Vec<String>,
}

/// Every image of a build output, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Summary {
    pub images: BTreeMap<String, ImageSummary>,
}

impl Summary {
    /// Canonical JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = to_vec(self);
        bytes.push(b'\n');
        bytes
    }

    /// Writes `dir/images.json`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join(FILE), &self.to_bytes())
    }

    /// The summary in `dir`; None when there is no `images.json`; an error naming the file when
    /// it cannot be read or is not a summary lpbake wrote.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(FILE);
        let bytes = match lpbake_rules::read::bytes(&path, MAX_BYTES) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::config(
                &path,
                Some(e.line()),
                format!("not an lpbake build summary: {e}"),
                format!("rebuild the output (`lpbake build --out {}`)", dir.display()),
            )
        })
    }

    /// The summary in `dir`, which must be there: outputs are read only after a build.
    pub fn require(dir: &Path) -> Result<Self> {
        Self::read(dir)?.ok_or_else(|| {
            Error::Output(format!(
                "{}: no {FILE} here\n  fix: build first (`lpbake build --out {}`), or pass --out DIR",
                dir.display(),
                dir.display()
            ))
        })
    }

    /// The named images, or all of them when `wanted` is empty; an error names an unknown one.
    pub fn select(&self, dir: &Path, wanted: &[String]) -> Result<Vec<(String, &ImageSummary)>> {
        if wanted.is_empty() {
            return Ok(self.images.iter().map(|(n, s)| (n.clone(), s)).collect());
        }
        wanted
            .iter()
            .map(|n| {
                let s = self.images.get(n).ok_or_else(|| {
                    Error::Output(format!(
                        "{}: no image `{n}` was built here\n  fix: pick one of: {}",
                        dir.display(),
                        self.images.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })?;
                Ok((n.clone(), s))
            })
            .collect()
    }
}
