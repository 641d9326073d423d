//! Zip reader (owners are not recorded: 0): zip needs to seek, so the file's sha256 is checked first in one streaming pass;
//! then the central directory is walked, reading content only for symlink targets and wanted
//! files. Zip sizes can lie: the [`Collector`] counts the bytes actually read.

use super::{Collector, DeviceKind, Kind, Meta, UnpackError, BUF};
use crate::digest::{Digest, VerifyingReader};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};

const S_IFMT: u32 = 0o170000;
const S_IFIFO: u32 = 0o010000;
const S_IFCHR: u32 = 0o020000;
const S_IFDIR: u32 = 0o040000;
const S_IFBLK: u32 = 0o060000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFSOCK: u32 = 0o140000;

/// The longest symlink target read (Linux's PATH_MAX).
const MAX_TARGET: u64 = 4096;

/// Checks `file` against `expected`, then walks every entry of the zip.
pub(crate) fn read(mut file: File, expected: Digest, c: &mut Collector) -> Result<(), UnpackError> {
    VerifyingReader::new(BufReader::with_capacity(BUF, &mut file), expected, c.name)
        .drain()
        .map_err(|e| c.read_error(e))?;
    file.rewind().map_err(|e| c.read_error(e))?;
    let zip_error = |c: &Collector, e: ::zip::result::ZipError| c.read_error(io::Error::from(e));
    let mut archive = ::zip::ZipArchive::new(BufReader::with_capacity(BUF, file)).map_err(|e| zip_error(c, e))?;
    for i in 0..archive.len() {
        let (raw, unix, is_dir, declared) = {
            let meta = archive.by_index_data(i).map_err(|e| zip_error(c, e))?;
            let raw = meta.name().map_err(|e| zip_error(c, e))?.into_owned();
            // The high 16 bits of the external attributes are a unix mode when set.
            let unix = Some(meta.external_attributes() >> 16).filter(|&m| m != 0);
            (raw, unix, meta.is_dir(), meta.size())
        };
        let kind = match unix.map_or(0, |m| m & S_IFMT) {
            S_IFDIR => Kind::Dir,
            0 | S_IFREG if is_dir => Kind::Dir,
            0 | S_IFREG => Kind::File,
            S_IFLNK => {
                let mut target = Vec::new();
                let mut entry = archive.by_index(i).map_err(|e| zip_error(c, e))?;
                entry.by_ref().take(MAX_TARGET + 1).read_to_end(&mut target).map_err(|e| c.read_error(e))?;
                if target.len() as u64 > MAX_TARGET {
                    return Err(c.corrupt(format!("symlink `{raw}` has a target longer than {MAX_TARGET} bytes")));
                }
                Kind::Symlink(String::from_utf8_lossy(&target).into_owned())
            }
            // Zip records no device numbers: such an entry cannot be taken even where allowed.
            S_IFCHR => Kind::Special("character device".into()),
            S_IFBLK => Kind::Special("block device".into()),
            S_IFIFO => Kind::Device(DeviceKind::Fifo, 0, 0),
            S_IFSOCK => Kind::Special("socket".into()),
            other => Kind::Special(format!("zip entry of unknown type {other:o}")),
        };
        let mode = unix.map_or(if matches!(kind, Kind::Dir) { 0o755 } else { 0o644 }, |m| m & 0o7777);
        if let Some(pending) = c.check(&raw, kind, Meta { mode, uid: 0, gid: 0, size: declared })? {
            let mut entry = archive.by_index(i).map_err(|e| zip_error(c, e))?;
            c.store(pending, &mut entry)?;
        }
    }
    Ok(())
}
