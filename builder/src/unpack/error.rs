//! Why an archive was not unpacked: one error per refusal, each naming the archive, the entry
//! and what the operator can do about it.

use crate::digest::HashMismatch;
use std::io;
use std::path::PathBuf;

/// Why an archive was not unpacked. `archive` is the name the caller gave (e.g. the URL).
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{archive}: cannot open {}: {source}", path.display())]
    Open { archive: String, path: PathBuf, source: io::Error },

    #[error(
        "{archive}: corrupt or truncated archive: {source}; check that the declared format matches \
         the file, or delete the cached copy and fetch it again"
    )]
    Corrupt { archive: String, source: io::Error },

    #[error(
        "{}: sha256 mismatch: expected {}, got {}; the file changed upstream or in the cache: \
         fetch it again, or, if the new content is trusted, update its pin with `lpbake lock`",
        .0.what, .0.expected, .0.actual
    )]
    Mismatch(HashMismatch),

    #[error(
        "{archive}: entry `{path}` has a `..` component and would land outside the unpack root; \
         refusing the whole archive: check that the pinned URL is the genuine upstream release"
    )]
    ParentDir { archive: String, path: String },

    #[error(
        "{archive}: entry `{path}` has an absolute path; refusing the whole archive: check that the \
         pinned URL is the genuine upstream release"
    )]
    Absolute { archive: String, path: String },

    #[error(
        "{archive}: {link} `{path}` -> `{target}` points outside the archive root; refusing the \
         whole archive: check that the pinned URL is the genuine upstream release"
    )]
    LinkEscapes { archive: String, path: String, link: &'static str, target: String },

    #[error(
        "{archive}: entry `{path}` is a {kind}; lpbake takes only files, directories and links \
         from archives (device nodes and fifos only in a whole-tree unpack, under directories the \
         spec allows): refusing the whole archive, use an archive without such entries"
    )]
    Special { archive: String, path: String, kind: String },

    #[error(
        "{archive} (cached as {}): holds `{path}` more than once, so which copy is meant is \
         ambiguous; refusing the whole archive: use an archive with one copy of each path (report \
         it upstream), or pin a release that has one", file.display()
    )]
    Duplicate { archive: String, file: PathBuf, path: String },

    #[error(
        "{archive}: entry `{path}` lies under `{under}`, which the archive has as a {kind}, not a \
         directory; refusing the whole archive: check that the pinned URL is the genuine upstream \
         release (a well-formed tree has only directories above its entries)"
    )]
    UnderNonDir { archive: String, path: String, under: String, kind: &'static str },

    #[error(
        "{archive}: whiteout `{path}` does not name an entry; refusing the whole archive: check \
         that the pinned URL is a genuine OCI layer"
    )]
    BadWhiteout { archive: String, path: String },

    #[error(
        "{archive}: hard link `{path}` -> `{target}` does not name a regular file of the tree (missing, \
         or removed by a whiteout); refusing the whole archive: check that the pinned URL is the \
         genuine upstream release"
    )]
    DanglingHardLink { archive: String, path: String, target: String },

    #[error(
        "{archive}: entry `{path}` is larger than the limit of {limit} bytes per entry (at least \
         {size} bytes); if the archive is genuine, raise the limit (max_entry_bytes)"
    )]
    EntryTooLarge { archive: String, path: String, size: u64, limit: u64 },

    #[error(
        "{archive}: content passes the limit of {limit} bytes in total at entry `{path}`; if the \
         archive is genuine, raise the limit (max_total_bytes)"
    )]
    TotalTooLarge { archive: String, path: String, limit: u64 },

    #[error(
        "{archive}: more than {limit} entries (at entry `{path}`); if the archive is genuine, \
         raise the limit (max_entries)"
    )]
    TooManyEntries { archive: String, path: String, limit: u64 },

    #[error("{archive}: has no member `{path}`; {}", missing_hint(.candidates, *.same_name))]
    Missing { archive: String, path: String, candidates: Vec<String>, same_name: bool },

    #[error(
        "{archive}: wanted member `{path}` is a hard link to `{target}`, and hard links are not \
         supported as members: select `{target}` instead"
    )]
    HardLinkWanted { archive: String, path: String, target: String },

    #[error(
        "{archive}: wanted member `{path}` is a symlink to `{target}`, and a symlink installed alone \
         would dangle: select `{resolved}` instead"
    )]
    SymlinkWanted { archive: String, path: String, target: String, resolved: String },

    #[error(
        "{archive}: wanted member `{path}` is a directory, and installs take files: install its files \
         one by one, one [[component.install]] each"
    )]
    DirWanted { archive: String, path: String },

    #[error(
        "{archive}: a .deb needs a data.tar, data.tar.gz, data.tar.xz or data.tar.zst member, \
         found only [{}]; check that the file is a Debian package", .found.join(", ")
    )]
    DebWithoutData { archive: String, found: Vec<String> },

    #[error(
        "{archive}: cannot store member `{path}` in the blob store: {source}; check the free space \
         and permissions of the cache directory"
    )]
    Store { archive: String, path: String, source: io::Error },
}

fn missing_hint(candidates: &[String], same_name: bool) -> String {
    let list = candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    match (same_name, candidates.is_empty()) {
        (_, true) => "the archive has no entries: check the URL".to_string(),
        (true, false) => format!("entries with the same file name: {list}; fix the path in the spec"),
        (false, false) => {
            format!("its first entries are: {list}; fix the path in the spec (relative to the archive root)")
        }
    }
}
