//! The planner of `lpbake build`: turns each image of the spec into a [`Built`] (manifest, config,
//! SBOM, layers), building only the layers that are not in the cache. A cached layer is looked
//! up by a key of its inputs (spec and pins, not the unpacked files, so a warm build reads no
//! archive) and passes cheap checks on every use; before an image that changed is written, each
//! cached layer it uses is checked in full against its tree, unpacked again from the verified
//! source archive, and rebuilt if it is not that tree's layer.

use crate::base::Base;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fetch::{Fetcher, ImageRef};
use crate::layer::{Layer, Layerer, Piece};
use crate::lock::Lock;
use crate::oci::config::{self as image, LayerRef};
use crate::output::Built;
use crate::report::Reporter;
use crate::spec::{Component, Download, Image, SourceKind, Spec};
use crate::stage::{component, Tree};
use crate::unpack::{self, Limits, Member, MemberKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Turns one image of the spec into a [`Built`], building only layers not in the cache.
pub(super) struct Planner<'a> {
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
    /// The tree of each base image read so far, by its layers.
    base_trees: Mutex<BTreeMap<String, std::sync::Arc<Tree>>>,
}

/// Where the tree of a cached layer comes from, to check the layer against it.
#[derive(Clone)]
enum TreeOf<'a> {
    Component(&'a Component),
    Tree(Tree),
}

impl<'a> Planner<'a> {
    /// A planner of `spec`'s images from `lock`'s pins, with its layer cache and the workspace
    /// binaries built before.
    pub(super) fn new(
        spec: &'a Spec,
        lock: &'a Lock,
        fetcher: &'a Fetcher,
        report: &'a Reporter,
        layerer: Layerer,
        binaries: &'a BTreeMap<String, crate::workspace::Built>,
    ) -> Self {
        Planner {
            spec,
            lock,
            fetcher,
            report,
            layerer,
            binaries,
            unchecked: Mutex::default(),
            trusted: Mutex::default(),
            base_trees: Mutex::default(),
        }
    }

    /// The layer of every component the images use, each component on its own thread, so that
    /// one source's unpacking overlaps another's compression.
    pub(super) fn component_layers(&self, images: &[&Image]) -> Result<BTreeMap<String, LayerRef>> {
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

    /// Checks in full the cached layers used by the images about to be written; a layer that is
    /// not its tree's is dropped from the cache and rebuilt. True if one was: the images must be
    /// planned again.
    pub(super) fn recheck<'b>(&self, written: impl Iterator<Item = &'b Built>) -> Result<bool> {
        let written: BTreeSet<Digest> = written.flat_map(|b| b.layers.iter().map(|(d, _)| *d)).collect();
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

    pub(super) fn plan(&self, img: &Image, components: &BTreeMap<String, LayerRef>) -> Result<Built> {
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

    /// Puts the layers of `img`'s base into the cache (fetched, or checked whole if there), and
    /// refuses a component of `img` whose layer would change what the base provides
    /// ([`component::refuse_over_base`]; the tree of each base is read once per build).
    pub(super) fn base_layers(&self, img: &Image) -> Result<()> {
        let base = self.base(img)?;
        let Some(image) = &base.image else { return Ok(()) };
        for l in &base.layers {
            self.fetcher.image_blob(image, l.digest, l.size)?;
        }
        let key = base.layers.iter().map(|l| l.digest.hex()).collect::<Vec<_>>().join(",");
        let known = lock(&self.base_trees).get(&key).cloned();
        let tree = match known {
            Some(t) => t,
            None => {
                let t = std::sync::Arc::new(base.tree(self.fetcher.cache())?);
                lock(&self.base_trees).insert(key, t.clone());
                t
            }
        };
        for c in &img.components {
            component::refuse_over_base(&self.spec.components[c.as_str()], &tree)?;
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
    pub(super) fn unpacked(&self, comp: &Component, stream: bool) -> Result<(Tree, Option<Layer>)> {
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
    pub(super) fn source_sha256(&self, comp: &Component) -> Digest {
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
        let path = self.fetcher.pinned(&src.url, self.lock.files[&src.url])?;
        let limits = Limits {
            max_entry_bytes: src.max_entry_bytes.unwrap_or(Limits::default().max_entry_bytes),
            ..Limits::default()
        };
        let url = &src.url;
        if !stream {
            self.report.step(format!("unpacking {} ({})", src.file_name(), comp.name));
            return Ok((unpack::unpack(&path, sha, url, format, &wanted, &limits, store)?, None));
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
        Ok((members?, layer?))
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
pub(super) fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn store_open(path: &Path, sha: Digest) -> Result<crate::digest::VerifyingReader<std::fs::File>> {
    let file = lpbake_rules::read::open(path, u64::MAX)?.into_file();
    Ok(crate::digest::VerifyingReader::new(file, sha, path.display().to_string()))
}
