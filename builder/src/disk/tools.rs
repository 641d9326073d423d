//! The external programs whose version shapes the disk's bytes, all of e2fsprogs: `mke2fs` makes
//! the root filesystem, `debugfs` sets its capabilities and times, `dumpe2fs` tells which inodes
//! are in use. [`Tools::detect`] reads their versions once per build; they are part of the disk's
//! key (the same inputs made by other tools are another disk) and recorded in image-info.json.
//! A missing program, or one older than e2fsprogs 1.47, is one error naming the package.

use super::ext4;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The programs, in name order.
pub const PROGRAMS: [&str; 3] = ["debugfs", "dumpe2fs", "mke2fs"];

/// The oldest e2fsprogs (major, minor) whose output lpbake pins (`no_copy_xattrs`,
/// `E2FSPROGS_FAKE_TIME`, the dumpe2fs bitmaps it reads).
const OLDEST: (u32, u32) = (1, 47);

/// Program name -> the version it reports, e.g. `mke2fs` -> `1.47.0 (5-Feb-2023), EXT2FS Library
/// 1.47.0`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tools(pub BTreeMap<String, String>);

impl Tools {
    /// Asks each of [`PROGRAMS`] for its version (`-V`).
    pub fn detect() -> Result<Tools> {
        PROGRAMS.iter().map(|p| Ok((p.to_string(), version_of(p)?))).collect::<Result<_>>().map(Tools)
    }
}

/// `program -V`, parsed and checked.
fn version_of(program: &str) -> Result<String> {
    let fix = "install e2fsprogs 1.47 or later (`apt-get install e2fsprogs`, or `make deps`)";
    let out = match ext4::tool(program, 0).arg("-V").output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Output(format!("{program} is not installed (it writes the disk)\n  fix: {fix}")))
        }
        Err(e) => return Err(Error::Output(format!("running `{program} -V`: {e}\n  fix: {fix}"))),
    };
    // e2fsprogs prints its version on stderr.
    let text = String::from_utf8_lossy(&out.stderr);
    match parse(program, &text).filter(|_| out.status.success()) {
        Some((version, number)) if number >= OLDEST => Ok(version),
        Some((version, _)) => {
            Err(Error::Output(format!("{program} {version} is too old to write the disk\n  fix: {fix}")))
        }
        None => Err(Error::Output(format!(
            "`{program} -V` printed no version ({}): {}\n  fix: {fix}",
            out.status,
            text.trim()
        ))),
    }
}

/// `mke2fs 1.47.0 (5-Feb-2023)` and `\tUsing EXT2FS Library version 1.47.0` as
/// `1.47.0 (5-Feb-2023), EXT2FS Library 1.47.0`, with (1, 47).
fn parse(program: &str, text: &str) -> Option<(String, (u32, u32))> {
    let mut lines = text.lines().map(str::trim);
    let version = lines.next()?.strip_prefix(program)?.strip_prefix(' ')?;
    let mut numbers = version.split(|c: char| !c.is_ascii_digit());
    let number = (numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?);
    let library = lines.find_map(|l| l.strip_prefix("Using EXT2FS Library version "));
    let full = match library {
        Some(lib) => format!("{version}, EXT2FS Library {lib}"),
        None => version.to_string(),
    };
    Some((full, number))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_e2fsprogs_prints() {
        let text = "mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version 1.47.0\n";
        assert_eq!(parse("mke2fs", text), Some(("1.47.0 (5-Feb-2023), EXT2FS Library 1.47.0".into(), (1, 47))));
        assert_eq!(parse("debugfs", "debugfs 1.46.5 (30-Dec-2021)\n"), Some(("1.46.5 (30-Dec-2021)".into(), (1, 46))));
        assert_eq!(parse("mke2fs", "mkfs.ext4 1.47.0 (5-Feb-2023)\n"), None);
        assert_eq!(parse("mke2fs", "usage: mke2fs\n"), None);
    }

    #[test]
    fn the_installed_tools_are_found_and_a_missing_one_is_named() {
        let tools = Tools::detect().unwrap();
        assert_eq!(tools.0.keys().map(String::as_str).collect::<Vec<_>>(), PROGRAMS);
        assert!(tools.0.values().all(|v| v.contains("EXT2FS Library")), "{tools:?}");
        let err = version_of("lpbake-no-such-mke2fs").unwrap_err().to_string();
        assert!(err.contains("lpbake-no-such-mke2fs is not installed") && err.contains("make deps"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any version parses to itself and its (major, minor).
        #[test]
        fn any_version_parses(major in 0u32..100, minor in 0u32..100, patch in 0u32..100, lib in "[0-9.]{1,8}") {
            let text = format!("dumpe2fs {major}.{minor}.{patch} (1-Jan-2030)\n\tUsing EXT2FS Library version {lib}\n");
            let want = format!("{major}.{minor}.{patch} (1-Jan-2030), EXT2FS Library {lib}");
            prop_assert_eq!(parse("dumpe2fs", &text), Some((want, (major, minor))));
        }
    }
}
