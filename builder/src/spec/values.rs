//! The rules for values a spec file writes that are not names: numeric owners and absolute
//! paths inside an image.

/// "uid:gid" with numeric ids.
pub(super) fn parse_ids(s: &str) -> std::result::Result<(u32, u32), String> {
    let (u, g) = s.split_once(':').ok_or_else(|| format!("`{s}` is not uid:gid"))?;
    let num = |x: &str| x.parse::<u32>().map_err(|_| format!("`{x}` in `{s}` is not a numeric id"));
    Ok((num(u)?, num(g)?))
}

/// An absolute path with no empty, `.` or `..` components and no trailing slash.
pub(super) fn check_abs_path(p: &str) -> std::result::Result<(), String> {
    let rest = p.strip_prefix('/').ok_or_else(|| format!("`{p}` is not absolute"))?;
    if rest.is_empty() || rest.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!("`{p}` is not a normalized path"));
    }
    Ok(())
}
