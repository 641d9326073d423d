//! The disk target of `lpbake build`: the appliance's root filesystem and its disk images, in
//! OUT/disk/. The root filesystem is the base component's whole tree (unpacked from its verified
//! archive), the files of the components its services run, and the rendered configuration
//! ([`crate::render`]), overlaid in that order; [`crate::disk`] writes it.
//!
//! A disk is keyed by its inputs (the base pin, each component's source and installs, the
//! rendered files, the epoch, the disk format, the versions of the tools that write it), and
//! every GUID and UUID on it derives from that key: an unchanged disk is carried over from the
//! previous output, not rebuilt, and a changed one gets new identities.

use crate::digest::Digest;
use crate::disk::{self, DiskInput, ImageInfo};
use crate::error::{Error, IoContext, Result};
use crate::fetch::Fetcher;
use crate::lock::Lock;
use crate::render::{self, Node, SysUser};
use crate::report::Reporter;
use crate::spec::{Component, SourceKind, Spec};
use crate::stage::secrets::{key_material_in, Elf};
use crate::stage::{Content, Entry, Tree};
use crate::store::BlobStore;
use crate::unpack::{self, Limits, Specials};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// Where the disk outputs go under `--out`.
pub const DIR: &str = "disk";

/// Bumped when the same inputs would give other disk bytes.
const FORMAT: &str = "lpbake-disk-3";

/// The appliance of a spec, rendered, with the components its services run.
pub struct Plan<'a> {
    pub node: Node,
    pub base: &'a Component,
    /// The components whose files go into the root filesystem, in name order.
    pub components: Vec<&'a Component>,
    rendered: Tree,
    /// The versions of the tools that shape the disk's bytes (part of its key).
    tools: disk::Tools,
}

impl<'a> Plan<'a> {
    /// Renders the appliance of `spec` (its generated files go into `store`).
    pub fn new(spec: &'a Spec, store: &BlobStore) -> Result<Self> {
        let appliance = spec.appliance.as_ref().ok_or_else(|| {
            Error::config(
                &spec.dir,
                None,
                "the disk target needs the appliance description, and there is no appliance.toml",
                "add images/appliance.toml (see the README), or build with --target oci",
            )
        })?;
        let node = render::node(spec)?;
        let rendered = render::files(&node)?.to_stage(store)?;
        let base = &spec.components[appliance.base.as_str()];
        // Each service runs the program of the image of its name (livepeer.service: livepeer).
        let mut components: Vec<&Component> = node
            .services
            .keys()
            .filter_map(|unit| spec.images.get(unit.trim_end_matches(".service")))
            .flat_map(|img| img.components.iter().map(|c| &spec.components[c.as_str()]))
            .collect();
        components.sort_by(|a, b| a.name.cmp(&b.name));
        components.dedup_by(|a, b| a.name == b.name);
        Ok(Plan { node, base, components, rendered, tools: disk::Tools::detect()? })
    }

    /// The key of the disk's inputs; `source` gives a component's source sha256 (the lock's
    /// pin, or the workspace binary's digest).
    pub fn key(&self, epoch: u64, source: impl Fn(&Component) -> Digest) -> Digest {
        // Each component by everything its files follow from: its source and its installs (the
        // same inputs its OCI layer is cached under).
        let of = |c: &Component| crate::stage::component::inputs(c, source(c));
        let components: BTreeMap<&str, serde_json::Value> =
            self.components.iter().map(|c| (c.name.as_str(), of(c))).collect();
        let inputs = json!({
            "format": FORMAT,
            "base": of(self.base),
            "components": components,
            "rendered": Digest::of(&serde_json::to_vec(&self.rendered).expect("a tree serializes")),
            "epoch": epoch,
            "tools": self.tools,
        });
        Digest::of(inputs.to_string().as_bytes())
    }

    /// Writes the disk of `key` into `dir`: the base's tree, then each component's tree (from
    /// `component_tree`), then the rendered configuration.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &self,
        dir: &Path,
        key: Digest,
        fetcher: &Fetcher,
        lock: &Lock,
        epoch: u64,
        component_tree: impl Fn(&Component) -> Result<Tree>,
        report: &Reporter,
    ) -> Result<ImageInfo> {
        let store = fetcher.cache();
        std::fs::create_dir_all(dir).at(dir)?;
        let mut tree = base_tree(self.base, fetcher, lock, report)?;
        for comp in &self.components {
            tree.overlay(&component_tree(comp)?, crate::stage::Layer::Component(comp))?;
        }
        tree.overlay(&self.rendered, crate::stage::Layer::Rendered)?;
        add_users(&mut tree, &self.node.users, store, self.base)?;
        check_enabled_units(&tree, &self.rendered, self.base)?;
        report.step(format!("writing the disk ({} entries in the root filesystem)", tree.entries.len()));
        let version = self.components.iter().find(|c| c.name == "livepeer").map_or("0", |c| c.version.as_str());
        let input = DiskInput {
            tree: &tree,
            store,
            epoch,
            seed: key,
            root_size: None,
            name: format!("lpbake-livepeer-{version}-{}", &key.hex()[..12]),
            base: format!("{} ({})", self.base.file.display(), self.base.source.origin()),
            tools: &self.tools,
        };
        disk::write(&input, dir, report)
    }
}

/// The base component's whole tree, unpacked from its verified archive (every disk build: a
/// remembered unpack would be a cache entry that only a new unpack could check).
fn base_tree(base: &Component, fetcher: &Fetcher, lock: &Lock, report: &Reporter) -> Result<Tree> {
    let download = base.source.download().ok_or_else(|| {
        Error::config(&base.file, None, "the appliance base must be a download", "give it a [component.source] url")
    })?;
    let Some(SourceKind::Archive(format)) = base.source.kind() else {
        return Err(Error::config(
            &base.file,
            None,
            format!("the appliance base {} is not an archive", download.url),
            "point it at a root filesystem tarball (tar, tar.gz, tar.xz, tar.zst)",
        ));
    };
    let pin = lock.files[&download.url];
    let store = fetcher.cache();
    let archive = fetcher.pinned(&download.url, pin)?;
    report.step(format!("unpacking the base root filesystem {} ({})", download.file_name(), base.name));
    // A root filesystem is big: room for a full distribution, with devices only in /dev.
    let specials = Specials { under: vec!["dev".into()] };
    let members = unpack::unpack_tree(
        &archive,
        pin.sha256,
        &download.url,
        format,
        &Limits::ROOTFS,
        &specials,
        store,
        BTreeMap::new(),
    )?;
    let tree = Tree::from_members(&members);
    // No private key may ride along in the base (by content: a distribution's file names say
    // "password" harmlessly, e.g. /etc/pam.d/common-password).
    if let Some((path, why)) = key_material_in(&tree, store, Elf::Skipped).at(store.root())? {
        return Err(Error::config(
            &base.file,
            None,
            format!("the base root filesystem {} holds /{path}, which looks like {why}", download.url),
            "use a base without keys (a generic cloud root tarball has none; host keys are made at first boot)",
        ));
    }
    Ok(tree)
}

/// Adds the node's service users to the base's /etc/passwd, group, shadow and gshadow, with the
/// fixed ids the node was rendered with (a moved data volume keeps its owners). At build time,
/// not at boot: a first boot must not depend on whether the base runs systemd-sysusers.
fn add_users(tree: &mut Tree, users: &BTreeMap<String, SysUser>, store: &BlobStore, base: &Component) -> Result<()> {
    use crate::quote::passwd_field as f;
    type Line = fn(&str, &SysUser) -> crate::quote::Quoted;
    let lines: [(&str, Line); 4] = [
        ("etc/passwd", |n, u| {
            Ok(format!("{}:x:{}:{}:{}:{}:/usr/sbin/nologin", f(n)?, u.uid, u.gid, f(&u.description)?, f(&u.home)?))
        }),
        ("etc/group", |n, u| Ok(format!("{}:x:{}:", f(n)?, u.gid))),
        ("etc/shadow", |n, _| Ok(format!("{}:!*:::::::", f(n)?))),
        ("etc/gshadow", |n, _| Ok(format!("{}:!*::", f(n)?))),
    ];
    for (path, line) in lines {
        let entry = tree.entries.get(path).cloned();
        let Some(Entry { content: Content::File { blob, .. }, mode, uid, gid, .. }) = entry else {
            return Err(Error::config(
                &base.file,
                None,
                format!("the base root filesystem has no regular file /{path}"),
                "use a base with a complete /etc (a distribution's root tarball)",
            ));
        };
        let mut text = String::from_utf8_lossy(&store.read_small(&blob).at(store.path(&blob))?).into_owned();
        for (name, user) in users {
            if let Some(have) = text.lines().find(|l| l.split(':').next() == Some(name.as_str())) {
                if path == "etc/passwd" && have.split(':').nth(2) != Some(user.uid.to_string().as_str()) {
                    return Err(Error::config(
                        &base.file,
                        None,
                        format!("the base already has a user {name} with another id than {}: {have}", user.uid),
                        "use a base without that user",
                    ));
                }
                continue;
            }
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            let fix = "name users and homes without `:` or control characters";
            text.push_str(&line(name, user).map_err(|e| e.at(&base.file, &format!("/{path}"), fix))?);
            text.push('\n');
        }
        let e = Entry::generated(store, text.as_bytes(), mode, uid, gid).at(store.root())?;
        tree.entries.insert(path.to_string(), e);
    }
    Ok(())
}

/// Every unit the rendered configuration enables (a `*.wants/` link) exists in the final tree,
/// e.g. chrony.service and nftables.service come from the base.
fn check_enabled_units(tree: &Tree, rendered: &Tree, base: &Component) -> Result<()> {
    for (path, e) in &rendered.entries {
        let Content::Symlink { target } = &e.content else { continue };
        if path.contains(".wants/") && resolve(tree, target).is_none() {
            return Err(Error::config(
                &base.file,
                None,
                format!("the appliance enables {target}, which the root filesystem does not have"),
                "use a base that has the package of that unit installed (chrony, nftables)",
            ));
        }
    }
    Ok(())
}

/// The entry at absolute `path` in `tree`, following symlinks (at most 40, as the kernel does).
fn resolve<'t>(tree: &'t Tree, path: &str) -> Option<&'t Entry> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path.split('/').rev().filter(|c| !c.is_empty()).map(String::from).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => parts.push(c),
        }
        let e = tree.entries.get(&parts.join("/"))?;
        if let Content::Symlink { target } = &e.content {
            hops += 1;
            if hops > 40 {
                return None;
            }
            parts.pop();
            if target.starts_with('/') {
                parts.clear();
            }
            todo.extend(target.split('/').rev().filter(|c| !c.is_empty()).map(String::from));
        }
    }
    tree.entries.get(&parts.join("/"))
}
