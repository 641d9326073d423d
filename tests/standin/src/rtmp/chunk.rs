//! The RTMP chunk stream: reassembling messages from chunks, and writing messages as chunks.

use std::collections::HashMap;
use std::io::{self, Read, Write};

/// Largest message the stand-in accepts; a guard against garbage lengths.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// One complete RTMP message.
#[derive(Debug, PartialEq)]
pub struct Message {
    pub type_id: u8,
    pub stream_id: u32,
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

/// Per chunk-stream state, so headers of type 1-3 can reuse the previous values.
#[derive(Default)]
struct ChunkStream {
    timestamp: u32,
    delta: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
    extended: bool,
    partial: Vec<u8>,
}

/// Reads messages from the chunk stream of a peer.
pub struct ChunkReader<R> {
    inner: R,
    chunk_size: usize,
    streams: HashMap<u32, ChunkStream>,
}

impl<R: Read> ChunkReader<R> {
    pub fn new(inner: R) -> Self {
        ChunkReader { inner, chunk_size: 128, streams: HashMap::new() }
    }

    /// Applies the peer's Set Chunk Size.
    pub fn set_chunk_size(&mut self, size: usize) {
        self.chunk_size = size.clamp(1, MAX_MESSAGE);
    }

    /// Applies the peer's Abort Message: drops the partial message of that chunk stream.
    pub fn abort(&mut self, csid: u32) {
        if let Some(cs) = self.streams.get_mut(&csid) {
            cs.partial.clear();
        }
    }

    fn bytes<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b)?;
        Ok(b)
    }

    fn u24(&mut self) -> io::Result<u32> {
        let [a, b, c] = self.bytes::<3>()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// Reads chunks until one message is complete.
    pub fn read_message(&mut self) -> io::Result<Message> {
        loop {
            let [first] = self.bytes::<1>()?;
            let fmt = first >> 6;
            let csid = match first & 0x3f {
                0 => 64 + self.bytes::<1>()?[0] as u32,
                1 => {
                    let [lo, hi] = self.bytes::<2>()?;
                    64 + lo as u32 + 256 * hi as u32
                }
                n => n as u32,
            };
            let mut cs = self.streams.remove(&csid).unwrap_or_default();
            if fmt < 3 {
                cs.partial.clear(); // headers of type 0-2 always start a new message
            }
            let starting = cs.partial.is_empty();
            match fmt {
                0 => {
                    let ts = self.u24()?;
                    cs.length = self.u24()? as usize;
                    cs.type_id = self.bytes::<1>()?[0];
                    cs.stream_id = u32::from_le_bytes(self.bytes::<4>()?);
                    cs.extended = ts == 0xFF_FFFF;
                    cs.timestamp = if cs.extended { u32::from_be_bytes(self.bytes::<4>()?) } else { ts };
                    cs.delta = 0;
                }
                1 | 2 => {
                    let delta = self.u24()?;
                    if fmt == 1 {
                        cs.length = self.u24()? as usize;
                        cs.type_id = self.bytes::<1>()?[0];
                    }
                    cs.extended = delta == 0xFF_FFFF;
                    cs.delta = if cs.extended { u32::from_be_bytes(self.bytes::<4>()?) } else { delta };
                    cs.timestamp = cs.timestamp.wrapping_add(cs.delta);
                }
                _ => {
                    if cs.extended {
                        self.bytes::<4>()?; // type-3 chunks repeat the extended timestamp
                    }
                    if starting {
                        cs.timestamp = cs.timestamp.wrapping_add(cs.delta);
                    }
                }
            }
            if cs.length > MAX_MESSAGE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "RTMP message too large"));
            }
            let want = (cs.length - cs.partial.len()).min(self.chunk_size);
            let start = cs.partial.len();
            cs.partial.resize(start + want, 0);
            self.inner.read_exact(&mut cs.partial[start..])?;
            let done = cs.partial.len() == cs.length;
            let message = done.then(|| Message {
                type_id: cs.type_id,
                stream_id: cs.stream_id,
                timestamp: cs.timestamp,
                payload: std::mem::take(&mut cs.partial),
            });
            self.streams.insert(csid, cs);
            if let Some(message) = message {
                return Ok(message);
            }
        }
    }
}

/// Writes `payload` as one message on chunk stream `csid` (below 64), split at `chunk_size`.
pub fn write_message<W: Write>(
    out: &mut W,
    csid: u8,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
    chunk_size: usize,
) -> io::Result<()> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut buf = vec![csid & 0x3f, 0, 0, 0, len[1], len[2], len[3], type_id];
    buf.extend_from_slice(&stream_id.to_le_bytes());
    for (i, chunk) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            buf.push(0xc0 | (csid & 0x3f));
        }
        buf.extend_from_slice(chunk);
    }
    out.write_all(&buf)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_chunking() {
        let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        write_message(&mut wire, 3, 20, 1, &payload, 128).unwrap();
        write_message(&mut wire, 3, 9, 1, b"video", 128).unwrap();
        let mut reader = ChunkReader::new(&wire[..]);
        let first = reader.read_message().unwrap();
        assert_eq!((first.type_id, first.stream_id, first.payload), (20, 1, payload));
        assert_eq!(reader.read_message().unwrap().payload, b"video");
    }

    #[test]
    fn compressed_headers_reuse_state() {
        // fmt 0 (ts 10, len 2, type 9, stream 1), then fmt 2 (delta 5) and fmt 3 on chunk stream 4.
        let mut wire = vec![0x04, 0, 0, 10, 0, 0, 2, 9, 1, 0, 0, 0, b'a', b'b'];
        wire.extend_from_slice(&[0x84, 0, 0, 5, b'c', b'd']);
        wire.extend_from_slice(&[0xc4, b'e', b'f']);
        let mut reader = ChunkReader::new(&wire[..]);
        let got: Vec<(u32, Vec<u8>)> =
            (0..3).map(|_| reader.read_message().unwrap()).map(|m| (m.timestamp, m.payload)).collect();
        assert_eq!(got, vec![(10, b"ab".to_vec()), (15, b"cd".to_vec()), (20, b"ef".to_vec())]);
    }

    #[test]
    fn larger_chunk_size_applies() {
        let payload = vec![7u8; 1000];
        let mut wire = Vec::new();
        write_message(&mut wire, 5, 8, 1, &payload, 4096).unwrap();
        let mut reader = ChunkReader::new(&wire[..]);
        reader.set_chunk_size(4096);
        assert_eq!(reader.read_message().unwrap().payload.len(), 1000);
    }
}
