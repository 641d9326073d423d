//! Bounded reads: the one way lpbake and lpwatch read a file a user names, or one in a directory
//! they do not own (a spec, a lock, a mirror, a build output, a config, a credential, a geo
//! database). The file is opened without waiting on a FIFO's writer (`O_NONBLOCK`) and judged on
//! the opened descriptor (`fstat`), so a check cannot be raced by swapping the path: only a
//! regular file of at most `max` bytes is read. A FIFO, socket, device or directory (also behind
//! a symlink) is refused before a byte is read, an oversize file before its content is read, and
//! the read itself stops after `max` bytes (a file that grows, or a `/proc` file that reports no
//! size). Memory stays bounded by `max`, and no read waits forever.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Largest config file read (lpwatch's and the collector's): real ones are a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Why a file was not read. Each message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}\n  fix: {}", path.display(), io_fix(source))]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{}: is {kind}, not a regular file; refused without reading it\n  fix: point at the file itself (a FIFO, device, socket or directory is never read)",
        path.display()
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{}: is larger than {max} bytes (it holds at least {size}), far more than such a file ever needs; refused without reading it\n  fix: check that this is the intended file",
        path.display()
    )]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{}: is not UTF-8 text\n  fix: save it as UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
}

impl ReadError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. }
            | ReadError::NotRegular { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::NotUtf8 { path } => path,
        }
    }

    /// True when the file does not exist (callers for which a missing file is normal).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// The error as an `io::Error` of the matching kind, for callers that speak io; it still
    /// names the file and the fix, and `io::Error::downcast::<ReadError>` gives it back whole.
    pub fn into_io(self) -> io::Error {
        let kind = match &self {
            ReadError::Io { source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}

/// What to do about an io error while opening or reading a file.
fn io_fix(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => "check the path: no file is there",
        io::ErrorKind::PermissionDenied => "make the file readable by the user this runs as",
        _ => "check the file and the filesystem holding it",
    }
}

/// An opened regular file, read with the bound it was opened with: reading more than `max`
/// bytes from it is an error ([`ReadError::TooLarge`] as an `io::Error`).
#[derive(Debug)]
pub struct Bounded {
    file: File,
    path: PathBuf,
    /// The size `fstat` reported when it was opened.
    size: u64,
    max: u64,
    read: u64,
}

impl Bounded {
    /// The size the file had when it was opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The opened file itself, e.g. to seek in it (its bound no longer applies: the caller
    /// reads at most [`Bounded::size`] bytes).
    pub fn into_file(self) -> File {
        self.file
    }
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte more than allowed is asked for, to tell a file at the bound from one past it.
        // Saturating: `max` may be `u64::MAX` (a file read whole, its size judged by the caller).
        let room = self.max.saturating_add(1).saturating_sub(self.read).min(buf.len() as u64) as usize;
        let n = self.file.read(&mut buf[..room])?;
        self.read += n as u64;
        if self.read > self.max {
            let e = ReadError::TooLarge { path: self.path.clone(), size: self.read, max: self.max };
            return Err(e.into_io());
        }
        Ok(n)
    }
}

/// Opens `path` for a bounded read of at most `max` bytes: a regular file (symlinks followed),
/// judged on the opened descriptor.
pub fn open(path: &Path, max: u64) -> Result<Bounded, ReadError> {
    let io = |source| ReadError::Io { path: path.to_path_buf(), source };
    // O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore the flag.
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let kind = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else {
            "not a file"
        };
        return Err(ReadError::NotRegular { path: path.to_path_buf(), kind });
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), size: meta.len(), max });
    }
    Ok(Bounded { file, path: path.to_path_buf(), size: meta.len(), max, read: 0 })
}

/// The whole content of `path`, a regular file of at most `max` bytes.
pub fn bytes(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let mut f = open(path, max)?;
    let mut out = Vec::with_capacity(f.size() as usize);
    match f.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(_) if f.read > f.max => Err(ReadError::TooLarge { path: path.to_path_buf(), size: f.read, max }),
        Err(source) => Err(ReadError::Io { path: path.to_path_buf(), source }),
    }
}

/// The UTF-8 text of `path`, a regular file of at most `max` bytes.
pub fn text(path: &Path, max: u64) -> Result<String, ReadError> {
    String::from_utf8(bytes(path, max)?).map_err(|_| ReadError::NotUtf8 { path: path.to_path_buf() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn regular_files_are_read_up_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(bytes(&p, 10).unwrap(), b"0123456789");
        assert_eq!(text(&p, 100).unwrap(), "0123456789");
        let e = bytes(&p, 9).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { size: 10, max: 9, .. }), "{e}");
        assert!(e.to_string().contains("fix:"), "{e}");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(matches!(text(&p, 10), Err(ReadError::NotUtf8 { .. })));
        assert!(bytes(&dir.path().join("missing"), 10).unwrap_err().is_not_found());
    }

    #[test]
    fn specials_are_refused_before_any_read_and_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let started = Instant::now();
        for (p, kind) in [
            (fifo.as_path(), "a FIFO"),
            (Path::new("/dev/zero"), "a character device"),
            (link.as_path(), "a character device"),
            (dir.path(), "a directory"),
        ] {
            match bytes(p, 1 << 20) {
                Err(ReadError::NotRegular { kind: k, .. }) => assert_eq!(k, kind, "{}", p.display()),
                other => panic!("{}: {other:?}", p.display()),
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5), "a refusal waited");
    }

    #[test]
    fn io_errors_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let e = bytes(&missing, 10).unwrap_err();
        assert!(e.is_not_found() && e.path() == missing, "{e}");
        let msg = e.to_string();
        assert!(msg.contains(&missing.display().to_string()) && msg.contains("fix: check the path"), "{msg}");
    }

    #[test]
    fn as_io_an_error_keeps_its_kind_its_file_and_its_fix() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let e = bytes(&missing, 10).unwrap_err().into_io();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(msg.contains(&missing.display().to_string()) && msg.contains("fix:"), "{msg}");
        assert!(e.downcast::<ReadError>().is_ok_and(|e| e.is_not_found()));
    }

    #[test]
    fn a_refusal_read_as_io_comes_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let mut f = open(&p, 100).unwrap();
        f.max = 4;
        let e = f.read_to_end(&mut Vec::new()).unwrap_err();
        match e.downcast::<ReadError>() {
            Ok(ReadError::TooLarge { size: 5, max: 4, path }) => assert_eq!(path, p),
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// A regular file is read whole when it fits the bound, and refused, unread, when not
        /// (bounds around the file's size, where an off-by-one would show, and at the top of the
        /// range, where `u64::MAX` means "read it whole" and an overflow would read nothing).
        #[test]
        fn a_file_is_read_exactly_when_it_fits(
            content in proptest::collection::vec(0u8.., 0..2048), delta in -2i64..=2, at_top: bool
        ) {
            let max = if at_top { u64::MAX - delta.unsigned_abs() } else { (content.len() as i64 + delta).max(0) as u64 };
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("f");
            std::fs::write(&p, &content).unwrap();
            match bytes(&p, max) {
                Ok(read) => proptest::prop_assert!(content.len() as u64 <= max && read == content),
                Err(ReadError::TooLarge { size, max: m, .. }) => {
                    proptest::prop_assert!(size == content.len() as u64 && m == max && size > max)
                }
                Err(e) => proptest::prop_assert!(false, "{e}"),
            }
        }

        /// A file that grows after it was opened (and judged) is read no further than the bound.
        #[test]
        fn a_growing_file_is_read_no_further_than_the_bound(
            first in 0usize..1024, more in 1usize..65536, room in 0u64..2048
        ) {
            use std::io::Write;
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("f");
            std::fs::write(&p, vec![b'a'; first]).unwrap();
            let max = first as u64 + room;
            let mut f = open(&p, max).unwrap();
            std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(&vec![b'b'; more]).unwrap();
            let mut got = Vec::new();
            let read = f.read_to_end(&mut got);
            proptest::prop_assert!(f.read <= max.saturating_add(1), "read {} bytes from the file, past a bound of {max}", f.read);
            proptest::prop_assert!(got.len() as u64 <= max, "handed on {} bytes past a bound of {max}", got.len());
            proptest::prop_assert_eq!(read.is_ok(), (first + more) as u64 <= max);
        }
    }

    #[test]
    fn a_file_without_a_size_is_still_bounded() {
        // /proc files report size 0 and still have content: the read stops at the bound.
        let e = bytes(Path::new("/proc/self/maps"), 16).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { size: 17, max: 16, .. }), "{e}");
    }
}
