//! Member paths: the one normalization of a path inside an archive, applied before anything
//! compares, matches or stores it.

/// Strips a leading "./" (repeatedly) and trailing "/"; "." is the root, "".
pub(super) fn normalize(raw: &str) -> String {
    let mut p = raw;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    if p == "." {
        p = "";
    }
    p.trim_end_matches('/').to_string()
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
