//! The gateway's RTMP ingest: handshake, the replies a publisher waits for (connect, createStream, publish),
//! and byte counting per stream. Media is counted and dropped: nothing is segmented or transcoded.

mod amf0;
mod chunk;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use amf0::{object, Amf};
use chunk::{write_message, ChunkReader, Message};

use crate::state::State;
use crate::{info, warn};

const HANDSHAKE_SIZE: usize = 1536;
const OUT_CHUNK_SIZE: usize = 4096;
const WINDOW: u32 = 2_500_000;

/// Accepts publishers on a background thread, one thread per connection.
pub fn serve(listener: TcpListener, state: Arc<State>) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(tcp) = conn else { continue };
            let state = state.clone();
            std::thread::spawn(move || {
                let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                if let Err(e) = Session::run(tcp, state) {
                    if e.kind() != io::ErrorKind::UnexpectedEof {
                        warn!("RTMP connection from {peer} ended: {e}");
                    }
                }
            });
        }
    });
}

/// Counts every byte read from the publisher, for the connection and for the node.
struct Counting<R> {
    inner: R,
    conn: Arc<AtomicU64>,
    state: Arc<State>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.conn.fetch_add(n as u64, Ordering::Relaxed);
        self.state.rtmp_bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

struct Session {
    out: TcpStream,
    state: Arc<State>,
    bytes: Arc<AtomicU64>,
    app: String,
    publishing: Option<String>,
    peer_window: u32,
    acked: u64,
}

impl Session {
    fn run(mut tcp: TcpStream, state: Arc<State>) -> io::Result<()> {
        handshake(&mut tcp)?;
        let bytes = Arc::new(AtomicU64::new(0));
        let reader = Counting { inner: tcp.try_clone()?, conn: bytes.clone(), state: state.clone() };
        let mut session =
            Session { out: tcp, state, bytes, app: String::new(), publishing: None, peer_window: 0, acked: 0 };
        let result = session.read_loop(&mut ChunkReader::new(reader));
        if let Some(manifest) = session.publishing.take() {
            session.end(&manifest);
        }
        result
    }

    fn read_loop<R: Read>(&mut self, reader: &mut ChunkReader<R>) -> io::Result<()> {
        loop {
            let message = reader.read_message()?;
            match message.type_id {
                1 if message.payload.len() >= 4 => {
                    let size = u32::from_be_bytes(message.payload[..4].try_into().unwrap()) & 0x7fff_ffff;
                    reader.set_chunk_size(size as usize);
                }
                2 if message.payload.len() >= 4 => {
                    reader.abort(u32::from_be_bytes(message.payload[..4].try_into().unwrap()));
                }
                4 => self.user_control(&message.payload)?,
                5 if message.payload.len() >= 4 => {
                    self.peer_window = u32::from_be_bytes(message.payload[..4].try_into().unwrap());
                }
                17 if !message.payload.is_empty() => self.command(&message, &message.payload[1..])?,
                20 => self.command(&message, &message.payload)?,
                _ => {} // audio, video, metadata and acknowledgements are only counted
            }
            self.acknowledge()?;
        }
    }

    /// Sends an Acknowledgement each time the peer's window of bytes has been received.
    fn acknowledge(&mut self) -> io::Result<()> {
        let received = self.bytes.load(Ordering::Relaxed);
        if self.peer_window > 0 && received - self.acked >= self.peer_window as u64 {
            self.acked = received;
            self.send(2, 3, 0, &(received as u32).to_be_bytes())?;
        }
        Ok(())
    }

    /// Answers a ping request (event 6) with a ping response (event 7).
    fn user_control(&mut self, payload: &[u8]) -> io::Result<()> {
        if payload.len() >= 6 && payload[..2] == [0, 6] {
            let mut pong = vec![0, 7];
            pong.extend_from_slice(&payload[2..6]);
            self.send(2, 4, 0, &pong)?;
        }
        Ok(())
    }

    fn command(&mut self, message: &Message, payload: &[u8]) -> io::Result<()> {
        let values = amf0::decode_all(payload)?;
        let name = values.first().and_then(Amf::as_str).unwrap_or_default().to_string();
        let txn = values.get(1).and_then(Amf::as_number).unwrap_or(0.0);
        match name.as_str() {
            "connect" => {
                self.app = values.get(2).and_then(|o| o.get("app")).and_then(Amf::as_str).unwrap_or_default().into();
                self.send(2, 5, 0, &WINDOW.to_be_bytes())?;
                self.send(2, 6, 0, &[WINDOW.to_be_bytes().as_slice(), &[2]].concat())?;
                self.send(2, 1, 0, &(OUT_CHUNK_SIZE as u32).to_be_bytes())?;
                self.reply(
                    0,
                    &[
                        Amf::Str("_result".into()),
                        Amf::Number(txn),
                        object(&[("fmsVer", Amf::Str("FMS/3,0,1,123".into())), ("capabilities", Amf::Number(31.0))]),
                        object(&[
                            ("level", Amf::Str("status".into())),
                            ("code", Amf::Str("NetConnection.Connect.Success".into())),
                            ("description", Amf::Str("Connection succeeded.".into())),
                            ("objectEncoding", Amf::Number(0.0)),
                        ]),
                    ],
                )
            }
            "releaseStream" | "FCPublish" => {
                self.reply(0, &[Amf::Str("_result".into()), Amf::Number(txn), Amf::Null, Amf::Undefined])
            }
            "createStream" => {
                self.reply(0, &[Amf::Str("_result".into()), Amf::Number(txn), Amf::Null, Amf::Number(1.0)])
            }
            "publish" => {
                let name = values.get(3).and_then(Amf::as_str).unwrap_or_default();
                let manifest = manifest_id(&self.app, name);
                let (level, code) =
                    if self.publishing.is_none() && self.state.start_stream(&manifest, self.bytes.clone()) {
                        info!("RTMP stream started manifestID={manifest} app={} name={name}", self.app);
                        self.publishing = Some(manifest);
                        ("status", "NetStream.Publish.Start")
                    } else {
                        warn!("RTMP publish refused: manifestID={manifest} is already streaming");
                        ("error", "NetStream.Publish.BadName")
                    };
                let info = object(&[
                    ("level", Amf::Str(level.into())),
                    ("code", Amf::Str(code.into())),
                    ("description", Amf::Str(format!("{code} {name}"))),
                ]);
                self.reply(message.stream_id, &[Amf::Str("onStatus".into()), Amf::Number(0.0), Amf::Null, info])
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if let Some(manifest) = self.publishing.take() {
                    self.end(&manifest);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn end(&self, manifest: &str) {
        self.state.end_stream(manifest);
        info!("RTMP stream ended manifestID={manifest} bytes={}", self.bytes.load(Ordering::Relaxed));
    }

    fn reply(&mut self, stream_id: u32, values: &[Amf]) -> io::Result<()> {
        self.send(3, 20, stream_id, &amf0::encode(values))
    }

    fn send(&mut self, csid: u8, type_id: u8, stream_id: u32, payload: &[u8]) -> io::Result<()> {
        // Every message sent before our Set Chunk Size is under 128 bytes, so one chunk size serves all.
        write_message(&mut self.out, csid, type_id, stream_id, payload, OUT_CHUNK_SIZE)
    }
}

/// The plain RTMP handshake: C0+C1 in, S0+S1+S2 out (S2 echoes C1), C2 in.
fn handshake(tcp: &mut TcpStream) -> io::Result<()> {
    let mut c0c1 = vec![0u8; 1 + HANDSHAKE_SIZE];
    tcp.read_exact(&mut c0c1)?;
    if c0c1[0] != 3 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("RTMP version {} not supported", c0c1[0])));
    }
    let mut reply = Vec::with_capacity(1 + 2 * HANDSHAKE_SIZE);
    reply.push(3);
    reply.extend(std::iter::repeat_n(0u8, HANDSHAKE_SIZE)); // S1: time 0, zeros
    reply.extend_from_slice(&c0c1[1..]); // S2
    tcp.write_all(&reply)?;
    let mut c2 = vec![0u8; HANDSHAKE_SIZE];
    tcp.read_exact(&mut c2)
}

/// The manifest ID the real gateway derives from the RTMP URL path (`parseManifestID`):
/// drop the extension, leading slashes, a `stream/` prefix and `live/` parts, keep the first segment.
fn manifest_id(app: &str, name: &str) -> String {
    let path = format!("/{app}/{name}");
    let last = path.rsplit('/').next().unwrap_or_default();
    let path = match last.rfind('.') {
        Some(dot) => &path[..path.len() - (last.len() - dot)],
        None => path.as_str(),
    };
    let trimmed = path.trim_start_matches([' ', '/']);
    let cleaned = trimmed.strip_prefix("stream/").unwrap_or(trimmed).replace("live/", "");
    match cleaned.split('/').next() {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!("{:08x}", std::process::id() ^ std::time::UNIX_EPOCH.elapsed().unwrap_or_default().subsec_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use super::manifest_id;

    #[test]
    fn manifest_ids_like_the_gateway() {
        assert_eq!(manifest_id("stream", "test"), "test");
        assert_eq!(manifest_id("live", "abc"), "abc");
        assert_eq!(manifest_id("stream", "abc/source"), "abc");
        assert_eq!(manifest_id("app", "key"), "app");
        assert_eq!(manifest_id("stream", "movie.flv"), "movie");
        assert!(!manifest_id("", "").is_empty());
    }
}
