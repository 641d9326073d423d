//! `lpbake build`, orchestrated: spec + lock -> fetch -> unpack -> stage -> layer -> outputs
//! (the images planned by `planner.rs`, the disk by [`crate::appliance`]). What the previous
//! output holds intact and unchanged (an image with the same manifest, the disk with the same
//! key, anything this build does not build) is carried over; with nothing else to write the
//! build writes nothing and says so. Otherwise the new output is assembled in a temp dir beside
//! `--out`, listed in its contents.json, and swapped in whole.

mod planner;

use crate::appliance;
use crate::digest::Digest;
use crate::disk::ImageInfo;
use crate::error::{Error, IoContext, Result};
use crate::fetch::Fetcher;
use crate::fsutil::{self, Staging};
use crate::layer::{Compression, Layerer};
use crate::lock::Lock;
use crate::oci::summary::{self, Summary};
use crate::output::intact::Stamps;
use crate::output::{self, image, Built, Contents, FileRecord, Previous};
use crate::report::Reporter;
use crate::resolve;
use crate::spec::{Component, Image, Spec};
use crate::store::BlobStore;
use planner::{join, Planner};
use std::path::PathBuf;

/// Everything `lpbake build` takes.
#[derive(Clone, Debug)]
pub struct Options {
    pub spec: PathBuf,
    pub lock: PathBuf,
    pub out: PathBuf,
    pub cache: PathBuf,
    pub mirror: Option<PathBuf>,
    pub offline: bool,
    pub locked: bool,
    pub images: Vec<String>,
    pub compression: Compression,
    /// Timestamp of every output (the caller's `SOURCE_DATE_EPOCH`); None: the lock's epoch.
    pub source_date_epoch: Option<u64>,
    /// What to build; None: the images, and the disk when the spec has an appliance and no
    /// images are picked.
    pub targets: Option<Targets>,
}

/// What `lpbake build` writes. A target left out keeps its previous output as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Targets {
    /// The OCI images (OCI layouts, archives, SBOMs, images.json).
    pub oci: bool,
    /// The appliance disk (OUT/disk/: rootfs.tar, disk.raw, disk.vhd, image-info.json).
    pub disk: bool,
}

/// What a build did.
#[derive(Debug)]
pub struct Outcome {
    pub images: Summary,
    pub rebuilt: Vec<String>,
    pub unchanged: Vec<String>,
    /// The disk's image-info, when the output has a disk: built now, or carried over (found up to
    /// date, or kept because the disk target was left out).
    pub disk: Option<crate::disk::ImageInfo>,
    /// False when the output was up to date and nothing was written.
    pub written: bool,
}

/// Reads the spec and the lock, pinning what is missing unless `--locked`.
pub fn prepare(opts: &Options, fetcher: &Fetcher, report: &Reporter) -> Result<(Spec, Lock)> {
    let spec = crate::spec::load(&opts.spec)?;
    let mut lock = Lock::open(&opts.lock, opts.source_date_epoch)?;
    let missing = resolve::missing(&spec, &lock);
    if !missing.is_empty() {
        if opts.locked {
            return Err(Error::Lock {
                lock: opts.lock.clone(),
                msg: format!("--locked, but the lock has no pin for: {}", missing.join(", ")),
                fix: "run `lpbake lock` and commit the lock, or build without --locked".into(),
            });
        }
        let changes = resolve::resolve(&spec, &mut lock, fetcher, false, report)?;
        lock.save(&opts.lock)?;
        report.step(format!(
            "{}: {} (written, like cargo writes Cargo.lock; commit it)",
            opts.lock.display(),
            changes.join("; ")
        ));
    }
    Ok((spec, lock))
}

pub fn run(opts: &Options, report: &Reporter) -> Result<Outcome> {
    // Refused before any work: an --out that is not lpbake's to replace.
    let stamps = Stamps::open(&opts.cache, &opts.out);
    let previous = Previous::open(&opts.out, &stamps, report)?;
    let cache = BlobStore::create(&opts.cache).at(&opts.cache)?;
    let fetcher = Fetcher::new(cache.clone(), opts.mirror.as_deref(), opts.offline, report.clone())?;
    let (spec, lock) = prepare(opts, &fetcher, report)?;
    // By default the images, and the disk when there is an appliance (but not when `--image`
    // picks images).
    let targets =
        opts.targets.unwrap_or(Targets { oci: true, disk: spec.appliance.is_some() && opts.images.is_empty() });
    if !targets.oci && !opts.images.is_empty() {
        return Err(Error::config(
            &opts.spec,
            None,
            "--image picks images, and the oci target is left out",
            "add --target oci (or leave --target out), or drop --image",
        ));
    }
    let names = if targets.oci { select(&spec, &opts.images)? } else { Vec::new() };
    let images: Vec<&Image> = names.iter().map(|n| &spec.images[n.as_str()]).collect();
    let epoch = lock.source_date_epoch(opts.source_date_epoch);
    let disk = if targets.disk { Some(appliance::Plan::new(&spec, &cache)?) } else { None };
    let comps =
        images.iter().flat_map(|i| &i.components).chain(disk.iter().flat_map(|d| d.components.iter().map(|c| &c.name)));
    let binaries = crate::workspace::build_all(&spec, comps, opts.offline, epoch, &cache, report)?;
    let layerer = Layerer {
        store: cache.clone(),
        index: opts.cache.join("layers"),
        epoch,
        compression: opts.compression,
        report: report.clone(),
    };
    let planner = Planner::new(&spec, &lock, &fetcher, report, layerer, &binaries);
    let plan_all = || -> Result<Vec<Built>> {
        let components = planner.component_layers(&images)?;
        images.iter().map(|img| planner.plan(img, &components)).collect()
    };
    // What the previous output holds intact already: an image with the same summary and files.
    let out = opts.out.as_path();
    let intact = |files: &[String]| previous.intact(out, files, &stamps, report);
    let same = |b: &Built| previous.summary.images.get(&b.name) == Some(&b.summary());
    let mut built = plan_all()?;
    let mut carried = Vec::new();
    for b in &built {
        if same(b) && intact(&b.files())? {
            carried.push(b.name.clone());
        }
    }
    // The cached layers of every image about to be written are checked in full first; a layer
    // rebuilt changes the images using it, which are planned again (and written).
    while planner.recheck(built.iter().filter(|b| !carried.contains(&b.name)))? {
        built = plan_all()?;
        carried.retain(|name| built.iter().any(|b| &b.name == name && same(b)));
    }
    let mut summary = Summary { images: built.iter().map(|b| (b.name.clone(), b.summary())).collect() };
    let changed: Vec<&Built> = built.iter().filter(|b| !carried.contains(&b.name)).collect();
    // Images this build does not build (the oci target left out, or not picked by --image) stay
    // as they were.
    if !targets.oci || !opts.images.is_empty() {
        for name in previous.images() {
            if summary.images.contains_key(&name) {
                continue;
            }
            match previous.summary.images.get(&name) {
                Some(s) if intact(&image::files(&name, s))? => {
                    summary.images.insert(name.clone(), s.clone());
                    carried.push(name);
                }
                _ => report.warn(format!(
                    "{}: the files of image {name} are damaged and are dropped; build it again with `--image {name}`",
                    out.display()
                )),
            }
        }
    }
    let disk = match (disk, &previous.disk) {
        (Some(plan), previous_disk) => {
            let key = plan.key(epoch, |c| planner.source_sha256(c));
            match previous_disk {
                Some(info) if info.inputs == key && intact(&output::disk_files(info))? => {
                    Disk::Carry(Box::new(info.clone()))
                }
                _ => Disk::Write(Box::new(plan), key),
            }
        }
        // Without the disk target, a previous disk stays as it was.
        (None, Some(info)) if intact(&output::disk_files(info))? => Disk::Carry(Box::new(info.clone())),
        // A disk the list names but whose files (or image-info.json) are damaged.
        (None, _) if previous.has_disk() => {
            report.warn(format!(
                "{}: its disk is damaged and is dropped; build it again with `--target disk`",
                out.display()
            ));
            Disk::None
        }
        (None, _) => Disk::None,
    };
    let mut outcome = Outcome {
        images: summary.clone(),
        rebuilt: changed.iter().map(|b| b.name.clone()).collect(),
        unchanged: carried.clone(),
        disk: match &disk {
            Disk::Carry(info) => Some((**info).clone()),
            _ => None,
        },
        written: true,
    };

    // The records of everything carried over; when that is all the new output holds and the
    // previous one holds exactly that, there is nothing to write.
    let mut contents = Contents::default();
    for name in &carried {
        contents.files.extend(previous.records(&image::files(name, &summary.images[name])));
    }
    contents.add(summary::FILE, FileRecord::of(&summary.to_bytes()));
    if let Disk::Carry(info) = &disk {
        contents.files.extend(previous.records(&output::disk_files(info)));
    }
    if changed.is_empty() && !matches!(disk, Disk::Write(..)) && contents == previous.contents {
        stamps.save()?;
        report.step(format!("{}: up to date, nothing written", out.display()));
        outcome.written = false;
        return Ok(outcome);
    }

    // Assemble the new output beside the old one, then swap it in whole; first remove what
    // builds that died left there.
    let parent = fsutil::parent_of(out);
    std::fs::create_dir_all(&parent).at(&parent)?;
    for dead in fsutil::remove_dead_staging(&parent)? {
        report.warn(format!("removed {}, left by an interrupted build", dead.display()));
    }
    // Base layers must be in the cache, checked whole, before the outputs copy them; only the
    // images written need them, so a build with nothing to write reads none.
    for b in &changed {
        planner.base_layers(&spec.images[b.name.as_str()])?;
    }
    let tmp = Staging::new(&parent)?;
    for name in &carried {
        output::carry(out, tmp.path(), &image::files(name, &summary.images[name]))?;
    }
    // Each image's outputs on their own thread: writing is I/O and hashing, not shared state.
    let written: Vec<Result<Vec<(String, FileRecord)>>> = std::thread::scope(|s| {
        let writers: Vec<_> = changed
            .iter()
            .map(|b| {
                report.step(format!("writing {} ({})", b.name, Digest::of(&b.manifest)));
                let (dir, cache) = (tmp.path(), &cache);
                s.spawn(move || output::write_image(dir, b, cache, epoch))
            })
            .collect();
        writers.into_iter().map(join).collect()
    });
    for records in written {
        contents.files.extend(records?);
    }
    summary.write(tmp.path())?;
    match disk {
        Disk::Carry(info) => output::carry(out, tmp.path(), &output::disk_files(&info))?,
        Disk::Write(plan, key) => {
            let tree = |c: &Component| planner.unpacked(c, false).map(|(t, _)| t);
            let dir = tmp.path().join(appliance::DIR);
            let info = plan.write(&dir, key, &fetcher, &lock, epoch, tree, report)?;
            contents.files.extend(output::disk_records(&info));
            outcome.disk = Some(info);
        }
        Disk::None => {}
    }
    contents.write(tmp.path(), output::contents::FILE)?;
    tmp.publish(out)?;
    Stamps::record(&opts.cache, out, &contents)?;
    Ok(outcome)
}

/// What a build does with the disk.
enum Disk<'a> {
    /// Nothing: not asked for, and there is none to keep.
    None,
    /// The previous output's, intact and (when asked for) with the same key.
    Carry(Box<ImageInfo>),
    /// Written now from the plan, with its key.
    Write(Box<appliance::Plan<'a>>, Digest),
}

fn select(spec: &Spec, wanted: &[String]) -> Result<Vec<String>> {
    if wanted.is_empty() {
        return Ok(spec.images.keys().cloned().collect());
    }
    for w in wanted {
        if !spec.images.contains_key(w) {
            let known = spec.images.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(Error::config(
                &spec.dir,
                None,
                format!("no image named `{w}`"),
                format!("pick one of: {known}"),
            ));
        }
    }
    Ok(wanted.to_vec())
}
