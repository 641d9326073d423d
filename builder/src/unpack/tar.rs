//! Tar reader (plain, gzip, xz, zstd): walks a tar stream entry by entry and hands each to the
//! [`Collector`]; also reads the data.tar inside a .deb.

use super::{Collector, DeviceKind, Kind, Meta, UnpackError};
use ::tar::EntryType;
use std::io::{BufRead, Read};

/// How the tar stream is compressed. Every decompressor reads concatenated streams.
pub(crate) enum Compression {
    None,
    Gz,
    Xz,
    Zst,
}

/// What errors call the bytes that follow the tar end-of-archive marker.
const TRAILER: &str = "(data after the end of the tar archive)";

/// Walks the tar in `input`, then reads the stream to its end (so decompressors check their
/// trailers and the caller's digest check sees every byte), counting that rest against the limits.
pub(crate) fn read<R: BufRead>(input: R, compression: Compression, c: &mut Collector) -> Result<(), UnpackError> {
    match compression {
        Compression::None => walk(input, c),
        Compression::Gz => walk(flate2::bufread::MultiGzDecoder::new(input), c),
        Compression::Xz => walk(xz2::bufread::XzDecoder::new_multi_decoder(input), c),
        Compression::Zst => walk(zstd::stream::read::Decoder::with_buffer(input).map_err(|e| c.read_error(e))?, c),
    }
}

fn walk<R: Read>(input: R, c: &mut Collector) -> Result<(), UnpackError> {
    let mut archive = ::tar::Archive::new(input);
    for entry in archive.entries().map_err(|e| c.read_error(e))? {
        let mut entry = entry.map_err(|e| c.read_error(e))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let declared = entry.size();
        let header = entry.header();
        let number = |n: std::io::Result<Option<u32>>| n.map(Option::unwrap_or_default).map_err(|e| c.read_error(e));
        let device = |kind| {
            Ok::<_, UnpackError>(Kind::Device(kind, number(header.device_major())?, number(header.device_minor())?))
        };
        // An owner field left empty (some writers do) reads as 0, root, as GNU tar reads it.
        let id = |n: std::io::Result<u64>, what: &str| {
            u32::try_from(n.unwrap_or(0)).map_err(|_| c.corrupt(format!("entry `{raw}` has a {what} above 2^32")))
        };
        let h = Meta {
            mode: header.mode().map_err(|e| c.read_error(e))?,
            uid: id(header.uid(), "uid")?,
            gid: id(header.gid(), "gid")?,
            size: declared,
        };
        let link = || entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
        let kind = match header.entry_type() {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink(link()),
            EntryType::Link => Kind::HardLink(link()),
            EntryType::Char => device(DeviceKind::Char)?,
            EntryType::Block => device(DeviceKind::Block)?,
            EntryType::Fifo => Kind::Device(DeviceKind::Fifo, 0, 0),
            EntryType::XGlobalHeader => {
                c.count(&raw, declared)?;
                continue;
            }
            other => Kind::Special(format!("tar entry of unsupported type `{}`", other.as_byte().escape_ascii())),
        };
        let is_file = matches!(kind, Kind::File);
        match c.check(&raw, kind, h)? {
            Some(pending) => c.store(pending, &mut entry)?,
            None if is_file => c.skip(&raw, declared, &mut entry)?,
            None => {}
        }
    }
    c.skip(TRAILER, 0, &mut archive.into_inner())
}
