//! The rules for values a spec file writes that are not names: numeric ids (`install.owner`,
//! `image.user`), absolute paths inside an image, and member paths inside an archive
//! (`install.from`, by the one normalization of member paths in `unpack/path.rs`).

use crate::unpack::path::{normalize, Outside};

/// The largest id a spec may write: 65535 and 4294967295 mean "no id" to 16- and 32-bit
/// interfaces (`(uid_t)-1` leaves an owner unchanged), and rootless engines map 65536 ids.
const MAX_ID: u32 = 65534;

/// Whose ids a "uid:gid" value gives; each has its own lower bound and fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ids {
    /// The owner of an installed file: 0..=[`MAX_ID`], root included.
    Owner,
    /// The user an image runs as: 1..=[`MAX_ID`] for both, neither root nor root's group.
    User,
}

impl Ids {
    /// How to write a value that passes.
    pub(super) fn fix(self) -> &'static str {
        match self {
            Ids::Owner => "write numeric ids in 0..=65534 as \"uid:gid\", e.g. \"0:0\"",
            Ids::User => "run the image as a numeric user and group in 1..=65534, e.g. \"65532:65532\"",
        }
    }
}

/// "uid:gid", both decimal ids in range for `who`.
pub(super) fn parse_ids(s: &str, who: Ids) -> Result<(u32, u32), String> {
    let (u, g) = s.split_once(':').ok_or_else(|| format!("`{s}` is not uid:gid"))?;
    let num = |x: &str| -> Result<u32, String> {
        if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{x}` in `{s}` is not a numeric id"));
        }
        x.parse::<u32>().ok().filter(|&id| id <= MAX_ID).ok_or_else(|| {
            format!(
                "`{x}` in `{s}` is out of range: ids are 0..={MAX_ID} (65535 and 4294967295 mean \"no id\", \
                 and rootless engines map only 65536 ids)"
            )
        })
    };
    let (uid, gid) = (num(u)?, num(g)?);
    if who == Ids::User {
        if uid == 0 {
            return Err(format!("`{s}` is root (uid 0)"));
        }
        if gid == 0 {
            return Err(format!("`{s}` has group 0, root's group, which may reach what only root's group should"));
        }
    }
    Ok((uid, gid))
}

/// An absolute path with no empty, `.` or `..` components and no trailing slash.
pub(super) fn check_abs_path(p: &str) -> Result<(), String> {
    let rest = p.strip_prefix('/').ok_or_else(|| format!("`{p}` is not absolute"))?;
    if rest.is_empty() || rest.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!("`{p}` is not a normalized path"));
    }
    Ok(())
}

/// The archive member `raw` names, normalized as the unpack normalizes every entry (so that
/// `x/./y` matches the entry `x/y`): a member, not the root, inside the archive.
pub(super) fn member_path(raw: &str) -> Result<String, String> {
    match normalize(raw) {
        Ok(p) if p.is_empty() => Err(format!("`{raw}` names the archive root, not a member")),
        Ok(p) => Ok(p),
        Err(Outside::Absolute) => {
            Err(format!("`{raw}` is absolute, and member paths are relative to the archive root"))
        }
        Err(Outside::ParentDir) => Err(format!("`{raw}` has a `..` component, which would climb out of the archive")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_in_range_and_users_are_not_root() {
        assert_eq!(parse_ids("0:0", Ids::Owner), Ok((0, 0)));
        assert_eq!(parse_ids("65534:65534", Ids::Owner), Ok((65534, 65534)));
        assert_eq!(parse_ids("65532:65532", Ids::User), Ok((65532, 65532)));
        for (bad, who, what) in [
            ("65535:65535", Ids::User, "out of range"),
            ("1:65535", Ids::Owner, "out of range"),
            ("4294967295:1", Ids::Owner, "out of range"),
            ("99999999999:1", Ids::Owner, "out of range"),
            ("0:1", Ids::User, "root (uid 0)"),
            ("65532:0", Ids::User, "group 0"),
            ("+1:1", Ids::Owner, "not a numeric id"),
            (":1", Ids::Owner, "not a numeric id"),
            ("1", Ids::Owner, "not uid:gid"),
        ] {
            let err = parse_ids(bad, who).unwrap_err();
            assert!(err.contains(what), "{bad}: {err}");
        }
    }

    #[test]
    fn member_paths_are_normalized_or_refused() {
        assert_eq!(member_path("./x/./y/"), Ok("x/y".to_string()));
        for (bad, what) in [("./", "archive root"), ("/x", "absolute"), ("x/../y", "`..`")] {
            let err = member_path(bad).unwrap_err();
            assert!(err.contains(what), "{bad}: {err}");
        }
    }
}
