//! Property tests of the unpack policy over generated archives (tar and zip, built with the
//! helpers of `tests.rs`): member paths drawn from `a`, `b`, `.`, `..`, empty components, `/`
//! prefixes and trailing slashes, with duplicates spelled other ways, symlinks and hard links to
//! generated targets, and directories. Every result is a named refusal or a member map whose
//! keys are normalized and unique, and whose links stay inside the root.

use super::path::normalize;
use super::tests::{dir, file, fixture, hardlink, symlink, tar_of, Entry, Fixture};
use super::*;
use proptest::prelude::*;
use std::io::Write as _;

/// The most symlinks followed while resolving one path (Linux's limit).
const MAX_HOPS: usize = 40;

/// An entry as generated, before it is written in one format or another.
#[derive(Clone, Debug)]
enum Gen {
    File(String),
    Dir(String),
    Symlink(String, String),
    HardLink(String, String),
}

impl Gen {
    fn path(&self) -> &str {
        match self {
            Gen::File(p) | Gen::Dir(p) | Gen::Symlink(p, _) | Gen::HardLink(p, _) => p,
        }
    }

    fn with_path(&self, p: String) -> Gen {
        match self {
            Gen::File(_) => Gen::File(p),
            Gen::Dir(_) => Gen::Dir(p),
            Gen::Symlink(_, t) => Gen::Symlink(p, t.clone()),
            Gen::HardLink(_, t) => Gen::HardLink(p, t.clone()),
        }
    }

    fn tar_entry(&self) -> Entry {
        match self {
            Gen::File(p) => file(p, 0o644, p.as_bytes()),
            Gen::Dir(p) => dir(p),
            Gen::Symlink(p, t) => symlink(p, t),
            Gen::HardLink(p, t) => hardlink(p, t),
        }
    }
}

/// Mostly plain names, sometimes `.`, `..` or an empty component.
fn component() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "a", "b", "b", "c", ".", "..", ""])
}

/// A path as an archive may spell it: an optional `./` or `/` prefix, 1 to 3 components, an
/// optional trailing slash.
fn raw_path() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec!["", "", "", "./", "/"]);
    let suffix = prop::sample::select(vec!["", "", "/"]);
    (prefix, prop::collection::vec(component(), 1..4), suffix).prop_map(|(p, c, s)| format!("{p}{}{s}", c.join("/")))
}

/// A link target: relative, climbing or absolute.
fn target() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec!["", "", "../", "../../", "/"]);
    (prefix, prop::collection::vec(component(), 0..3)).prop_map(|(p, c)| format!("{p}{}", c.join("/")))
}

fn gen_entry() -> impl Strategy<Value = Gen> {
    prop_oneof![
        3 => raw_path().prop_map(Gen::File),
        2 => raw_path().prop_map(Gen::Dir),
        2 => (raw_path(), target()).prop_map(|(p, t)| Gen::Symlink(p, t)),
        1 => (raw_path(), target()).prop_map(|(p, t)| Gen::HardLink(p, t)),
    ]
}

/// Another spelling of `p`, one of four that differ from `p` and from each other: `./` before
/// it, a trailing `/` or `/.`, its slashes doubled (or `././` before it, if it has none).
fn respell(p: &str, how: u8) -> String {
    match how % 4 {
        0 => format!("./{p}"),
        1 => format!("{p}/"),
        2 => format!("{p}/."),
        _ if p.contains('/') => p.replace('/', "//"),
        _ => format!("././{p}"),
    }
}

/// 1 to 7 entries, then some of them again under another spelling.
fn archive() -> impl Strategy<Value = Vec<Gen>> {
    let again = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3);
    (prop::collection::vec(gen_entry(), 1..8), again).prop_map(|(mut entries, again)| {
        for (i, how) in again {
            let e = i.get(&entries).clone();
            entries.push(e.with_path(respell(e.path(), how)));
        }
        entries
    })
}

/// The zip of `entries` (a hard link becomes a file: zip has none), and the entries written: a
/// name zip cannot hold twice is written once.
fn zip_of(entries: &[Gen]) -> (Vec<u8>, Vec<Gen>) {
    use ::zip::write::SimpleFileOptions;
    let mut w = ::zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    let mut names = BTreeSet::new();
    let mut written = Vec::new();
    for e in entries {
        let name = match e {
            Gen::Dir(p) if !p.ends_with('/') => format!("{p}/"),
            other => other.path().to_string(),
        };
        if !names.insert(name.clone()) {
            continue;
        }
        written.push(e.clone());
        let opts = SimpleFileOptions::default();
        match e {
            Gen::File(p) | Gen::HardLink(p, _) => {
                w.start_file(name, opts.unix_permissions(0o644)).unwrap();
                w.write_all(p.as_bytes()).unwrap();
            }
            Gen::Dir(_) => w.add_directory(name, opts.unix_permissions(0o755)).unwrap(),
            Gen::Symlink(_, t) => w.add_symlink(name, t, opts).unwrap(),
        }
    }
    (w.finish().unwrap().into_inner(), written)
}

/// Where `target`, read from directory `dir` of `tree`, lands when every symlink of `tree` is
/// followed the way the kernel does (an absolute target from the tree's root): None if it
/// leaves the root. A loop stops after [`MAX_HOPS`] without leaving.
fn lands(tree: &BTreeMap<String, Member>, dir: &str, target: &str) -> Option<String> {
    let mut at: Vec<String> = if target.starts_with('/') { Vec::new() } else { split(dir) };
    let mut todo: Vec<String> = split(target).into_iter().rev().collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => {}
            ".." => {
                at.pop()?;
            }
            _ => {
                at.push(c);
                if let Some(MemberKind::Symlink { target: t }) = tree.get(&at.join("/")).map(|m| &m.kind) {
                    hops += 1;
                    if hops > MAX_HOPS {
                        break;
                    }
                    at.pop();
                    if t.starts_with('/') {
                        at.clear();
                    }
                    todo.extend(split(t).into_iter().rev());
                }
            }
        }
    }
    Some(at.join("/"))
}

fn split(p: &str) -> Vec<String> {
    p.split('/').filter(|c| !c.is_empty()).map(str::to_string).collect()
}

/// The checks every member map passes: keys normalized, relative, non-empty and each its
/// member's path; nothing lies under a non-directory; links stay inside the root; hard links
/// name regular files of the map.
fn check_map(tree: &BTreeMap<String, Member>) -> Result<(), TestCaseError> {
    for (key, m) in tree {
        prop_assert_eq!(normalize(key), Ok(key.clone()));
        prop_assert!(!key.is_empty() && key == &m.path, "{key:?} / {:?}", m.path);
        let mut p = key.as_str();
        while let Some((up, _)) = p.rsplit_once('/') {
            let kind = tree.get(up).map(|m| &m.kind);
            prop_assert!(matches!(kind, None | Some(MemberKind::Dir)), "{key} lies under {up}: {kind:?}");
            p = up;
        }
        match &m.kind {
            MemberKind::Symlink { target } => {
                let dir = key.rsplit_once('/').map_or("", |(d, _)| d);
                prop_assert!(lands(tree, dir, target).is_some(), "{key} -> {target} leaves the root: {tree:#?}");
            }
            MemberKind::Hardlink { target } => {
                let kind = tree.get(target).map(|m| &m.kind);
                prop_assert!(matches!(kind, Some(MemberKind::File { .. })), "{key} => {target}: {kind:?}");
            }
            _ => {}
        }
    }
    Ok(())
}

/// The checks every refusal passes: it names the archive.
fn check_refusal(err: &UnpackError) -> Result<(), TestCaseError> {
    prop_assert!(err.to_string().contains(NAME), "{err}");
    Ok(())
}

const NAME: &str = "https://example.org/pkg-v1.tar";

/// Whether some entry of `entries` lies outside the root by its path alone.
fn outside(entries: &[Gen]) -> bool {
    entries.iter().any(|e| normalize(e.path()).is_err())
}

/// How many entries of `entries` normalize to `path`.
fn spellings(entries: &[Gen], path: &str) -> usize {
    entries.iter().filter(|e| normalize(e.path()).as_deref() == Ok(path)).count()
}

/// Picks members: the normalized paths of some entries (the root aside).
fn wanted_of(entries: &[Gen], pick: &[prop::sample::Index]) -> Vec<String> {
    let mut w: Vec<String> =
        pick.iter().filter_map(|i| normalize(i.get(entries).path()).ok()).filter(|p| !p.is_empty()).collect();
    w.sort();
    w.dedup();
    w
}

fn picked(
    f: &Fixture,
    bytes: &[u8],
    format: Format,
    wanted: &[String],
) -> Result<BTreeMap<String, Member>, UnpackError> {
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    f.unpack(bytes, format, &wanted, Limits::default())
}

/// Member picking: a named refusal, or exactly the wanted regular files, each spelled once.
fn check_picked(
    entries: &[Gen],
    wanted: &[String],
    got: &Result<BTreeMap<String, Member>, UnpackError>,
) -> Result<(), TestCaseError> {
    match got {
        Err(e) => check_refusal(e),
        Ok(members) => {
            prop_assert!(!outside(entries), "an entry outside the root was not refused");
            prop_assert_eq!(members.keys().collect::<Vec<_>>(), wanted.iter().collect::<Vec<_>>());
            for (path, m) in members {
                prop_assert!(matches!(m.kind, MemberKind::File { .. }), "{path}: {:?}", m.kind);
                prop_assert_eq!(spellings(entries, path), 1, "{} is in the archive more than once", path);
            }
            check_map(members)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn picked_tar_members_are_normalized_unique_files(
        entries in archive(),
        pick in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
    ) {
        let wanted = wanted_of(&entries, &pick);
        let tar: Vec<Entry> = entries.iter().map(Gen::tar_entry).collect();
        let got = picked(&fixture(), &tar_of(&tar), Format::Tar, &wanted);
        check_picked(&entries, &wanted, &got)?;
    }

    #[test]
    fn picked_zip_members_are_normalized_unique_files(
        entries in archive(),
        pick in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
    ) {
        let wanted = wanted_of(&entries, &pick);
        let (zip, written) = zip_of(&entries);
        let got = picked(&fixture(), &zip, Format::Zip, &wanted);
        check_picked(&written, &wanted, &got)?;
    }

    #[test]
    fn whole_trees_are_normalized_and_keep_links_inside(entries in archive()) {
        let tar: Vec<Entry> = entries.iter().map(Gen::tar_entry).collect();
        match fixture().tree(&tar, &Specials::default(), BTreeMap::new()) {
            Err(e) => check_refusal(&e)?,
            Ok(tree) => {
                prop_assert!(!outside(&entries), "an entry outside the root was not refused");
                for key in tree.keys() {
                    prop_assert_eq!(spellings(&entries, key), 1, "{} is in the archive more than once", key);
                }
                check_map(&tree)?;
            }
        }
    }

    /// One member spelled two ways is one member twice, in every format and mode.
    #[test]
    fn a_member_spelled_two_ways_is_a_duplicate(
        parts in prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..4),
        how in (any::<u8>(), any::<u8>()),
    ) {
        let path = parts.join("/");
        let one = if how.0 % 5 == 4 { path.clone() } else { respell(&path, how.0) };
        let two = respell(&path, how.0 % 4 + 1 + how.1 % 3);
        let entries = [Gen::File(one), Gen::File(two)];
        let tar: Vec<Entry> = entries.iter().map(Gen::tar_entry).collect();
        let wanted = [path.clone()];
        let mut results = vec![
            picked(&fixture(), &tar_of(&tar), Format::Tar, &wanted),
            fixture().tree(&tar, &Specials::default(), BTreeMap::new()),
        ];
        // In a zip, a name ending in `/` is a directory's: the file is spelled otherwise there.
        if !entries.iter().any(|e| e.path().ends_with('/')) {
            results.push(picked(&fixture(), &zip_of(&entries).0, Format::Zip, &wanted));
        }
        for got in results {
            prop_assert!(matches!(&got, Err(UnpackError::Duplicate { path: p, .. }) if *p == path), "{got:?}");
        }
    }
}
