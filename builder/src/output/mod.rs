//! A build's output directory (`--out`): the files of each image ([`image`]), of the disk
//! (`disk/`, [`disk_files`]), `images.json`, and the list of them all ([`contents`]), which
//! decides what an existing `--out` is: lpbake replaces or carries over only files it listed
//! there, refuses a directory holding anything else (before any work, nothing deleted), and
//! carries a file over only once [`intact`] proved it is still what it listed.

pub mod contents;
pub mod image;
pub mod intact;

pub use contents::{Contents, FileRecord};
pub use image::{write_image, Built};

use crate::appliance;
use crate::disk::{self, ImageInfo};
use crate::error::{Error, IoContext, Result};
use crate::oci::summary::{self, Summary};
use crate::report::Reporter;
use intact::Stamps;
use std::path::Path;

/// An earlier output, as the next build into the same directory sees it.
#[derive(Debug, Default)]
pub struct Previous {
    /// Its `images.json` (empty when it had none, or it is damaged).
    pub summary: Summary,
    /// Every file it holds.
    pub contents: Contents,
    /// Its disk's `image-info.json`, when it has a disk and that file is intact.
    pub disk: Option<ImageInfo>,
}

impl Previous {
    /// The output a build may replace at `out`: none for a missing or empty directory, lpbake's
    /// own output otherwise. Refused, nothing touched: a file, the current directory or one
    /// holding it, a directory without lpbake's contents list, and one holding anything the list
    /// does not name, anywhere inside.
    pub fn open(out: &Path, stamps: &Stamps, report: &Reporter) -> Result<Previous> {
        let refuse = |why: String, fix: &str| Err(Error::Output(format!("{}: {why}\n  fix: {fix}", out.display())));
        if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
            return refuse(
                "is a symlink; lpbake swaps --out whole, which would replace the link".into(),
                "pass the directory it points to as --out",
            );
        }
        let meta = match std::fs::metadata(out) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Previous::default()),
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
        let mut top: Vec<String> = std::fs::read_dir(out)
            .at(out)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .at(out)?;
        if top.is_empty() {
            return Ok(Previous::default());
        }
        top.sort();
        let fix = "move your files elsewhere, or pass an empty or new directory as --out";
        let Some(contents) = Contents::read(out, contents::FILE)? else {
            if top.iter().any(|n| n == summary::FILE) {
                return refuse(
                    format!(
                        "holds {} but no {}: it is no output of this lpbake, which did not write it (earlier \
                         versions of lpbake wrote no contents list)",
                        summary::FILE,
                        contents::FILE
                    ),
                    &format!(
                        "if it is an old lpbake output, remove it (`rm -r {}`) and build again; otherwise pass an empty or new directory as --out",
                        out.display()
                    ),
                );
            }
            let shown = top.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            let more = if top.len() > 3 { ", ..." } else { "" };
            return refuse(
                format!(
                    "holds files lpbake did not write ({shown}{more}) and no {} of lpbake's; replacing --out whole would delete them",
                    contents::FILE
                ),
                fix,
            );
        };
        if !contents.links.is_empty() || !contents.dirs.is_empty() {
            return refuse(
                format!("its {} lists symlinks or directories, which a build never writes", contents::FILE),
                &format!("remove it (`rm -r {}`) and build again", out.display()),
            );
        }
        if let Some(foreign) = contents.foreign(out, contents::FILE)? {
            return refuse(
                format!("holds {foreign}, which lpbake did not write; replacing --out whole would delete it"),
                fix,
            );
        }
        // Listed and intact, yet unreadable (written by an lpbake whose format differs): what it
        // describes is not carried over, and is written again or dropped with a warning.
        let unreadable = |e: Error| report.warn(format!("{e}\n  (it is not carried over)"));
        let mut previous = Previous { contents, ..Previous::default() };
        if previous.intact(out, &[summary::FILE.to_string()], stamps, report)? {
            previous.summary = Summary::read(out).map_err(unreadable).ok().flatten().unwrap_or_default();
        }
        let info = format!("{}/{}", appliance::DIR, disk::info::FILE_NAME);
        if previous.intact(out, &[info], stamps, report)? {
            previous.disk = ImageInfo::read(&out.join(appliance::DIR)).map_err(unreadable).ok();
        }
        Ok(previous)
    }

    /// Whether each of `files` (relative paths) is listed and still what the list records.
    pub fn intact(&self, out: &Path, files: &[String], stamps: &Stamps, report: &Reporter) -> Result<bool> {
        for f in files {
            let Some(record) = self.contents.files.get(f) else { return Ok(false) };
            if !stamps.intact(out, f, record, report)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The images this output lists files of (whether its images.json is intact or not).
    pub fn images(&self) -> std::collections::BTreeSet<String> {
        let of = |p: &String| p.strip_prefix("oci/").and_then(|p| p.split_once('/')).map(|(n, _)| n.to_string());
        self.contents.files.keys().filter_map(of).collect()
    }

    /// Whether this output lists files of a disk (whether its image-info.json is intact or not).
    pub fn has_disk(&self) -> bool {
        self.contents.files.keys().any(|p| p.starts_with(&format!("{}/", appliance::DIR)))
    }

    /// The records of `files`, as this output lists them.
    pub fn records(&self, files: &[String]) -> Vec<(String, FileRecord)> {
        files.iter().filter_map(|f| self.contents.files.get(f).map(|r| (f.clone(), *r))).collect()
    }
}

/// Every file of the disk `info` describes, by path relative to the output: its image-info.json
/// and the files that lists.
pub fn disk_files(info: &ImageInfo) -> Vec<String> {
    std::iter::once(disk::info::FILE_NAME)
        .chain(info.files.keys().map(String::as_str))
        .map(|f| format!("{}/{f}", appliance::DIR))
        .collect()
}

/// The records of the disk `info` describes, as its writer made them.
pub fn disk_records(info: &ImageInfo) -> Vec<(String, FileRecord)> {
    let mut out = vec![(format!("{}/{}", appliance::DIR, disk::info::FILE_NAME), FileRecord::of(&info.to_json()))];
    out.extend(
        info.files
            .iter()
            .map(|(f, i)| (format!("{}/{f}", appliance::DIR), FileRecord { sha256: i.sha256, size: i.size })),
    );
    out
}

/// Carries the files `files` (relative paths) of the output `from` into the staging directory
/// `to`: hard links, since the old output is removed once the new one is swapped in and outputs
/// are never rewritten in place (a copy where a link cannot be made).
pub fn carry(from: &Path, to: &Path, files: &[String]) -> Result<()> {
    for f in files {
        let (src, dst) = (from.join(f), to.join(f));
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p).at(p)?;
        }
        if std::fs::hard_link(&src, &dst).is_err() {
            crate::fsutil::copy_file(&src, &dst)?;
        }
    }
    Ok(())
}
