//! The one error type of the library. Every variant says what went wrong, where (file, URL or
//! image), and what the operator can do about it; `main` prints it and exits non-zero.

use crate::digest::HashMismatch;
use crate::unpack::UnpackError;
use lpbake_rules::read::ReadError;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec or lock file is malformed or inconsistent.
    #[error("{file}{}: {msg}\n  fix: {fix}", line.map(|l| format!(":{l}")).unwrap_or_default(), file = file.display())]
    Config { file: PathBuf, line: Option<usize>, msg: String, fix: String },

    /// A pinned input is missing from the lock while `--locked` or `--offline` forbids resolving it.
    #[error("{lock}: {msg}\n  fix: {fix}", lock = lock.display())]
    Lock { lock: PathBuf, msg: String, fix: String },

    /// Bytes do not match their pin.
    #[error("{0}\n  fix: if the upstream file really changed, re-pin it with `lpbake lock --update`; otherwise delete the bad copy (cache or mirror) and fetch it again")]
    Mismatch(HashMismatch),

    /// Downloading or reading an input failed.
    #[error("fetching {what}: {msg}\n  fix: {fix}")]
    Fetch { what: String, msg: String, fix: String },

    /// Publishing to a registry failed.
    #[error("pushing to {what}: {msg}\n  fix: {fix}")]
    Push { what: String, msg: String, fix: String },

    #[error(transparent)]
    Unpack(#[from] UnpackError),

    /// A root filesystem layer would write through a symlink or a file of the layer below.
    #[error(transparent)]
    Overlay(#[from] crate::stage::OverlayError),

    /// The Docker engine is unreachable or refused a request.
    #[error("{msg}\n  fix: {fix}")]
    Engine { msg: String, fix: String },

    #[error("{}: {source}{}", path.display(), io_fix(path, source))]
    Io { path: PathBuf, source: std::io::Error },

    /// A file a user named (or one in a directory lpbake does not own) was refused by the one
    /// bounded reader: not a regular file, larger than its bound, not UTF-8. Never an io error
    /// (those are [`Error::Io`], with its fixes). The message names the file and the fix.
    #[error(transparent)]
    Read(ReadError),

    /// A build output is missing something asked for, or does not match what the spec and lock
    /// produce (`lpbake verify`). The message carries its own fix.
    #[error("{0}")]
    Output(String),
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        // A hash mismatch found while streaming surfaces as an io::Error: keep it recognisable.
        if let Some(m) = source.get_ref().and_then(|e| e.downcast_ref::<HashMismatch>()) {
            return Error::Mismatch(m.clone());
        }
        // So is a bounded reader's refusal (a file that grew past its bound while read).
        match source.downcast::<ReadError>() {
            Ok(refused) => Error::from(refused),
            Err(source) => Error::Io { path: path.as_ref().to_path_buf(), source },
        }
    }

    pub fn config(file: impl AsRef<Path>, line: Option<usize>, msg: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Config { file: file.as_ref().to_path_buf(), line, msg: msg.into(), fix: fix.into() }
    }
}

impl From<ReadError> for Error {
    /// An io error keeps the fixes of [`Error::Io`]; a refusal carries its own.
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io { path, source } => Error::io(path, source),
            refused => Error::Read(refused),
        }
    }
}

/// The fix for the io errors an operator can act on.
fn io_fix(path: &Path, e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let fix = match e.kind() {
        StorageFull => format!(
            "free space on the filesystem holding {} (or point --out / --cache-dir elsewhere); the previous output is untouched",
            path.display()
        ),
        PermissionDenied => format!("make {} writable for this user, or choose another --out / --cache-dir", path.display()),
        _ => return String::new(),
    };
    format!("\n  fix: {fix}")
}

/// Adds the path to an io::Error.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_errors_keep_their_fixes_and_name_the_file_once() {
        // An io error is Error::Io, with its fixes.
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = Error::from(ReadError::Io { path: "/x/lpbake.lock".into(), source: denied });
        assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("fix: make /x/lpbake.lock writable"), "{e}");
        // A refusal is itself, also when it reached the caller as an io error (a file that grew
        // past its bound while read).
        let grew = ReadError::TooLarge { path: "/x/blob".into(), size: 5, max: 4 };
        let e = Error::io("/x/blob", grew.into_io());
        assert!(matches!(e, Error::Read(ReadError::TooLarge { .. })), "{e:?}");
        let msg = e.to_string();
        assert!(msg.matches("/x/blob").count() == 1 && msg.contains("fix:"), "{msg}");
    }
}
