//! `lpbake build`: spec + lock -> fetched, unpacked, layered images -> outputs. Images whose
//! manifest is unchanged are carried over from the previous output untouched; the new output is
//! assembled in a temp dir beside `--out` and swapped in whole.

use crate::base::Base;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fetch::{Fetcher, ImageRef};
use crate::image::{self, LayerRef};
use crate::layer::{Compression, Layerer, Piece};
use crate::lock::Lock;
use crate::output::{self, Built};
use crate::report::Reporter;
use crate::resolve;
use crate::spec::{Component, Download, Image, SourceKind, Spec};
use crate::stage::{Content, Entry, Tree};
use crate::store::BlobStore;
use crate::unpack::{self, Limits, Member, MemberKind};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
}

/// What a build did.
#[derive(Debug)]
pub struct Outcome {
    pub images: BTreeMap<String, Value>,
    pub rebuilt: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Reads the spec and the lock, pinning what is missing unless `--locked`.
pub fn prepare(opts: &Options, fetcher: &Fetcher, report: &Reporter) -> Result<(Spec, Lock)> {
    let spec = crate::spec::load(&opts.spec)?;
    let mut lock = Lock::load(&opts.lock)?;
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
    let cache = BlobStore::create(&opts.cache).at(&opts.cache)?;
    let fetcher = Fetcher::new(cache.clone(), opts.mirror.as_deref(), opts.offline, report.clone())?;
    let (spec, lock) = prepare(opts, &fetcher, report)?;
    let names = select(&spec, &opts.images)?;
    let images: Vec<&Image> = names.iter().map(|n| &spec.images[n.as_str()]).collect();
    let epoch = lock.source_date_epoch();
    let comps = images.iter().flat_map(|i| &i.components);
    let built = crate::workspace::build_all(&spec, comps, opts.offline, epoch, &cache, report)?;
    let planner = Planner {
        spec: &spec,
        lock: &lock,
        fetcher: &fetcher,
        report,
        layerer: Layerer {
            store: cache.clone(),
            index: opts.cache.join("layers"),
            epoch: lock.source_date_epoch(),
            compression: opts.compression,
        },
        unpacked: opts.cache.join("unpacked"),
        built: &built,
    };
    let components = planner.component_layers(&images)?;
    let built: Vec<Built> = images.iter().map(|img| planner.plan(img, &components)).collect::<Result<_>>()?;

    let previous = output::read_summary(&opts.out);
    let is_current =
        |b: &Built| previous.get(&b.name) == Some(&b.summary()) && b.files().iter().all(|f| opts.out.join(f).exists());
    let summary: BTreeMap<String, Value> = built.iter().map(|b| (b.name.clone(), b.summary())).collect();
    let (unchanged, changed): (Vec<&Built>, Vec<&Built>) = built.iter().partition(|b| is_current(b));
    let outcome = Outcome {
        images: summary.clone(),
        rebuilt: changed.iter().map(|b| b.name.clone()).collect(),
        unchanged: unchanged.iter().map(|b| b.name.clone()).collect(),
    };
    if changed.is_empty() && previous == summary {
        report.step(format!("{}: up to date", opts.out.display()));
        return Ok(outcome);
    }

    // Assemble the new output beside the old one, then swap it in whole.
    let parent = crate::fsutil::parent_of(&opts.out);
    std::fs::create_dir_all(&parent).at(&parent)?;
    let tmp = tempfile::Builder::new().prefix(".lpbake-out-").tempdir_in(&parent).at(&parent)?;
    for b in &unchanged {
        for f in b.files() {
            copy_tree(&opts.out.join(&f), &tmp.path().join(&f))?;
        }
    }
    // Each image's outputs on their own thread: writing is I/O and hashing, not shared state.
    let epoch = lock.source_date_epoch();
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
    output::write_summary(tmp.path(), &summary)?;
    let tmp = tmp.keep();
    crate::fsutil::publish_dir(&tmp, &opts.out)?;
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

/// Hard-links every file under `src` into the same place under `dst`.
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    if src.is_dir() {
        for e in std::fs::read_dir(src).at(src)? {
            let e = e.at(src)?;
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        Ok(())
    } else {
        crate::fsutil::link_or_copy(src, dst)
    }
}

/// Turns one image of the spec into a [`Built`], building only layers not in the cache.
struct Planner<'a> {
    spec: &'a Spec,
    lock: &'a Lock,
    fetcher: &'a Fetcher,
    report: &'a Reporter,
    layerer: Layerer,
    unpacked: PathBuf,
    /// The workspace components' binaries, built before any layer.
    built: &'a BTreeMap<String, crate::workspace::Built>,
}

impl Planner<'_> {
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

    /// The layer of one component: from the caches when its members are known; otherwise
    /// unpacked now, with the layer streamed and compressed while the archive is decoded.
    fn component_layer(&self, comp: &Component) -> Result<LayerRef> {
        refuse_secrets(comp)?;
        let created_by = format!("lpbake: {} {} from {}", comp.name, comp.version, comp.source.origin());
        let pin = || self.lock.files[&download(comp).url].sha256;
        let (members, streamed) = match comp.source.kind().expect("validated when the spec was read") {
            SourceKind::File => (self.file_member(comp, pin())?, None),
            SourceKind::Archive(format) => match self.cached_members(comp, format, pin()) {
                Some(m) => (m, None),
                None => self.unpack(comp, format, pin())?,
            },
            SourceKind::Workspace => {
                let b = &self.built[&comp.name];
                let file = MemberKind::File { sha256: b.sha256, size: b.size };
                (BTreeMap::from([(String::new(), Member { path: String::new(), mode: 0o755, kind: file })]), None)
            }
        };
        let tree = tree_of(comp, &members);
        match streamed {
            Some(l) => {
                self.layerer.remember(&tree, &l)?;
                Ok(LayerRef::new(l, created_by))
            }
            None => self.layer(&tree, created_by, &comp.name),
        }
    }

    fn plan(&self, img: &Image, components: &BTreeMap<String, LayerRef>) -> Result<Built> {
        let base = self.base(img)?;
        let mut layers: Vec<LayerRef> = img.components.iter().map(|c| components[c].clone()).collect();
        let own = image_tree(img);
        if !own.is_empty() {
            layers.push(self.layer(
                &own,
                format!("lpbake: {} runtime directories", img.name),
                &format!("{} directories", img.name),
            )?);
        }
        // Base layers must be in the cache before the outputs link them.
        if let Some(image) = &base.image {
            for l in &base.layers {
                self.fetcher.image_blob(image, l.digest)?;
            }
        }
        let epoch = self.layerer.epoch;
        let config = image::config(&base, img, self.spec, &layers, epoch);
        let manifest = image::manifest(&config, &base, &layers);
        let sbom = crate::sbom::document(
            img,
            self.spec,
            self.lock,
            self.built,
            &base,
            crate::digest::Digest::of(&manifest),
            epoch,
        );
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

    fn layer(&self, tree: &Tree, created_by: String, what: &str) -> Result<LayerRef> {
        let (l, cached) = match self.layerer.cached(tree) {
            Some(l) => (l, true),
            None => {
                self.report.step(format!("compressing layer {what}"));
                self.layerer.layer(tree)?
            }
        };
        if cached {
            self.report.step(format!("layer {what}: cached {}", l.digest));
        }
        Ok(LayerRef::new(l, created_by))
    }

    /// A plain-file source as the one member "" (in the cache, which the layer writer reads).
    fn file_member(&self, comp: &Component, sha: Digest) -> Result<BTreeMap<String, Member>> {
        let path = self.fetcher.pinned(&download(comp).url, sha)?;
        let store = self.fetcher.cache();
        if !store.contains(&sha) {
            let mut w = store.writer().at(store.root())?;
            std::io::copy(&mut store_open(&path, sha)?, &mut w).at(&path)?;
            w.commit(Some(sha)).map_err(|e| Error::io(&path, e.into()))?;
        }
        let size = std::fs::metadata(&path).at(&path)?.len();
        let member = Member { path: String::new(), mode: 0o755, kind: MemberKind::File { sha256: sha, size } };
        Ok(BTreeMap::from([(String::new(), member)]))
    }

    /// Where the unpack index of `comp`'s members lives, and which members it wants.
    fn unpack_index(&self, comp: &Component, format: unpack::Format, sha: Digest) -> (PathBuf, BTreeSet<String>) {
        let wanted: BTreeSet<String> = comp.install.iter().filter_map(|i| i.from.clone()).collect();
        let key = Digest::of(
            format!("{sha}\n{format:?}\n{}", wanted.iter().cloned().collect::<Vec<_>>().join("\n")).as_bytes(),
        );
        (self.unpacked.join(key.hex()), wanted)
    }

    /// The members of an earlier unpack, if the index and every member's blob are still there.
    fn cached_members(
        &self,
        comp: &Component,
        format: unpack::Format,
        sha: Digest,
    ) -> Option<BTreeMap<String, Member>> {
        let (index, _) = self.unpack_index(comp, format, sha);
        let members: BTreeMap<String, Member> = serde_json::from_slice(&std::fs::read(index).ok()?).ok()?;
        let store = self.fetcher.cache();
        members
            .values()
            .all(|m| match &m.kind {
                MemberKind::File { sha256, .. } => store.contains(sha256),
                _ => true,
            })
            .then_some(members)
    }

    /// Unpacks `comp`'s members into the cache while a second thread turns the same bytes into
    /// the component's layer; returns the members and that layer (None if it could not be
    /// streamed, e.g. the archive holds the files in another order than the layer).
    fn unpack(
        &self,
        comp: &Component,
        format: unpack::Format,
        sha: Digest,
    ) -> Result<(BTreeMap<String, Member>, Option<crate::layer::Layer>)> {
        let (index, wanted) = self.unpack_index(comp, format, sha);
        let src = download(comp);
        let path = self.fetcher.pinned(&src.url, sha)?;
        self.report.step(format!("unpacking {} ({}) and compressing its layer", src.file_name(), comp.name));
        let limits = Limits {
            max_entry_bytes: src.max_entry_bytes.unwrap_or(Limits::default().max_entry_bytes),
            ..Limits::default()
        };
        let (shape, files) = shape_of(comp);
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let (members, layer) = std::thread::scope(|s| {
            let writer = s.spawn(|| self.layerer.streamed(&shape, &files, rx));
            let mut tee = ChannelTee(tx);
            let store = self.fetcher.cache();
            let members = unpack::unpack_tee(&path, sha, &src.url, format, &wanted, &limits, store, Some(&mut tee));
            drop(tee); // ends the layer's input
            (members, join(writer))
        });
        let members = members?;
        std::fs::create_dir_all(&self.unpacked).at(&self.unpacked)?;
        crate::fsutil::write_atomic(&index, &serde_json::to_vec(&members).expect("members serialize"))?;
        Ok((members, layer?))
    }
}

/// The download of a component that is fetched (the spec reader gave it one).
fn download(comp: &Component) -> &Download {
    comp.source.download().expect("only downloaded sources are fetched or unpacked")
}

/// Stops the build if `comp` would put key material into an image.
fn refuse_secrets(comp: &Component) -> Result<()> {
    for i in &comp.install {
        if let Some(why) = crate::secrets::looks_secret(&i.to) {
            return Err(Error::config(
                &comp.file,
                None,
                format!("component `{}` puts {} into the image: it looks like {why}", comp.name, i.to),
                "never bake keys or passwords into an image: drop this install and provide the file at run time (a volume, or systemd LoadCredential=)",
            ));
        }
    }
    Ok(())
}

/// The files `comp` installs, given its unpacked members.
fn tree_of(comp: &Component, members: &BTreeMap<String, Member>) -> Tree {
    let mut tree = Tree::default();
    for i in &comp.install {
        let m = &members[i.from.as_deref().unwrap_or_default()];
        let content = match &m.kind {
            MemberKind::File { sha256, size } => Content::File { blob: *sha256, size: *size },
            MemberKind::Dir => Content::Dir,
            MemberKind::Symlink { target } => Content::Symlink { target: target.clone() },
        };
        tree.add(&i.to, Entry { mode: i.mode.unwrap_or(m.mode & 0o777), uid: i.uid, gid: i.gid, content });
    }
    tree
}

/// The layer of `comp` before its members are read: its directories, and for each file the
/// archive member it comes from and its explicit mode (sizes and other modes come later).
fn shape_of(comp: &Component) -> (Tree, BTreeMap<String, (String, Option<u32>)>) {
    let mut shape = Tree::default();
    let mut files = BTreeMap::new();
    for i in &comp.install {
        let placeholder = Content::File { blob: Digest::of(b""), size: 0 };
        shape.add(&i.to, Entry { mode: i.mode.unwrap_or(0), uid: i.uid, gid: i.gid, content: placeholder });
        files.insert(i.to.trim_start_matches('/').to_string(), (i.from.clone().unwrap_or_default(), i.mode));
    }
    (shape, files)
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

/// The result of a scoped thread; a panic in it continues in the caller.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn store_open(path: &Path, sha: Digest) -> Result<crate::digest::VerifyingReader<std::fs::File>> {
    Ok(crate::digest::VerifyingReader::new(std::fs::File::open(path).at(path)?, sha, path.display().to_string()))
}

/// The image's own directories: volumes and workdir, owned by the image user so the container
/// can write there even with a read-only root filesystem.
fn image_tree(img: &Image) -> Tree {
    let mut t = Tree::default();
    let (s, u) = (&img.service, img.service.user);
    for v in s.state_dirs.iter().chain(s.workdir.iter()) {
        t.add(v, Entry { mode: 0o750, uid: u.uid, gid: u.gid, content: Content::Dir });
    }
    t
}
