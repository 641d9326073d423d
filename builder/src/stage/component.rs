//! The trees of the spec: a component's installed files (from its source's members) and an
//! image's own directories; the guard that refuses key material in them, by name before
//! anything is fetched and by content once the files are unpacked; and the rule that a
//! component replaces what its base provides only where an install says `replace = true`.

use super::{secrets, Content, Entry, Layer, OverlayError, Tree};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::spec::{Component, Image};
use crate::store::BlobStore;
use crate::unpack::Member;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const NO_KEYS: &str = "never bake keys or passwords into an image: drop this install and provide the file at run time (a volume, or systemd LoadCredential=)";

/// Stops the build if `comp` would install a file whose destination name looks like key material.
pub fn refuse_secret_names(comp: &Component) -> Result<()> {
    for i in &comp.install {
        if let Some(why) = secrets::looks_secret(&i.to) {
            return Err(Error::config(
                &comp.file,
                None,
                format!("component `{}` puts {} into the image: it looks like {why}", comp.name, i.to),
                NO_KEYS,
            ));
        }
    }
    Ok(())
}

/// Stops the build if a file of `tree` (the tree of `comp`) holds key material, whatever its name.
pub fn refuse_key_material(comp: &Component, tree: &Tree, store: &BlobStore) -> Result<()> {
    let Some((path, why)) = secrets::key_material_in(tree, store, secrets::Elf::Judged).at(store.root())? else {
        return Ok(());
    };
    let from = comp.install.iter().find(|i| i.to.trim_start_matches('/') == path).and_then(|i| i.from.as_deref());
    let source = match from {
        Some(member) => format!("member `{member}` of {}", comp.source.origin()),
        None => comp.source.origin(),
    };
    Err(Error::config(
        &comp.file,
        None,
        format!("component `{}` puts /{path} (from {source}) into the image: its content is {why}", comp.name),
        NO_KEYS,
    ))
}

/// Stops the build if the layer of `comp` would change what its image's base (`base`, from
/// [`crate::base::Base::tree`]) provides: the rule of the disk's [`Tree::overlay`] (nothing under
/// a base symlink or file; a base entry replaced only where the install says `replace = true`),
/// and, since a directory of an OCI layer replaces the base's, no directory of the layer (a
/// parent of an install) with another mode or owner than the base's.
pub fn refuse_over_base(comp: &Component, base: &Tree) -> Result<()> {
    let (shape, _) = shape_of(comp);
    base.check_overlay(&shape, Layer::Component(comp))?;
    for (path, e) in shape.entries.iter().filter(|(_, e)| e.content == Content::Dir) {
        let Some(b) = base.entries.get(path).filter(|b| b.content == Content::Dir) else { continue };
        if (b.mode, b.uid, b.gid) != (e.mode, e.uid, e.gid) {
            return Err(Error::config(
                &comp.file,
                None,
                format!(
                    "component `{}`: its layer would make the base's directory /{path} mode {:o} owned by {}:{} \
                     (the base has {:o}, {}:{})",
                    comp.name, e.mode, e.uid, e.gid, b.mode, b.uid, b.gid
                ),
                "install into a directory the base has as root-owned 0755 (e.g. /usr/local/bin), or into one it does not have",
            ));
        }
    }
    Ok(())
}

/// Refuses `comp` installing at `path` (relative to `/`) over what the base has there (`below`,
/// in words), unless that install says `replace = true`.
pub(super) fn may_replace(comp: &Component, path: &str, below: &str) -> Result<(), OverlayError> {
    let install = comp.install.iter().find(|i| i.to.trim_start_matches('/') == path);
    if install.is_some_and(|i| i.replace) {
        return Ok(());
    }
    Err(OverlayError::Replaces {
        file: comp.file.clone(),
        line: install.map(|i| i.line),
        component: comp.name.clone(),
        path: path.to_string(),
        below: below.to_string(),
    })
}

/// Everything the tree of `comp` depends on, given its pinned source `sha`: the key its layer
/// is cached under, known before the source is read.
pub fn inputs(comp: &Component, sha: Digest) -> Value {
    let install: Vec<Value> = comp
        .install
        .iter()
        .map(|i| json!({ "from": i.from, "to": i.to, "mode": i.mode, "uid": i.uid, "gid": i.gid }))
        .collect();
    json!({ "source": sha, "kind": format!("{:?}", comp.source.kind()), "install": install })
}

/// The files `comp` installs, given its unpacked members.
pub fn tree_of(comp: &Component, members: &BTreeMap<String, Member>) -> Tree {
    let mut tree = Tree::default();
    for i in &comp.install {
        let m = &members[i.from.as_deref().unwrap_or_default()];
        tree.add(&i.to, Entry::new(i.mode.unwrap_or(m.mode & 0o777), i.uid, i.gid, Content::of(&m.kind)));
    }
    tree
}

/// The tree of `comp` before its members are read: its directories, and for each file the
/// archive member it comes from and its explicit mode (sizes and other modes come later).
pub fn shape_of(comp: &Component) -> (Tree, BTreeMap<String, (String, Option<u32>)>) {
    let mut shape = Tree::default();
    let mut files = BTreeMap::new();
    for i in &comp.install {
        let placeholder = Content::File { blob: Digest::of(b""), size: 0 };
        shape.add(&i.to, Entry::new(i.mode.unwrap_or(0), i.uid, i.gid, placeholder));
        files.insert(i.to.trim_start_matches('/').to_string(), (i.from.clone().unwrap_or_default(), i.mode));
    }
    (shape, files)
}

/// The image's own directories: volumes and workdir, owned by the image user so the container
/// can write there even with a read-only root filesystem.
pub fn image_tree(img: &Image) -> Tree {
    let mut t = Tree::default();
    let (service, user) = (&img.service, img.service.user);
    for v in service.state_dirs.iter().chain(service.workdir.iter()) {
        t.add(v, Entry::new(0o750, user.uid, user.gid, Content::Dir));
    }
    t
}
