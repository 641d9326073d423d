//! Deterministic layers: a staged [`Tree`] becomes a tar stream (sorted, fixed mtime, numeric
//! owners, no atime/ctime), compressed with a header-free, block-parallel gzip (or zstd). One pass hashes the
//! tar (diff_id) on one thread and compresses and hashes the result (digest) on another. A
//! layer is cached by a key of its inputs, so an unchanged layer is never recompressed.

use crate::digest::{Digest, HashWriter};
use crate::error::{Error, IoContext, Result};
use crate::oci::canonical::canonical;
use crate::stage::{Content, Tree};
use crate::store::{BlobStore, BlobWriter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Layer compression; gzip is what every engine loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// A finished layer blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub media_type: String,
}

/// Bumped whenever the bytes a tree turns into change, so old cache entries are not reused.
const LAYER_FORMAT: &str = "lpbake-layer-2";
const GZIP_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;
const CHUNK: usize = 256 * 1024;

/// Builds (or finds in the cache) the layer for `tree`.
pub struct Layerer {
    pub store: BlobStore,
    pub index: PathBuf,
    pub epoch: u64,
    pub compression: Compression,
}

impl Layerer {
    /// The cache key: everything the layer's bytes depend on.
    pub fn key(&self, tree: &Tree) -> Digest {
        let v = serde_json::json!({
            "format": LAYER_FORMAT,
            "epoch": self.epoch,
            "compression": self.compression,
            "tree": tree,
        });
        Digest::of(&canonical(&v))
    }

    /// The cached layer for `tree`, if its blob is still in the store.
    pub fn cached(&self, tree: &Tree) -> Option<Layer> {
        let text = std::fs::read(self.index.join(self.key(tree).hex())).ok()?;
        let layer: Layer = serde_json::from_slice(&text).ok()?;
        self.store.contains(&layer.digest).then_some(layer)
    }

    /// The layer for `tree`: from the cache, or written now.
    pub fn layer(&self, tree: &Tree) -> Result<(Layer, bool)> {
        if let Some(l) = self.cached(tree) {
            return Ok((l, true));
        }
        let layer = self
            .compressed(|out| write_tar(tree, self.epoch, &self.store, out).map(|(_, d)| Some(d)))?
            .expect("a tree's tar always completes");
        self.remember(tree, &layer)?;
        Ok((layer, false))
    }

    /// Records `layer` as the layer of `tree` in the cache index.
    pub fn remember(&self, tree: &Tree, layer: &Layer) -> Result<()> {
        std::fs::create_dir_all(&self.index).at(&self.index)?;
        crate::fsutil::write_atomic(
            &self.index.join(self.key(tree).hex()),
            &serde_json::to_vec(layer).expect("layer serializes"),
        )
    }

    /// Writes a layer while its files are still being unpacked (nix2container's trick: hash and
    /// compress as the bytes stream by). `shape` holds the layer's directories and files; each
    /// file of `files` (layer path -> archive member and explicit mode) gets its size, mode and
    /// bytes from `pieces`, which arrive in archive order. None when that order is not the
    /// layer's order, or the stream ends early: the caller then writes the layer from the store.
    pub fn streamed(
        &self,
        shape: &Tree,
        files: &BTreeMap<String, (String, Option<u32>)>,
        pieces: Receiver<Piece>,
    ) -> Result<Option<Layer>> {
        self.compressed(|out| {
            let mut tar = tar::Builder::new(HashWriter::new(out));
            let mut pieces = Pieces { rx: pieces, chunk: Vec::new(), pos: 0, left: 0 };
            for (path, e) in &shape.entries {
                let Some((member, mode)) = files.get(path) else {
                    append(&mut tar, path, e.mode, e.uid, e.gid, &e.content, self.epoch, io::empty()).at(path)?;
                    continue;
                };
                let Some(Piece::Begin { path: got, mode: got_mode, size }) = pieces.next_piece() else {
                    return Ok(None);
                };
                if &got != member {
                    return Ok(None);
                }
                pieces.left = size;
                let content = Content::File { blob: Digest::of(b""), size };
                let mode = mode.unwrap_or(got_mode & 0o777);
                if append(&mut tar, path, mode, e.uid, e.gid, &content, self.epoch, &mut pieces).is_err()
                    || pieces.left > 0
                {
                    return Ok(None);
                }
            }
            let (mut out, diff_id, _) = tar.into_inner().at("tar stream")?.finish();
            out.flush().at("tar stream")?;
            Ok(Some(diff_id))
        })
    }

    /// Runs `produce` (which writes a tar stream and returns its sha256, or None to give up)
    /// while another thread compresses the stream into a blob, committed only on success.
    fn compressed(&self, produce: impl FnOnce(ChunkSender) -> Result<Option<Digest>>) -> Result<Option<Layer>> {
        let (tx, rx) = sync_channel::<Vec<u8>>(8);
        let store = self.store.clone();
        let compression = self.compression;
        let compressor = std::thread::spawn(move || compress(rx, &store, compression));
        // The sender is dropped when `produce` returns, which ends the compressor's input.
        let produced = produce(ChunkSender { buf: Vec::with_capacity(CHUNK), tx });
        let compressed = compressor
            .join()
            .map_err(|_| Error::io(self.store.root(), io::Error::other("compression thread panicked")))?;
        let Some(diff_id) = produced? else { return Ok(None) };
        let (digest, size) = compressed.and_then(|blob| Ok(blob.commit(None)?)).at(self.store.root())?;
        Ok(Some(Layer { digest, diff_id, size, media_type: self.compression.media_type().into() }))
    }
}

/// What a streamed layer receives from the unpacker.
pub enum Piece {
    Begin { path: String, mode: u32, size: u64 },
    Data(Vec<u8>),
}

/// The bytes of the current file of a streamed layer: `left` more, from `Data` pieces.
struct Pieces {
    rx: Receiver<Piece>,
    chunk: Vec<u8>,
    pos: usize,
    left: u64,
}

impl Pieces {
    fn next_piece(&mut self) -> Option<Piece> {
        if self.pos < self.chunk.len() {
            return None; // data left over from the previous file: the sizes lied
        }
        self.rx.recv().ok()
    }
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        if self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Piece::Data(d)) => (self.chunk, self.pos) = (d, 0),
                _ => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "member ended early")),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos).min(self.left as usize);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Appends one entry with lpbake's fixed header fields.
#[allow(clippy::too_many_arguments)]
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    uid: u32,
    gid: u32,
    content: &Content,
    epoch: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(mode);
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    h.set_mtime(epoch);
    match content {
        Content::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{path}/"), io::empty())
        }
        Content::File { size, .. } => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(*size);
            tar.append_data(&mut h, path, data)
        }
        Content::Symlink { target } => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, path, target)
        }
    }
}

/// Writes `tree` as a deterministic tar stream into `out`, file contents read (verified) from
/// `store`; returns the writer, flushed, and the sha256 of the stream.
pub fn write_tar<W: Write>(tree: &Tree, epoch: u64, store: &BlobStore, out: W) -> Result<(W, Digest)> {
    let mut tar = tar::Builder::new(HashWriter::new(out));
    for (path, e) in &tree.entries {
        match &e.content {
            Content::File { blob, .. } => {
                let src = store.path(blob);
                let reader = store.open(blob).at(&src)?;
                append(&mut tar, path, e.mode, e.uid, e.gid, &e.content, epoch, reader).at(&src)?;
            }
            other => append(&mut tar, path, e.mode, e.uid, e.gid, other, epoch, io::empty()).at(path)?,
        }
    }
    let hashed = tar.into_inner().at("tar stream")?;
    let (mut out, digest, _) = hashed.finish();
    out.flush().at("tar stream")?;
    Ok((out, digest))
}

/// Compresses everything received into a new blob, left uncommitted for the caller.
fn compress(rx: Receiver<Vec<u8>>, store: &BlobStore, compression: Compression) -> io::Result<BlobWriter> {
    let blob = store.writer()?;
    match compression {
        Compression::Gzip => {
            let mut gz = crate::gzip::ParGzWriter::new(blob, GZIP_LEVEL)?;
            for chunk in rx {
                gz.write_all(&chunk)?;
            }
            gz.finish()
        }
        Compression::Zstd => {
            let mut z = zstd::Encoder::new(blob, ZSTD_LEVEL)?;
            for chunk in rx {
                z.write_all(&chunk)?;
            }
            z.finish()
        }
    }
}

/// Hands the tar stream to the compression thread in large chunks.
struct ChunkSender {
    buf: Vec<u8>,
    tx: SyncSender<Vec<u8>>,
}

impl ChunkSender {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.send(full).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "compression stopped"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::Entry;

    fn setup(compression: Compression) -> (tempfile::TempDir, Layerer, Tree) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::create(dir.path().join("c")).unwrap();
        let blob = store.put(b"#!/bin/sh\necho hi\n").unwrap();
        let mut tree = Tree::default();
        tree.add("/usr/local/bin/hi", Entry { mode: 0o755, uid: 0, gid: 0, content: Content::File { blob, size: 18 } });
        tree.add(
            "/usr/local/bin/hello",
            Entry { mode: 0o777, uid: 0, gid: 0, content: Content::Symlink { target: "hi".into() } },
        );
        tree.add("/var/lib/app", Entry { mode: 0o750, uid: 65532, gid: 65532, content: Content::Dir });
        let l = Layerer { store, index: dir.path().join("layers"), epoch: 1_700_000_000, compression };
        (dir, l, tree)
    }

    #[test]
    fn layer_is_deterministic_sorted_and_cached() {
        let (_d, l, tree) = setup(Compression::Gzip);
        let (a, cached) = l.layer(&tree).unwrap();
        assert!(!cached);
        let (b, cached) = l.layer(&tree).unwrap();
        assert!(cached);
        assert_eq!(a, b);
        // Rebuilt from scratch (cache index dropped), the bytes are the same.
        std::fs::remove_dir_all(&l.index).unwrap();
        std::fs::remove_file(l.store.path(&a.digest)).unwrap();
        let (c, _) = l.layer(&tree).unwrap();
        assert_eq!(a, c);

        let gz = std::fs::read(l.store.path(&a.digest)).unwrap();
        assert_eq!(&gz[4..8], &[0, 0, 0, 0], "gzip mtime must be 0");
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut tar_bytes).unwrap();
        assert_eq!(Digest::of(&tar_bytes), a.diff_id);
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        let entries: Vec<(String, u32, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (e.path().unwrap().display().to_string(), h.mode().unwrap(), h.mtime().unwrap(), h.uid().unwrap())
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("usr/".into(), 0o755, 1_700_000_000, 0),
                ("usr/local/".into(), 0o755, 1_700_000_000, 0),
                ("usr/local/bin/".into(), 0o755, 1_700_000_000, 0),
                ("usr/local/bin/hello".into(), 0o777, 1_700_000_000, 0),
                ("usr/local/bin/hi".into(), 0o755, 1_700_000_000, 0),
                ("var/".into(), 0o755, 1_700_000_000, 0),
                ("var/lib/".into(), 0o755, 1_700_000_000, 0),
                ("var/lib/app/".into(), 0o750, 1_700_000_000, 65532),
            ]
        );
    }

    #[test]
    fn key_changes_with_epoch_and_content() {
        let (_d, mut l, mut tree) = setup(Compression::Gzip);
        let k = l.key(&tree);
        l.epoch += 1;
        assert_ne!(k, l.key(&tree));
        l.epoch -= 1;
        tree.entries.get_mut("var/lib/app").unwrap().mode = 0o700;
        assert_ne!(k, l.key(&tree));
    }

    #[test]
    fn zstd_layer_round_trips() {
        let (_d, l, tree) = setup(Compression::Zstd);
        let (a, _) = l.layer(&tree).unwrap();
        assert_eq!(a.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
        let z = std::fs::read(l.store.path(&a.digest)).unwrap();
        let tar_bytes = zstd::decode_all(&z[..]).unwrap();
        assert_eq!(Digest::of(&tar_bytes), a.diff_id);
    }

    #[test]
    fn tampered_content_blob_fails_the_layer() {
        let (_d, l, tree) = setup(Compression::Gzip);
        let Content::File { blob, .. } = tree.entries["usr/local/bin/hi"].content.clone() else { panic!() };
        std::fs::write(l.store.path(&blob), b"#!/bin/sh\necho HI\n").unwrap();
        let err = l.layer(&tree).unwrap_err().to_string();
        assert!(err.contains("sha256 mismatch") && err.contains(&blob.hex()), "{err}");
    }
}
