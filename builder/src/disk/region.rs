//! A window of a file (one partition of the disk image) seen as a whole device: reads, writes and
//! seeks are relative to its start and cannot leave it, so a filesystem library formats the
//! partition in place.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

pub struct Region<'a> {
    file: &'a File,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> Region<'a> {
    pub fn new(file: &'a File, start: u64, len: u64) -> Self {
        Region { file, start, len, pos: 0 }
    }

    /// How many of `want` bytes fit from the current position.
    fn room(&self, want: usize) -> usize {
        (self.len.saturating_sub(self.pos)).min(want as u64) as usize
    }
}

impl Read for Region<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        let n = self.file.read_at(&mut buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Region<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "write past the end of the partition"));
        }
        let n = self.file.write_at(&buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Region<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(n) if n <= self.len => {
                self.pos = n;
                Ok(n)
            }
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "seek outside the partition")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inside_its_window() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(16).unwrap();
        let mut r = Region::new(&f, 4, 8);
        assert_eq!(r.seek(SeekFrom::End(0)).unwrap(), 8);
        r.seek(SeekFrom::Start(6)).unwrap();
        assert_eq!(r.write(b"abcd").unwrap(), 2);
        assert!(r.write(b"cd").is_err());
        assert!(r.seek(SeekFrom::Current(1)).is_err());
        let mut all = vec![0u8; 16];
        f.read_at(&mut all, 0).unwrap();
        assert_eq!(&all[10..12], b"ab");
        assert_eq!(all.iter().filter(|&&b| b != 0).count(), 2);
    }
}
