//! .deb reader: an ar archive whose `data.tar[.gz|.xz|.zst]` member holds the package's files;
//! the other members (debian-binary, control.tar.*) are passed over unread.

use super::tar::{self, Compression};
use super::{Collector, UnpackError, BUF};
use std::io::{BufReader, Read};

/// Walks the ar archive in `input` to its end, unpacking its one data.tar member.
pub(crate) fn read<R: Read>(input: R, c: &mut Collector) -> Result<(), UnpackError> {
    let mut archive = ar::Archive::new(input);
    let mut data = false;
    let mut others = Vec::new();
    while let Some(member) = archive.next_entry() {
        let member = member.map_err(|e| c.read_error(e))?;
        let id = String::from_utf8_lossy(member.header().identifier()).into_owned();
        let compression = match id.as_str() {
            "data.tar" => Compression::None,
            "data.tar.gz" => Compression::Gz,
            "data.tar.xz" => Compression::Xz,
            "data.tar.zst" => Compression::Zst,
            _ => {
                if others.len() < 20 {
                    others.push(id);
                }
                continue;
            }
        };
        if data {
            return Err(c.corrupt(format!("a second data member `{id}`: a .deb has exactly one")));
        }
        data = true;
        tar::read(BufReader::with_capacity(BUF, member), compression, c)?;
    }
    if !data {
        return Err(UnpackError::DebWithoutData { archive: c.name.into(), found: others });
    }
    Ok(())
}
