//! `lpbake build`, orchestrated: spec + lock -> fetch -> unpack -> stage -> layer -> outputs.
//! Images whose manifest is unchanged are carried over from the previous output untouched; the
//! new output is assembled in a temp dir beside `--out` and swapped in whole.
//!
//! A cached layer is looked up by a key of its inputs (spec and pins, not the unpacked files, so a
//! warm build reads no archive) and passes cheap checks on every use; before an image that
//! changed is written, each cached layer it uses is checked in full against its tree, unpacked
//! again from the verified source archive, and rebuilt if it is not that tree's layer.

use crate::appliance;
use crate::base::Base;
use crate::digest::Digest;
use crate::disk::ImageInfo;
use crate::error::{Error, IoContext, Result};
use crate::fetch::{Fetcher, ImageRef};
use crate::fsutil::{self, Staging};
use crate::layer::{Compression, Layer, Layerer, Piece};
use crate::lock::Lock;
use crate::oci::config::{self as image, LayerRef};
use crate::oci::summary::Summary;
use crate::output::{self, Built};
use crate::report::Reporter;
use crate::resolve;
use crate::spec::{Component, Download, Image, SourceKind, Spec};
use crate::stage::{component, Tree};
use crate::store::BlobStore;
use crate::unpack::remembered::Remembered;
use crate::unpack::{self, Limits, Member, MemberKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

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
    /// The disk's image-info, when the disk was built or found up to date.
    pub disk: Option<crate::disk::ImageInfo>,
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
    // Refused before any work: an --out that is not lpbake's to replace (checked again at the end).
    let previous = output::replaceable(&opts.out)?;
    let cache = BlobStore::create(&opts.cache).at(&opts.cache)?;
    let fetcher = Fetcher::new(cache.clone(), opts.mirror.as_deref(), opts.offline, report.clone())?;
    let (spec, lock) = prepare(opts, &fetcher, report)?;
    // By default the images, and the disk when there is an appliance (but not when `--image`
    // picks images).
    let targets =
        opts.targets.unwrap_or(Targets { oci: true, disk: spec.appliance.is_some() && opts.images.is_empty() });
    let names = if targets.oci { select(&spec, &opts.images)? } else { Vec::new() };
    let images: Vec<&Image> = names.iter().map(|n| &spec.images[n.as_str()]).collect();
    let epoch = lock.source_date_epoch(opts.source_date_epoch);
    let disk = if targets.disk { Some(appliance::Plan::new(&spec, &cache)?) } else { None };
    let comps =
        images.iter().flat_map(|i| &i.components).chain(disk.iter().flat_map(|d| d.components.iter().map(|c| &c.name)));
    let binaries = crate::workspace::build_all(&spec, comps, opts.offline, epoch, &cache, report)?;
    let planner = Planner {
        spec: &spec,
        lock: &lock,
        fetcher: &fetcher,
        report,
        layerer: Layerer {
            store: cache.clone(),
            index: opts.cache.join("layers"),
            epoch,
            compression: opts.compression,
            report: report.clone(),
        },
        binaries: &binaries,
        remembered: Remembered::new(&opts.cache),
        unchecked: Mutex::default(),
        trusted: Mutex::default(),
    };
    let plan_all = || -> Result<Vec<Built>> {
        let components = planner.component_layers(&images)?;
        images.iter().map(|img| planner.plan(img, &components)).collect()
    };
    let mut built = plan_all()?;
    while planner.recheck(&built, &previous)? {
        built = plan_all()?;
    }

    let is_current = |b: &Built| {
        previous.images.get(&b.name) == Some(&b.summary()) && b.files().iter().all(|f| opts.out.join(f).exists())
    };
    let mut summary = Summary { images: built.iter().map(|b| (b.name.clone(), b.summary())).collect() };
    // Without the oci target, the previous images stay as they were.
    let kept: Vec<String> = if targets.oci { Vec::new() } else { previous.images.keys().cloned().collect() };
    for name in &kept {
        summary.images.insert(name.clone(), previous.images[name].clone());
    }
    let (unchanged, changed): (Vec<&Built>, Vec<&Built>) = built.iter().partition(|b| is_current(b));
    let disk_key = disk.as_ref().map(|d| d.key(epoch, |c| planner.source_sha256(c)));
    let disk_current = match (&disk, disk_key) {
        (Some(d), Some(key)) => d.is_current(&opts.out, key),
        _ => true,
    };
    let mut outcome = Outcome {
        images: summary.clone(),
        rebuilt: changed.iter().map(|b| b.name.clone()).collect(),
        unchanged: unchanged.iter().map(|b| b.name.clone()).chain(kept.iter().cloned()).collect(),
        disk: None,
    };
    if changed.is_empty() && previous == summary && disk_current {
        outcome.disk = disk.is_some().then(|| ImageInfo::read(&opts.out.join(appliance::DIR))).transpose()?;
        report.step(format!("{}: up to date", opts.out.display()));
        return Ok(outcome);
    }

    // Assemble the new output beside the old one, then swap it in whole; first remove what
    // builds that died left there.
    let parent = fsutil::parent_of(&opts.out);
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
    let carried = unchanged.iter().map(|b| b.name.as_str()).chain(kept.iter().map(String::as_str));
    for name in carried {
        for f in output::files(name) {
            copy_tree(&opts.out.join(&f), &tmp.path().join(&f))?;
        }
    }
    // Each image's outputs on their own thread: writing is I/O and hashing, not shared state.
    let epoch = lock.source_date_epoch(opts.source_date_epoch);
    let written: Vec<Result<()>> = std::thread::scope(|s| {
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
    written.into_iter().collect::<Result<()>>()?;
    summary.write(tmp.path())?;
    match (&disk, disk_key) {
        (Some(_), Some(_)) if disk_current => {
            appliance::carry(&opts.out, tmp.path())?;
            outcome.disk = Some(ImageInfo::read(&tmp.path().join(appliance::DIR))?);
        }
        (Some(d), Some(key)) => {
            let tree = |c: &Component| planner.unpacked(c, false).map(|(t, _)| t);
            let dir = tmp.path().join(appliance::DIR);
            outcome.disk = Some(d.write(&dir, key, &fetcher, &lock, &opts.cache, epoch, tree, report)?);
        }
        // Without the disk target, a previous disk stays as it was.
        (None, _) if opts.out.join(appliance::DIR).is_dir() => appliance::carry(&opts.out, tmp.path())?,
        _ => {}
    }
    tmp.publish(&opts.out)?;
    Ok(outcome)
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

/// Copies every file under `src` into the same place under `dst`.
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    if src.is_dir() {
        for e in std::fs::read_dir(src).at(src)? {
            let e = e.at(src)?;
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        Ok(())
    } else {
        fsutil::copy_file(src, dst)
    }
}

/// Turns one image of the spec into a [`Built`], building only layers not in the cache.
struct Planner<'a> {
    spec: &'a Spec,
    lock: &'a Lock,
    fetcher: &'a Fetcher,
    report: &'a Reporter,
    layerer: Layerer,
    /// Cached layers used but not yet checked in full, by key: the layer and how to get its tree.
    unchecked: Mutex<BTreeMap<Digest, (Layer, TreeOf<'a>)>>,
    /// Keys whose layers were built by this run or checked in full.
    trusted: Mutex<BTreeSet<Digest>>,
    /// The workspace components' binaries, built before any layer.
    binaries: &'a BTreeMap<String, crate::workspace::Built>,
    /// Unpacks of earlier builds (the disk's component trees).
    remembered: Remembered,
}

/// Where the tree of a cached layer comes from, to check the layer against it.
#[derive(Clone)]
enum TreeOf<'a> {
    Component(&'a Component),
    Tree(Tree),
}

impl<'a> Planner<'a> {
    /// The layer of every component the images use, each component on its own thread, so that
    /// one source's unpacking overlaps another's compression.
    fn component_layers(&self, images: &[&Image]) -> Result<BTreeMap<String, LayerRef>> {
        let names: BTreeSet<&String> = images.iter().flat_map(|i| &i.components).collect();
        let results: Vec<(String, Result<LayerRef>)> = std::thread::scope(|s| {
            let workers: Vec<_> = names
                .into_iter()
                .map(|n| {
                    let comp = &self.spec.components[n.as_str()];
                    (n.clone(), s.spawn(move || self.component_layer(comp)))
                })
                .collect();
            workers.into_iter().map(|(n, w)| (n, join(w))).collect()
        });
        results.into_iter().map(|(n, r)| r.map(|l| (n, l))).collect()
    }

    /// The layer of one component: from the cache when its inputs are unchanged; otherwise
    /// unpacked now, with the layer streamed and compressed while the archive is decoded.
    fn component_layer(&self, comp: &'a Component) -> Result<LayerRef> {
        component::refuse_secret_names(comp)?;
        let created_by = format!("lpbake: {} {} from {}", comp.name, comp.version, comp.source.origin());
        let key = self.layerer.key(&component::inputs(comp, self.source_sha256(comp)));
        if let Some(l) = self.cached(&key, TreeOf::Component(comp)) {
            self.report.step(format!("layer {}: cached {}", comp.name, l.digest));
            return Ok(LayerRef::new(l, created_by));
        }
        let (tree, streamed) = self.unpacked(comp, true)?;
        let layer = match streamed {
            Some(l) => l,
            None => {
                self.report.step(format!("compressing layer {}", comp.name));
                self.layerer.layer(&tree)?
            }
        };
        self.keep(&key, &layer)?;
        Ok(LayerRef::new(layer, created_by))
    }

    /// The cached layer of `key` if it passes the cheap checks; unless this run built or checked
    /// it, it is noted for [`Planner::recheck`].
    fn cached(&self, key: &Digest, tree: TreeOf<'a>) -> Option<Layer> {
        let layer = self.layerer.cached(key)?;
        if !lock(&self.trusted).contains(key) {
            lock(&self.unchecked).insert(*key, (layer.clone(), tree));
        }
        Some(layer)
    }

    /// Records a layer this run built or checked for `key`.
    fn keep(&self, key: &Digest, layer: &Layer) -> Result<()> {
        self.layerer.remember(key, layer)?;
        lock(&self.trusted).insert(*key);
        Ok(())
    }

    /// Checks in full the cached layers used by every image whose summary differs from
    /// `previous` (the images about to be written); a layer that is not its tree's is dropped
    /// from the cache and rebuilt. True if one was: the images must be planned again.
    fn recheck(&self, built: &[Built], previous: &Summary) -> Result<bool> {
        let written: BTreeSet<Digest> = built
            .iter()
            .filter(|b| previous.images.get(&b.name) != Some(&b.summary()))
            .flat_map(|b| b.layers.iter().map(|(d, _)| *d))
            .collect();
        let due: Vec<(Digest, (Layer, TreeOf))> = {
            let mut unchecked = lock(&self.unchecked);
            let keys: Vec<Digest> =
                unchecked.iter().filter(|(_, (l, _))| written.contains(&l.digest)).map(|(k, _)| *k).collect();
            keys.into_iter().filter_map(|k| unchecked.remove_entry(&k)).collect()
        };
        // Each on its own thread: checking is unpacking and hashing, like building.
        let checked: Vec<Result<bool>> = std::thread::scope(|s| {
            let workers: Vec<_> = due
                .into_iter()
                .map(|(key, (layer, source))| s.spawn(move || self.check(key, &layer, source)))
                .collect();
            workers.into_iter().map(join).collect()
        });
        let rebuilt = checked.into_iter().collect::<Result<Vec<bool>>>()?.contains(&true);
        Ok(rebuilt)
    }

    /// Checks the cached `layer` of `key` in full against its tree; if it is not that tree's
    /// layer, drops it and builds the layer again. True if it was rebuilt.
    fn check(&self, key: Digest, layer: &Layer, source: TreeOf) -> Result<bool> {
        let tree = match source {
            TreeOf::Tree(t) => t,
            TreeOf::Component(comp) => self.unpacked(comp, false)?.0,
        };
        let Some(why) = self.layerer.verify(&tree, layer)? else {
            lock(&self.trusted).insert(key);
            return Ok(false);
        };
        self.layerer.drop_entry(&key, &why);
        self.keep(&key, &self.layerer.layer(&tree)?)?;
        Ok(true)
    }

    fn plan(&self, img: &Image, components: &BTreeMap<String, LayerRef>) -> Result<Built> {
        let base = self.base(img)?;
        let mut layers: Vec<LayerRef> = img.components.iter().map(|c| components[c].clone()).collect();
        let own = component::image_tree(img);
        if !own.is_empty() {
            layers.push(self.layer(
                own,
                format!("lpbake: {} runtime directories", img.name),
                &format!("{} directories", img.name),
            )?);
        }
        let epoch = self.layerer.epoch;
        let config = image::config(&base, img, self.spec, &layers, epoch);
        let manifest = crate::oci::manifest::image(&config, &base, &layers);
        let sbom =
            crate::oci::sbom::document(img, self.spec, self.lock, self.binaries, &base, Digest::of(&manifest), epoch);
        let version = img.version(self.spec).to_string();
        let mut all: Vec<(Digest, u64)> = base.layers.iter().map(|l| (l.digest, l.size)).collect();
        all.extend(layers.iter().map(|l| (l.digest, l.size)));
        Ok(Built {
            name: img.name.clone(),
            tags: vec![format!("lpbake/{}:{version}", img.name), format!("lpbake/{}:latest", img.name)],
            version,
            manifest,
            config,
            sbom,
            layers: all,
        })
    }

    /// Puts the layers of `img`'s base into the cache (fetched, or checked whole if there).
    fn base_layers(&self, img: &Image) -> Result<()> {
        let base = self.base(img)?;
        if let Some(image) = &base.image {
            for l in &base.layers {
                self.fetcher.image_blob(image, l.digest, l.size)?;
            }
        }
        Ok(())
    }

    fn base(&self, img: &Image) -> Result<Base> {
        if img.base == "scratch" {
            return Ok(Base::scratch());
        }
        let image = ImageRef::parse(&img.base).map_err(|m| {
            Error::config(&img.file, None, format!("image.base: {m}"), "write a reference like debian:bookworm-slim")
        })?;
        let pinned = self.lock.images[&img.base];
        Base::load(self.fetcher, &image, pinned)
    }

    fn layer(&self, tree: Tree, created_by: String, what: &str) -> Result<LayerRef> {
        let key = self.layerer.key(&tree);
        if let Some(l) = self.cached(&key, TreeOf::Tree(tree.clone())) {
            self.report.step(format!("layer {what}: cached {}", l.digest));
            return Ok(LayerRef::new(l, created_by));
        }
        self.report.step(format!("compressing layer {what}"));
        let l = self.layerer.layer(&tree)?;
        self.keep(&key, &l)?;
        Ok(LayerRef::new(l, created_by))
    }

    /// The tree of `comp`, unpacked from its verified source and refused if it holds key
    /// material; with `stream`, also its layer, written while the archive is read (None if it
    /// could not be streamed).
    fn unpacked(&self, comp: &Component, stream: bool) -> Result<(Tree, Option<Layer>)> {
        let sha = self.source_sha256(comp);
        let (members, layer) = match comp.source.kind().expect("validated when the spec was read") {
            SourceKind::File => (self.file_member(comp, sha)?, None),
            SourceKind::Archive(format) => self.unpack(comp, format, sha, stream)?,
            SourceKind::Workspace => {
                let size = self.binaries[&comp.name].size;
                let file = MemberKind::File { sha256: sha, size };
                let member = Member { path: String::new(), mode: 0o755, uid: 0, gid: 0, kind: file };
                (BTreeMap::from([(String::new(), member)]), None)
            }
        };
        let tree = component::tree_of(comp, &members);
        component::refuse_key_material(comp, &tree, self.fetcher.cache())?;
        Ok((tree, layer))
    }

    /// The sha256 of `comp`'s source: its pin in the lock, or the binary built from the workspace.
    pub(crate) fn source_sha256(&self, comp: &Component) -> Digest {
        match comp.source.download() {
            Some(d) => self.lock.files[&d.url].sha256,
            None => self.binaries[&comp.name].sha256,
        }
    }

    /// A plain-file source as the one member "" (in the cache, which the layer writer reads).
    fn file_member(&self, comp: &Component, sha: Digest) -> Result<BTreeMap<String, Member>> {
        let url = &download(comp).url;
        let path = self.fetcher.pinned(url, self.lock.files[url])?;
        let store = self.fetcher.cache();
        if !store.contains(&sha) {
            let mut w = store.writer().at(store.root())?;
            std::io::copy(&mut store_open(&path, sha)?, &mut w).at(&path)?;
            w.commit(Some(sha)).map_err(|e| Error::io(&path, e.into()))?;
        }
        let size = std::fs::metadata(&path).at(&path)?.len();
        let member =
            Member { path: String::new(), mode: 0o755, uid: 0, gid: 0, kind: MemberKind::File { sha256: sha, size } };
        Ok(BTreeMap::from([(String::new(), member)]))
    }

    /// Unpacks `comp`'s members into the cache; with `stream`, a second thread turns the same
    /// bytes into the component's layer meanwhile. Returns the members and that layer (None if
    /// it could not be streamed, e.g. the archive holds the files in another order than the layer).
    fn unpack(
        &self,
        comp: &Component,
        format: unpack::Format,
        sha: Digest,
        stream: bool,
    ) -> Result<(BTreeMap<String, Member>, Option<Layer>)> {
        let wanted: BTreeSet<String> = comp.install.iter().filter_map(|i| i.from.clone()).collect();
        let src = download(comp);
        let store = self.fetcher.cache();
        // What an archive gave is remembered; without a layer to stream, that is all it takes.
        let key = Remembered::key(sha, Some(&wanted));
        if !stream {
            if let Some(members) = self.remembered.recall(key, store) {
                return Ok((members, None));
            }
        }
        let path = self.fetcher.pinned(&src.url, self.lock.files[&src.url])?;
        let limits = Limits {
            max_entry_bytes: src.max_entry_bytes.unwrap_or(Limits::default().max_entry_bytes),
            ..Limits::default()
        };
        let url = &src.url;
        if !stream {
            self.report.step(format!("unpacking {} ({})", src.file_name(), comp.name));
            let members = unpack::unpack(&path, sha, url, format, &wanted, &limits, store)?;
            self.remembered.remember(key, &members)?;
            return Ok((members, None));
        }
        self.report.step(format!("unpacking {} ({}) and compressing its layer", src.file_name(), comp.name));
        let (shape, files) = component::shape_of(comp);
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let (members, layer) = std::thread::scope(|s| {
            let writer = s.spawn(|| self.layerer.streamed(&shape, &files, rx));
            let mut tee = ChannelTee(tx);
            let members = unpack::unpack_tee(&path, sha, url, format, &wanted, &limits, store, Some(&mut tee));
            drop(tee); // ends the layer's input
            (members, join(writer))
        });
        let members = members?;
        self.remembered.remember(key, &members)?;
        Ok((members, layer?))
    }
}

/// The download of a component that is fetched (the spec reader gave it one).
fn download(comp: &Component) -> &Download {
    comp.source.download().expect("only downloaded sources are fetched or unpacked")
}

/// Passes unpacked bytes to a streamed layer; once the layer gave up, they are dropped.
struct ChannelTee(std::sync::mpsc::SyncSender<Piece>);

impl unpack::Tee for ChannelTee {
    fn begin(&mut self, path: &str, mode: u32, size: u64) {
        let _ = self.0.send(Piece::Begin { path: path.to_string(), mode, size });
    }
    fn data(&mut self, chunk: &[u8]) {
        let _ = self.0.send(Piece::Data(chunk.to_vec()));
    }
}

/// A mutex's data; a panic while it was held continues in the caller.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The result of a scoped thread; a panic in it continues in the caller.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn store_open(path: &Path, sha: Digest) -> Result<crate::digest::VerifyingReader<std::fs::File>> {
    Ok(crate::digest::VerifyingReader::new(std::fs::File::open(path).at(path)?, sha, path.display().to_string()))
}
