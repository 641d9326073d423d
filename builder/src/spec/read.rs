//! Reading spec files through the one bounded reader ([`lpbake_rules::read`]): only regular
//! files, judged on the opened file (a FIFO or a link to a device named `*.toml` is refused, not
//! read), at most [`MAX_SPEC_BYTES`]; and the names taken from the spec that become paths (image
//! and component names from file stems, credential names) are checked before anything is
//! written under them.

use crate::error::{Error, Result};
use std::path::Path;

/// Largest spec file read; real ones are a few KiB.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// The text of the spec file `path`, if it is a regular UTF-8 file of at most [`MAX_SPEC_BYTES`].
pub fn bounded_text(path: &Path) -> Result<String> {
    Ok(lpbake_rules::read::text(path, MAX_SPEC_BYTES)?)
}

/// Whether `name` may become a path component: `^[a-z0-9][a-z0-9_.-]*$`, at most 64 bytes,
/// with no `..` in it.
pub fn is_path_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
        && name.len() <= 64
        && !name.contains("..")
}

/// The image/component name a spec file gives, from its file stem.
pub fn name_of(file: &Path) -> Result<String> {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if !is_path_name(stem) {
        return Err(Error::config(
            file,
            None,
            format!("`{stem}` is not a valid image or component name (it names output files and directories)"),
            "rename the file to lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit and without `..`, e.g. livepeer.toml",
        ));
    }
    Ok(stem.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_names() {
        for ok in ["livepeer", "ffmpeg", "go-livepeer", "a.b_c", "0x"] {
            assert!(is_path_name(ok), "{ok}");
        }
        for bad in ["", "..", ".", ".hidden", "a..b", "A", "a/b", "a b", "-x", "_x", &"a".repeat(65)] {
            assert!(!is_path_name(bad), "{bad}");
        }
    }
}
