//! Deterministic layers: a staged [`Tree`] becomes a tar stream (sorted, fixed mtime, numeric
//! owners, no atime/ctime; hard links, device nodes; file capabilities as a PAX xattr record),
//! compressed with block-parallel gzip (fixed header: mtime 0, no name) or zstd. One pass hashes
//! the tar (diff_id) on one thread and compresses and hashes the result (digest) on another. A
//! layer is cached under a key of its inputs, so an unchanged layer is never recompressed; a
//! cache entry is checked against its key and blob before use, and can be checked in full
//! against its tree.

use crate::digest::{Digest, HashWriter};
use crate::error::{Error, IoContext, Result};
use crate::oci::canonical::canonical;
use crate::report::Reporter;
use crate::stage::{Content, DeviceKind, Entry, Tree};
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

/// Bumped whenever the bytes a tree turns into, or what a cache key covers, change, so old
/// cache entries are not reused.
const LAYER_FORMAT: &str = "lpbake-layer-3";
const GZIP_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;
const CHUNK: usize = 256 * 1024;

/// Builds layers and keeps them in the cache: the blob in the store, and an index entry named by
/// the layer's key that records the key it was made for and the layer.
pub struct Layerer {
    pub store: BlobStore,
    pub index: PathBuf,
    pub epoch: u64,
    pub compression: Compression,
    /// Where a dropped cache entry is reported.
    pub report: Reporter,
}

/// One index entry: the layer made for `key`.
#[derive(Serialize, Deserialize)]
struct Remembered {
    key: Digest,
    layer: Layer,
}

impl Layerer {
    /// The cache key of a layer made from `inputs` (a tree, or what determines one): everything
    /// the layer's bytes depend on.
    pub fn key(&self, inputs: &impl Serialize) -> Digest {
        let v = serde_json::json!({
            "format": LAYER_FORMAT,
            "epoch": self.epoch,
            "compression": self.compression,
            "inputs": inputs,
        });
        Digest::of(&canonical(&v))
    }

    fn entry_path(&self, key: &Digest) -> PathBuf {
        self.index.join(key.hex())
    }

    /// The cached layer for `key`, after the cheap checks: the entry is well-formed, was made for
    /// this key, and its blob is in the store with the recorded size and media type. An entry
    /// that fails them is dropped with a warning naming it. Whether the blob really is the layer
    /// of the tree is [`Layerer::verify`]'s job.
    pub fn cached(&self, key: &Digest) -> Option<Layer> {
        let path = self.entry_path(key);
        let text = lpbake_rules::read::bytes(&path, 1 << 20).ok()?;
        let why = match serde_json::from_slice::<Remembered>(&text) {
            Err(e) => format!("it is not a layer index entry ({e})"),
            Ok(r) if r.key != *key => format!("it was made for another key ({})", r.key),
            Ok(r) if r.layer.media_type != self.compression.media_type() => {
                format!("its media type is {}, not {}", r.layer.media_type, self.compression.media_type())
            }
            Ok(r) => match std::fs::metadata(self.store.path(&r.layer.digest)) {
                Ok(m) if m.is_file() && m.len() == r.layer.size => return Some(r.layer),
                Ok(m) => format!("its blob {} has {} bytes, not {}", r.layer.digest, m.len(), r.layer.size),
                Err(_) => format!("its blob {} is not in the store", r.layer.digest),
            },
        };
        self.drop_entry(key, &why);
        None
    }

    /// Removes the index entry of `key`, telling the operator why.
    pub fn drop_entry(&self, key: &Digest, why: &str) {
        let path = self.entry_path(key);
        self.report.warn(format!("layer cache entry {}: {why}; dropped, the layer is rebuilt", path.display()));
        let _ = std::fs::remove_file(&path);
    }

    /// Checks in full that `layer` is the layer of `tree`: its blob has the recorded digest and
    /// size, and decompresses to exactly the tar `tree` makes (every path, kind, mode, owner,
    /// size, link and file byte, since that tar's sha256 is compared with the blob's diff_id).
    /// Returns why not, or None.
    pub fn verify(&self, tree: &Tree, layer: &Layer) -> Result<Option<String>> {
        let (expected, found) = std::thread::scope(|s| {
            let expected = s.spawn(|| write_tar(tree, self.epoch, &self.store, io::sink()).map(|(_, d)| d));
            let found = self.diff_id_of(layer);
            (expected.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), found)
        });
        let expected = expected?;
        Ok(match found {
            Err(e) => Some(format!("its blob {} is not what the entry claims: {e}", layer.digest)),
            Ok(d) if d != layer.diff_id => Some(format!("its blob decompresses to {d}, not diff_id {}", layer.diff_id)),
            Ok(_) if expected != layer.diff_id => {
                Some(format!("its layer {} is not the layer of this tree (diff_id {expected})", layer.digest))
            }
            Ok(_) => None,
        })
    }

    /// The sha256 of the decompressed blob of `layer`, which must have its digest and size.
    fn diff_id_of(&self, layer: &Layer) -> io::Result<Digest> {
        let blob = self.store.open(&layer.digest)?.take(layer.size + 1);
        let mut counted = CountingReader { inner: blob, read: 0 };
        let mut tar = HashWriter::new(io::sink());
        match self.compression {
            Compression::Gzip => io::copy(&mut flate2::read::GzDecoder::new(&mut counted), &mut tar)?,
            Compression::Zstd => io::copy(&mut zstd::Decoder::new(&mut counted)?, &mut tar)?,
        };
        // Read to the end, so the store's reader checks the blob's digest.
        io::copy(&mut counted, &mut io::sink())?;
        if counted.read != layer.size {
            return Err(io::Error::other(format!("{} bytes, not {}", counted.read, layer.size)));
        }
        Ok(tar.finish().1)
    }

    /// Writes the layer of `tree` now (no cache look-up).
    pub fn layer(&self, tree: &Tree) -> Result<Layer> {
        Ok(self
            .compressed(|out| write_tar(tree, self.epoch, &self.store, out).map(|(_, d)| Some(d)))?
            .expect("a tree's tar always completes"))
    }

    /// Records `layer` in the cache index as the layer made for `key`.
    pub fn remember(&self, key: &Digest, layer: &Layer) -> Result<()> {
        std::fs::create_dir_all(&self.index).at(&self.index)?;
        let entry = Remembered { key: *key, layer: layer.clone() };
        crate::fsutil::write_atomic(&self.entry_path(key), &serde_json::to_vec(&entry).expect("entry serializes"))
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
                    append(&mut tar, path, e, self.epoch, io::empty()).at(path)?;
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
                let e = Entry { mode: mode.unwrap_or(got_mode & 0o777), content, ..e.clone() };
                if append(&mut tar, path, &e, self.epoch, &mut pieces).is_err() || pieces.left > 0 {
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

/// The name of every PAX extended header lpbake writes (readers apply it to the next entry).
const PAX_NAME: &str = "././@PaxHeader";
/// The PAX record that carries file capabilities (as GNU tar, containerd and BuildKit write it).
pub const CAPS_RECORD: &str = "SCHILY.xattr.security.capability";

/// Appends one entry with lpbake's fixed header fields, preceded by a PAX header holding its
/// file capabilities if it has any.
fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, e: &Entry, epoch: u64, data: impl Read) -> io::Result<()> {
    if let Some(caps) = &e.caps {
        append_pax(tar, CAPS_RECORD, &caps.vfs_v2(), epoch)?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(e.mode);
    h.set_uid(e.uid.into());
    h.set_gid(e.gid.into());
    h.set_mtime(epoch);
    h.set_size(0);
    match &e.content {
        Content::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            tar.append_data(&mut h, format!("{path}/"), io::empty())
        }
        Content::File { size, .. } => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(*size);
            tar.append_data(&mut h, path, data)
        }
        Content::Symlink { target } => {
            h.set_entry_type(tar::EntryType::Symlink);
            tar.append_link(&mut h, path, target)
        }
        Content::Hardlink { target } => {
            h.set_entry_type(tar::EntryType::Link);
            tar.append_link(&mut h, path, target)
        }
        Content::Device { kind, major, minor } => {
            h.set_entry_type(match kind {
                DeviceKind::Char => tar::EntryType::Char,
                DeviceKind::Block => tar::EntryType::Block,
                DeviceKind::Fifo => tar::EntryType::Fifo,
            });
            h.set_device_major(*major)?;
            h.set_device_minor(*minor)?;
            tar.append_data(&mut h, path, io::empty())
        }
    }
}

/// Appends a PAX extended header with the one record `key=value`.
fn append_pax<W: Write>(tar: &mut tar::Builder<W>, key: &str, value: &[u8], epoch: u64) -> io::Result<()> {
    // A record is "<len> <key>=<value>\n", where <len> counts the whole record, itself included.
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(epoch);
    h.set_size(record.len() as u64);
    tar.append_data(&mut h, PAX_NAME, &record[..])
}

/// Writes `tree` as a deterministic tar stream into `out`, file contents read (verified) from
/// `store`; returns the writer, flushed, and the sha256 of the stream. A hard link must name a
/// regular file at an earlier path of the tree (a tar reader resolves it against what it has seen).
pub fn write_tar<W: Write>(tree: &Tree, epoch: u64, store: &BlobStore, out: W) -> Result<(W, Digest)> {
    let mut tar = tar::Builder::new(HashWriter::new(out));
    for (path, e) in &tree.entries {
        match &e.content {
            Content::File { blob, .. } => {
                let src = store.path(blob);
                let reader = store.open(blob).at(&src)?;
                append(&mut tar, path, e, epoch, reader).at(&src)?;
            }
            Content::Hardlink { target } if !links_to_earlier_file(tree, path, target) => {
                return Err(Error::Output(format!(
                    "staged tree: hard link /{path} -> /{target}: the target must be a regular file at an earlier \
                     path of the same tree; link the other way round, or stage a copy"
                )));
            }
            _ => append(&mut tar, path, e, epoch, io::empty()).at(path)?,
        }
    }
    let hashed = tar.into_inner().at("tar stream")?;
    let (mut out, digest, _) = hashed.finish();
    out.flush().at("tar stream")?;
    Ok((out, digest))
}

fn links_to_earlier_file(tree: &Tree, path: &str, target: &str) -> bool {
    target < path && matches!(tree.entries.get(target), Some(Entry { content: Content::File { .. }, .. }))
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

/// Counts the bytes read through it.
struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
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
    use crate::report::Mode;
    use crate::stage::{Caps, Entry};

    fn setup(compression: Compression) -> (tempfile::TempDir, Layerer, Tree) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::create(dir.path().join("c")).unwrap();
        let blob = store.put(b"#!/bin/sh\necho hi\n").unwrap();
        let mut tree = Tree::default();
        tree.add("/usr/local/bin/hi", Entry::new(0o755, 0, 0, Content::File { blob, size: 18 }));
        tree.add("/usr/local/bin/hello", Entry::new(0o777, 0, 0, Content::Symlink { target: "hi".into() }));
        tree.add("/var/lib/app", Entry::new(0o750, 65532, 65532, Content::Dir));
        let report = Reporter::new(Mode::Quiet);
        let l = Layerer { store, index: dir.path().join("layers"), epoch: 1_700_000_000, compression, report };
        (dir, l, tree)
    }

    fn tar_of(l: &Layerer, layer: &Layer) -> Vec<u8> {
        let gz = std::fs::read(l.store.path(&layer.digest)).unwrap();
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut tar_bytes).unwrap();
        assert_eq!(Digest::of(&tar_bytes), layer.diff_id);
        tar_bytes
    }

    #[test]
    fn layer_is_deterministic_sorted_and_cached() {
        let (_d, l, tree) = setup(Compression::Gzip);
        let key = l.key(&tree);
        assert_eq!(l.cached(&key), None);
        let a = l.layer(&tree).unwrap();
        l.remember(&key, &a).unwrap();
        assert_eq!(l.cached(&key), Some(a.clone()));
        // Rebuilt from scratch, the bytes are the same.
        std::fs::remove_file(l.store.path(&a.digest)).unwrap();
        assert_eq!(l.cached(&key), None, "an entry without its blob is dropped");
        assert_eq!(l.layer(&tree).unwrap(), a);

        let gz = std::fs::read(l.store.path(&a.digest)).unwrap();
        assert_eq!(&gz[4..8], &[0, 0, 0, 0], "gzip mtime must be 0");
        let tar_bytes = tar_of(&l, &a);
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
        let a = l.layer(&tree).unwrap();
        assert_eq!(a.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
        let z = std::fs::read(l.store.path(&a.digest)).unwrap();
        let tar_bytes = zstd::decode_all(&z[..]).unwrap();
        assert_eq!(Digest::of(&tar_bytes), a.diff_id);
        assert_eq!(l.verify(&tree, &a).unwrap(), None);
    }

    #[test]
    fn tampered_content_blob_fails_the_layer() {
        let (_d, l, tree) = setup(Compression::Gzip);
        let Content::File { blob, .. } = tree.entries["usr/local/bin/hi"].content.clone() else { panic!() };
        std::fs::write(l.store.path(&blob), b"#!/bin/sh\necho HI\n").unwrap();
        let err = l.layer(&tree).unwrap_err().to_string();
        assert!(err.contains("sha256 mismatch") && err.contains(&blob.hex()), "{err}");
    }

    #[test]
    fn links_devices_and_capabilities_are_written_and_read_back() {
        let (_d, l, mut tree) = setup(Compression::Gzip);
        let caps: Caps = "cap_net_bind_service=+ep".parse().unwrap();
        let hi = tree.entries["usr/local/bin/hi"].clone();
        tree.entries.insert("usr/local/bin/hi".into(), Entry { caps: Some(caps), ..hi });
        tree.add("/usr/local/bin/zz", Entry::new(0o755, 0, 0, Content::Hardlink { target: "usr/local/bin/hi".into() }));
        let null = Content::Device { kind: DeviceKind::Char, major: 1, minor: 3 };
        tree.add("/dev/null", Entry::new(0o666, 0, 0, null));
        tree.add("/dev/sda", Entry::new(0o660, 0, 6, Content::Device { kind: DeviceKind::Block, major: 8, minor: 0 }));
        tree.add("/run/pipe", Entry::new(0o600, 0, 0, Content::Device { kind: DeviceKind::Fifo, major: 0, minor: 0 }));
        let a = l.layer(&tree).unwrap();
        assert_eq!(l.layer(&tree).unwrap(), a, "deterministic");
        let tar_bytes = tar_of(&l, &a);
        let mut seen = BTreeMap::new();
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let caps: Vec<Vec<u8>> = e
                .pax_extensions()
                .unwrap()
                .into_iter()
                .flatten()
                .map(|x| x.unwrap())
                .filter(|x| x.key() == Ok(CAPS_RECORD))
                .map(|x| x.value_bytes().to_vec())
                .collect();
            let h = e.header();
            let link = e.link_name().unwrap().map(|p| p.display().to_string());
            let dev = match h.entry_type() {
                tar::EntryType::Char | tar::EntryType::Block => (h.device_major().unwrap(), h.device_minor().unwrap()),
                _ => (None, None),
            };
            seen.insert(path, (h.entry_type(), link, dev, caps, h.mode().unwrap(), h.gid().unwrap()));
        }
        let none: Vec<Vec<u8>> = Vec::new();
        use tar::EntryType as T;
        assert_eq!(seen["usr/local/bin/hi"].0, T::Regular);
        assert_eq!(seen["usr/local/bin/hi"].3, vec![caps.vfs_v2().to_vec()]);
        assert_eq!(
            seen["usr/local/bin/zz"],
            (T::Link, Some("usr/local/bin/hi".into()), (None, None), none.clone(), 0o755, 0)
        );
        assert_eq!(seen["dev/null"], (T::Char, None, (Some(1), Some(3)), none.clone(), 0o666, 0));
        assert_eq!(seen["dev/sda"], (T::Block, None, (Some(8), Some(0)), none.clone(), 0o660, 6));
        assert_eq!(seen["run/pipe"].0, T::Fifo);
        assert_eq!(seen["usr/local/bin/hello"].3, none, "caps only where set");
        assert_eq!(l.verify(&tree, &a).unwrap(), None);
    }

    #[test]
    fn hard_link_to_a_later_or_missing_path_is_refused() {
        let (_d, l, mut tree) = setup(Compression::Gzip);
        tree.add("/usr/local/bin/a", Entry::new(0o755, 0, 0, Content::Hardlink { target: "usr/local/bin/hi".into() }));
        let err = l.layer(&tree).unwrap_err().to_string();
        assert!(err.contains("/usr/local/bin/a -> /usr/local/bin/hi") && err.contains("earlier"), "{err}");
        tree.entries.remove("usr/local/bin/a");
        tree.add(
            "/usr/local/bin/z",
            Entry::new(0o755, 0, 0, Content::Hardlink { target: "usr/local/bin/nope".into() }),
        );
        assert!(l.layer(&tree).is_err());
    }

    /// A layer entry copied to another key, or claiming another size, is dropped on look-up.
    #[test]
    fn index_entry_copied_from_another_key_or_resized_is_dropped() {
        let (_d, l, tree) = setup(Compression::Gzip);
        let mut other = tree.clone();
        other.entries.remove("var/lib/app");
        let (key, other_key) = (l.key(&tree), l.key(&other));
        l.remember(&key, &l.layer(&tree).unwrap()).unwrap();
        l.remember(&other_key, &l.layer(&other).unwrap()).unwrap();
        std::fs::copy(l.entry_path(&other_key), l.entry_path(&key)).unwrap();
        assert_eq!(l.cached(&key), None);
        assert!(!l.entry_path(&key).exists(), "dropped");
        // An entry whose size was edited.
        let mut r: Remembered = serde_json::from_slice(&std::fs::read(l.entry_path(&other_key)).unwrap()).unwrap();
        r.layer.size += 1;
        std::fs::write(l.entry_path(&other_key), serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(l.cached(&other_key), None);
    }

    /// The full check: a cached layer of another tree, even with its key rewritten, and a blob
    /// that is not what the entry claims, are found out.
    #[test]
    fn verify_finds_another_trees_layer_and_a_false_blob() {
        let (_d, l, tree) = setup(Compression::Gzip);
        let a = l.layer(&tree).unwrap();
        assert_eq!(l.verify(&tree, &a).unwrap(), None);
        let mut other = tree.clone();
        other.entries.get_mut("var/lib/app").unwrap().uid = 0;
        let b = l.layer(&other).unwrap();
        let why = l.verify(&tree, &b).unwrap().expect("another tree's layer");
        assert!(why.contains("not the layer of this tree"), "{why}");
        let why = l.verify(&tree, &Layer { diff_id: b.diff_id, ..a.clone() }).unwrap().expect("false diff_id");
        assert!(why.contains("decompresses to"), "{why}");
        let why = l.verify(&tree, &Layer { size: a.size - 1, ..a.clone() }).unwrap().expect("false size");
        assert!(why.contains("not what the entry claims"), "{why}");
    }
}
