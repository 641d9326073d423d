//! Block-parallel gzip (the pigz scheme): the stream is cut into fixed 1 MiB blocks, deflated
//! [`BATCH`] at a time, each on its own thread with the previous 32 KiB as its dictionary and
//! ended with a sync flush. The bytes depend only on the input and the level, never on the
//! number of threads or cores, and form one ordinary gzip member (mtime 0, no file name) that
//! any gunzip reads.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::io::{self, Write};

const BLOCK: usize = 1 << 20;
const WINDOW: usize = 32 * 1024;
/// Blocks compressed at once, whatever the number of cores: two threads per layer, as fast as
/// four on the two-core machines lpbake is measured on, with less memory. A build
/// compresses its components' layers concurrently, so more cores are still used.
const BATCH: usize = 2;
/// Fixed header: magic, deflate, no flags, mtime 0, no extra flags, OS "unknown".
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A gzip writer that compresses [`BATCH`] blocks at a time, each on its own thread.
pub struct ParGzWriter<W: Write> {
    out: W,
    level: u32,
    crc: Crc,
    /// Full blocks waiting for a batch, and the block being filled.
    pending: Vec<Vec<u8>>,
    current: Vec<u8>,
    /// The end of the last compressed block: the next block's dictionary.
    tail: Vec<u8>,
}

impl<W: Write> ParGzWriter<W> {
    pub fn new(mut out: W, level: u32) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        Ok(ParGzWriter {
            out,
            level,
            crc: Crc::new(),
            pending: Vec::with_capacity(BATCH),
            current: Vec::with_capacity(BLOCK),
            tail: Vec::new(),
        })
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.current);
        self.pending.push(last);
        self.compress_pending(true)?;
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.out)
    }

    fn compress_pending(&mut self, finish: bool) -> io::Result<()> {
        let blocks = std::mem::take(&mut self.pending);
        let n = blocks.len();
        let level = self.level;
        let tail = std::mem::take(&mut self.tail);
        let compressed: Vec<io::Result<Vec<u8>>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..n)
                .map(|i| {
                    let dict: &[u8] = if i == 0 { &tail } else { window(&blocks[i - 1]) };
                    let block = &blocks[i];
                    let last = finish && i == n - 1;
                    s.spawn(move || deflate(block, dict, last, level))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|_| Err(io::Error::other("deflate thread panicked"))))
                .collect()
        });
        for c in compressed {
            self.out.write_all(&c?)?;
        }
        if let Some(b) = blocks.last() {
            self.tail = window(b).to_vec();
        }
        Ok(())
    }
}

/// The last 32 KiB of `block` (all of it when shorter).
fn window(block: &[u8]) -> &[u8] {
    &block[block.len().saturating_sub(WINDOW)..]
}

/// Raw deflate of one block, primed with `dict`, ended with a sync flush (or the final block).
fn deflate(block: &[u8], dict: &[u8], last: bool, level: u32) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    let mut out = Vec::with_capacity(block.len() / 2 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        let status = c.compress_vec(&block[consumed..], &mut out, flush).map_err(io::Error::other)?;
        let done = c.total_in() as usize == block.len()
            && match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                // A sync flush is complete once deflate had room to spare.
                _ => out.len() < out.capacity(),
            };
        if done {
            return Ok(out);
        }
        out.reserve(out.capacity().max(64 * 1024));
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BLOCK - self.current.len());
        self.current.extend_from_slice(&data[..n]);
        self.crc.update(&data[..n]);
        if self.current.len() == BLOCK {
            let full = std::mem::replace(&mut self.current, Vec::with_capacity(BLOCK));
            self.pending.push(full);
            if self.pending.len() == BATCH {
                self.compress_pending(false)?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut w = ParGzWriter::new(Vec::new(), 6).unwrap();
        // Odd write sizes, so block boundaries fall inside writes.
        for chunk in data.chunks(77_777) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 12345;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                // Half compressible text, half noise.
                if (i / 4096) % 2 == 0 {
                    b"livepeer transcodes video "[i % 26]
                } else {
                    (x >> 16) as u8
                }
            })
            .collect()
    }

    #[test]
    fn round_trips_through_gunzip_at_every_size() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, BATCH * BLOCK, BATCH * BLOCK + 3, 9 * BLOCK + 12345] {
            let data = sample(len);
            let z = gz(&data);
            assert_eq!(&z[..10], &HEADER);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&z[..]).read_to_end(&mut back).unwrap();
            assert!(back == data, "round trip failed at {len} bytes");
            // gzip itself accepts it (crc and length trailer included).
            let mut child = std::process::Command::new("gzip")
                .args(["-t", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("gzip is installed");
            child.stdin.take().unwrap().write_all(&z).unwrap();
            assert!(child.wait().unwrap().success(), "gzip -t rejected {len} bytes");
        }
    }

    #[test]
    fn output_is_deterministic_and_close_to_serial_gzip() {
        let data = sample(6 * BLOCK + 999);
        let a = gz(&data);
        assert_eq!(a, gz(&data));
        let mut serial = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap();
        assert!(a.len() as f64 <= serial.len() as f64 * 1.01, "parallel {} vs serial {}", a.len(), serial.len());
    }
}
