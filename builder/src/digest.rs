//! sha256 digests: the one identity of every blob lpbake reads or writes, and the streaming
//! readers/writers that compute them while bytes pass through.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

/// A sha256 digest, printed as `sha256:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// The digest of the file at `path` (a regular file, read through the bounded reader), streamed.
    pub fn of_file(path: &std::path::Path) -> io::Result<Self> {
        let mut w = HashWriter::new(io::sink());
        io::copy(&mut lpbake_rules::read::open(path, u64::MAX).map_err(|e| e.into_io())?, &mut w)?;
        Ok(w.finish().1)
    }

    /// The 64 lowercase hex characters, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters, with or without a `sha256:` prefix.
    pub fn parse(s: &str) -> Option<Self> {
        let h = s.strip_prefix("sha256:").unwrap_or(s);
        if h.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(h.to_ascii_lowercase(), &mut out).ok()?;
        Some(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s).ok_or_else(|| format!("`{s}` is not a sha256 digest (expected 64 hex characters)"))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental sha256 plus a byte count.
#[derive(Default, Clone)]
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> (Digest, u64) {
        (Digest(self.sha.finalize().into()), self.len)
    }
}

/// A writer that hashes everything written through it before passing it on.
pub struct HashWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter { inner, hasher: Hasher::default() }
    }

    /// The inner writer, the digest and the byte count of all that was written.
    pub fn finish(self) -> (W, Digest, u64) {
        let (d, n) = self.hasher.finish();
        (self.inner, d, n)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what passes through it and, at end of input, fails with
/// `InvalidData` if the content is not `expected`. Callers that stop early must call
/// [`VerifyingReader::drain`] so the check still happens.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Hasher,
    expected: Digest,
    what: String,
    checked: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// `what` names the file in the error (a path or URL).
    pub fn new(inner: R, expected: Digest, what: impl Into<String>) -> Self {
        VerifyingReader { inner, hasher: Hasher::default(), expected, what: what.into(), checked: false }
    }

    /// Reads to the end so the digest is checked, discarding the rest.
    pub fn drain(mut self) -> io::Result<()> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.checked {
            self.checked = true;
            let (actual, _) = std::mem::take(&mut self.hasher).finish();
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    HashMismatch { what: self.what.clone(), expected: self.expected, actual },
                ));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The content of a file is not what its pin says.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: sha256 mismatch: expected {expected}, got {actual}")]
pub struct HashMismatch {
    pub what: String,
    pub expected: Digest,
    pub actual: Digest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_round_trip() {
        let d = Digest::of(b"abc");
        assert_eq!(d.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(Digest::parse(&d.to_string()), Some(d));
        assert_eq!(Digest::parse(&d.hex()), Some(d));
        assert_eq!(Digest::parse("sha256:abc"), None);
    }

    #[test]
    fn verifying_reader_rejects_wrong_content() {
        let mut ok = VerifyingReader::new(&b"abc"[..], Digest::of(b"abc"), "x");
        let mut out = Vec::new();
        ok.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");

        let bad = VerifyingReader::new(&b"abd"[..], Digest::of(b"abc"), "mirror/blob");
        let err = bad.drain().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mirror/blob") && msg.contains(&Digest::of(b"abd").hex()), "{msg}");
    }
}
