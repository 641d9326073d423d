//! Build outputs of one image: `oci/<name>/` (OCI image layout), `<name>.oci.tar` (the same
//! layout as one archive), `<name>.docker.tar` (plus `manifest.json`, for `docker load`) and
//! `<name>.spdx.json` (its SBOM); the summary `images.json` of them all; and the rule for which
//! existing `--out` directory a build may replace (its own output, an empty or a missing one).

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{copy_file, write_atomic};
use crate::layer::write_tar;
use crate::oci::summary::{self, ImageSummary, Summary};
use crate::oci::{index, manifest};
use crate::stage::{Content, Entry, Tree};
use crate::store::BlobStore;
use std::io::BufWriter;
use std::path::Path;

/// The files image `name` puts in the output directory.
pub fn files(name: &str) -> [String; 4] {
    [format!("oci/{name}"), format!("{name}.oci.tar"), format!("{name}.docker.tar"), format!("{name}.spdx.json")]
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
    pub fn files(&self) -> [String; 4] {
        files(&self.name)
    }

    fn blobs(&self, store: &BlobStore) -> Result<Vec<(Digest, u64)>> {
        let m = store.put(&self.manifest).at(store.root())?;
        let c = store.put(&self.config).at(store.root())?;
        let mut all = vec![(m, self.manifest.len() as u64), (c, self.config.len() as u64)];
        all.extend(self.layers.iter().copied());
        Ok(all)
    }
}

/// Writes all outputs of `b` under `dir`.
pub fn write_image(dir: &Path, b: &Built, store: &BlobStore, epoch: u64) -> Result<()> {
    write_atomic(&dir.join(format!("{}.spdx.json", b.name)), &b.sbom)?;
    let blobs = b.blobs(store)?;
    let index = index::layout(&b.manifest, &b.version);
    let header = index::layout_header();

    // The layout directory: blobs copied from the cache (never linked: an output is the
    // user's to change, the cache is not), reflinked where the filesystem can.
    let layout = dir.join("oci").join(&b.name);
    for (d, _) in &blobs {
        copy_file(&store.path(d), &layout.join("blobs/sha256").join(d.hex()))?;
    }
    write_atomic(&layout.join("index.json"), &index)?;
    write_atomic(&layout.join("oci-layout"), &header)?;

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
    write_archive(&dir.join(format!("{}.oci.tar", b.name)), &tree, store, epoch)?;

    let layers: Vec<Digest> = b.layers.iter().map(|(d, _)| *d).collect();
    put(&mut tree, "manifest.json", &manifest::docker_archive(Digest::of(&b.config), &b.tags, &layers))?;
    write_archive(&dir.join(format!("{}.docker.tar", b.name)), &tree, store, epoch)
}

fn write_archive(path: &Path, tree: &Tree, store: &BlobStore, epoch: u64) -> Result<()> {
    let f = std::fs::File::create(path).at(path)?;
    let (w, _) = write_tar(tree, epoch, store, BufWriter::with_capacity(1 << 20, f))?;
    w.into_inner().map_err(|e| e.into_error()).at(path)?;
    Ok(())
}

/// The summary of the output a build may replace at `out`: empty for a missing or empty
/// directory, the previous summary for lpbake's own output. Anything else is refused, nothing
/// touched: a directory that is the current one or holds it, a file, a directory without a
/// summary, or one holding entries lpbake does not write.
pub fn replaceable(out: &Path) -> Result<Summary> {
    let refuse = |why: String, fix: &str| Err(Error::Output(format!("{}: {why}\n  fix: {fix}", out.display())));
    let meta = match std::fs::metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Summary::default()),
        Err(e) => return Err(Error::io(out, e)),
    };
    if !meta.is_dir() {
        return refuse(
            "is not a directory; lpbake replaces --out whole".into(),
            "remove it, or pass another --out DIR",
        );
    }
    let canonical = out.canonicalize().at(out)?;
    let cwd = std::env::current_dir().and_then(|d| d.canonicalize()).at(".")?;
    if cwd.starts_with(&canonical) {
        return refuse(
            format!("is the current directory or holds it ({}); lpbake replaces --out whole", cwd.display()),
            "pass a directory of its own, e.g. --out out",
        );
    }
    let names = |dir: &Path| -> Result<Vec<String>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(dir).at(dir)? {
            v.push(e.at(dir)?.file_name().to_string_lossy().into_owned());
        }
        v.sort();
        Ok(v)
    };
    let top = names(out)?;
    if top.is_empty() {
        return Ok(Summary::default());
    }
    let fix = "move your files elsewhere, or pass an empty or new directory as --out";
    let not_ours = |entry: String| {
        refuse(format!("holds {entry}, which lpbake did not write; replacing --out whole would delete it"), fix)
    };
    let Ok(Some(summary)) = Summary::read(out) else {
        let shown = top.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        let why = format!(
            "holds files lpbake did not write ({shown}{}) and no {} of lpbake's; replacing --out whole would delete them",
            if top.len() > 3 { ", ..." } else { "" },
            summary::FILE
        );
        return refuse(why, fix);
    };
    let ours: Vec<String> =
        summary.images.keys().flat_map(|n| files(n)).chain([summary::FILE.to_string(), "oci".into()]).collect();
    if let Some(foreign) = top.iter().find(|n| !ours.contains(n)) {
        return not_ours(out.join(foreign).display().to_string());
    }
    let layouts = out.join("oci");
    if layouts.is_dir() {
        if let Some(foreign) = names(&layouts)?.into_iter().find(|n| !summary.images.contains_key(n)) {
            return not_ours(layouts.join(foreign).display().to_string());
        }
    }
    Ok(summary)
}
