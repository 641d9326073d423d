//! Member paths: the one normalization of a path inside an archive, applied before anything
//! compares, matches or stores it: by every format reader (through the collector), by
//! whole-tree mode, and by the spec for `install.from`.

/// Why a member path cannot be normalized: it would land outside the archive root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outside {
    /// It starts with `/`.
    Absolute,
    /// One of its components is `..`.
    ParentDir,
}

/// The normalized form of the member path `raw`: empty and `.` components dropped (so `./a`,
/// `a//b`, `a/./b` and `a/b/` are `a`, `a/b`, `a/b`, `a/b`); "" is the archive root. Absolute
/// paths and `..` components are refused, never resolved.
pub(crate) fn normalize(raw: &str) -> Result<String, Outside> {
    if raw.starts_with('/') {
        return Err(Outside::Absolute);
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(Outside::ParentDir),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// The most symlinks followed while resolving one path, as Linux (beyond: ELOOP).
const MAX_HOPS: usize = 40;

/// Where `target`, read from directory `dir` (normalized), lands when the symlinks `link_at`
/// gives (normalized path -> target as recorded) are followed as the kernel follows them, each
/// component in turn: None if it leaves the root. An absolute target, also one met on the way,
/// starts from the root when `absolute` holds and leaves it otherwise. A loop stops inside, after
/// [`MAX_HOPS`] links.
pub(super) fn land<'a>(
    dir: &str,
    target: &str,
    absolute: bool,
    link_at: impl Fn(&str) -> Option<&'a str>,
) -> Option<String> {
    let starts = |t: &str, at: &mut Vec<String>| {
        if t.starts_with('/') {
            at.clear();
            absolute.then_some(())
        } else {
            Some(())
        }
    };
    // The directory is walked too: links on its way count.
    let path = if target.starts_with('/') || dir.is_empty() { target.to_string() } else { format!("{dir}/{target}") };
    let mut at: Vec<String> = Vec::new();
    starts(&path, &mut at)?;
    // Components still to walk, the next one last.
    let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "" | "." => {}
            ".." => {
                at.pop()?;
            }
            _ => {
                at.push(c);
                let Some(link) = link_at(&at.join("/")) else { continue };
                hops += 1;
                if hops > MAX_HOPS {
                    break;
                }
                at.pop();
                starts(link, &mut at)?;
                todo.extend(link.split('/').rev().map(str::to_string));
            }
        }
    }
    Some(at.join("/"))
}

/// The directory part of a normalized path ("" at the root).
pub(super) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Whether `path` lies strictly inside directory `dir` ("" is the root).
pub(super) fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// The last component of a normalized path.
pub(super) fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn spellings_of_one_path_are_one_path() {
        for raw in ["a/b", "a//b", "a/./b", "./a/./b/", "././a/b//", "a/b/."] {
            assert_eq!(normalize(raw), Ok("a/b".to_string()), "{raw}");
        }
        for root in ["", ".", "./", ".//.", "./././"] {
            assert_eq!(normalize(root), Ok(String::new()), "{root}");
        }
        assert_eq!(normalize("/a"), Err(Outside::Absolute));
        assert_eq!(normalize("//a/b"), Err(Outside::Absolute));
        for climbing in ["..", "a/../b", "./../a", "a/b/..", "a/..//"] {
            assert_eq!(normalize(climbing), Err(Outside::ParentDir), "{climbing}");
        }
    }

    #[test]
    fn links_land_where_the_kernel_puts_them() {
        let links: BTreeMap<&str, &str> = [("a", "."), ("usr/lib64", "lib"), ("loop", "loop"), ("abs", "/usr")].into();
        let land = |dir, target, absolute| land(dir, target, absolute, |p| links.get(p).copied());
        assert_eq!(land("x", "../usr/lib64/ld.so", false), Some("usr/lib/ld.so".into()));
        // `a` is the root itself: read lexically `a/../etc` stays inside, it does not.
        assert_eq!(land("", "a/../etc", false), None);
        assert_eq!(land("", "abs/bin", true), Some("usr/bin".into()));
        assert_eq!(land("", "abs/bin", false), None);
        assert_eq!(land("", "/etc", false), None);
        assert!(land("", "loop/x", true).is_some(), "a loop stops inside");
        // The link's own directory is walked through its links too.
        assert_eq!(land("a", "../etc", false), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A normalized path is relative, has no empty, `.` or `..` component, is its own
        /// normalization, and is what every other spelling of it normalizes to.
        #[test]
        fn normalization_is_canonical(
            parts in prop::collection::vec(prop::sample::select(vec!["a", "b", "c.d", ".", "..", ""]), 0..6),
        ) {
            let raw = parts.join("/");
            match normalize(&raw) {
                Ok(p) => {
                    prop_assert!(!p.starts_with('/') && !p.ends_with('/'), "{p}");
                    prop_assert!(p.is_empty() || p.split('/').all(|c| !matches!(c, "" | "." | "..")), "{p}");
                    prop_assert_eq!(normalize(&p), Ok(p.clone()));
                    prop_assert_eq!(normalize(&format!("./{raw}/")), Ok(p.clone()));
                    prop_assert_eq!(normalize(&raw.replace('/', "//")), Ok(p));
                }
                Err(Outside::ParentDir) => prop_assert!(parts.contains(&"..")),
                Err(Outside::Absolute) => prop_assert!(raw.starts_with('/')),
            }
        }
    }
}
