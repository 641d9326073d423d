//! The build-time guard against key material in an image: a staged path that looks like a
//! keystore, a private key or a password file, or a staged file whose content is one (an
//! Ethereum keystore, a PEM or OpenSSH private key, whatever its name), stops the build.

use super::{Content, Tree};
use crate::store::BlobStore;
use std::io::{self, Read};

/// Bytes read from the start of every file: PEM and OpenSSH keys begin with their armour line.
const PREFIX: u64 = 64 << 10;
/// Files up to this size that start with `{` are parsed as JSON for the keystore shape (a
/// keystore is about 500 bytes).
const JSON_MAX: u64 = 1 << 20;

/// Why `path` (absolute, in the image) looks like key material, or None.
pub fn looks_secret(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    if name.starts_with("utc--") || lower.split('/').any(|c| c == "keystore") {
        return Some("an Ethereum keystore file");
    }
    if [".key", ".p12", ".pfx", ".jks", ".keystore"].iter().any(|s| name.ends_with(s))
        || name.starts_with("id_rsa")
        || name.starts_with("id_ed25519")
        || name.starts_with("id_ecdsa")
    {
        return Some("a private key");
    }
    if ["password", "passphrase", "secret"].iter().any(|w| name.contains(w)) || name.ends_with(".pass") {
        return Some("a password or secret file");
    }
    None
}

/// The first file of `tree` whose content is key material: its path in the tree and why.
pub fn key_material_in(tree: &Tree, store: &BlobStore) -> io::Result<Option<(String, &'static str)>> {
    for (path, e) in &tree.entries {
        if let Content::File { blob, size } = &e.content {
            if let Some(why) = content_looks_secret(store.open(blob)?, *size)? {
                return Ok(Some((path.clone(), why)));
            }
        }
    }
    Ok(None)
}

/// Why the file read by `r` (of `size` bytes) is key material, or None. Reads at most its first
/// 64 KiB, or all of it when it is a small JSON object.
pub fn content_looks_secret(r: impl Read, size: u64) -> io::Result<Option<&'static str>> {
    let mut r = r.take(PREFIX.max(if size <= JSON_MAX { size } else { 0 }));
    let mut head = Vec::new();
    (&mut r).take(PREFIX).read_to_end(&mut head)?;
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if has(b"-----BEGIN OPENSSH PRIVATE KEY-----") {
        return Ok(Some("an OpenSSH private key"));
    }
    if head.windows(11).enumerate().any(|(at, w)| {
        w == b"-----BEGIN " && head[at..].split(|b| *b == b'\n').next().is_some_and(is_private_key_armour)
    }) {
        return Ok(Some("a PEM private key"));
    }
    if size <= JSON_MAX && head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        r.read_to_end(&mut head)?;
        if serde_json::from_slice::<serde_json::Value>(&head).is_ok_and(|v| is_keystore(&v)) {
            return Ok(Some("an Ethereum keystore"));
        }
    }
    Ok(None)
}

/// `-----BEGIN [...] PRIVATE KEY-----` (RSA, EC, ENCRYPTED, plain PKCS#8, ...).
fn is_private_key_armour(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.ends_with(b"PRIVATE KEY-----")
}

/// The Web3 Secret Storage shape: `crypto` (or `Crypto`) holding `ciphertext`, and `version`.
fn is_keystore(v: &serde_json::Value) -> bool {
    let crypto = v.get("crypto").or_else(|| v.get("Crypto"));
    crypto.is_some_and(|c| c.get("ciphertext").is_some()) && v.get("version").is_some()
}

#[cfg(test)]
mod tests {
    use super::{content_looks_secret, looks_secret};

    #[test]
    fn key_material_is_recognised_and_binaries_are_not() {
        for p in [
            "/var/lib/livepeer/keystore/UTC--2024-01-01T00-00-00.000Z--0123abcd",
            "/etc/livepeer/UTC--x",
            "/etc/ssl/private/node.key",
            "/root/.ssh/id_ed25519",
            "/etc/livepeer/eth-password.txt",
            "/run/orchSecret",
            "/etc/livepeer/pw.pass",
        ] {
            assert!(looks_secret(p).is_some(), "{p}");
        }
        for p in [
            "/usr/local/bin/livepeer",
            "/usr/local/bin/geth",
            "/etc/passwd",
            "/usr/share/keyrings/debian.gpg",
            "/var/lib/livepeer",
        ] {
            assert_eq!(looks_secret(p), None, "{p}");
        }
    }

    /// A keystore as geth writes it (the values shortened).
    const KEYSTORE: &str = r#"{"address":"c0ffee","crypto":{"cipher":"aes-128-ctr","ciphertext":"5f1e","cipherparams":{"iv":"00"},"kdf":"scrypt","kdfparams":{"n":262144},"mac":"ab"},"id":"1","version":3}"#;

    fn scan(bytes: &[u8]) -> Option<&'static str> {
        content_looks_secret(bytes, bytes.len() as u64).unwrap()
    }

    #[test]
    fn key_material_is_recognised_by_content() {
        assert_eq!(scan(KEYSTORE.as_bytes()), Some("an Ethereum keystore"));
        assert_eq!(scan(KEYSTORE.replace("crypto", "Crypto").as_bytes()), Some("an Ethereum keystore"));
        let pem = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(scan(pem), Some("a PEM private key"));
        let pkcs8 = b"subject=CN=x\r\n-----BEGIN ENCRYPTED PRIVATE KEY-----\r\nMIIF\r\n";
        assert_eq!(scan(pkcs8), Some("a PEM private key"));
        let ssh = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n";
        assert_eq!(scan(ssh), Some("an OpenSSH private key"));
    }

    #[test]
    fn ordinary_files_pass() {
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.extend((0..300_000u32).map(|i| (i * 7) as u8));
        assert_eq!(scan(&elf), None);
        assert_eq!(scan(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), None);
        assert_eq!(scan(b"-----BEGIN PUBLIC KEY-----\nMIIB\n"), None);
        assert_eq!(scan(br#"{"version":3,"crypto":{"cipher":"x"}}"#), None, "no ciphertext");
        assert_eq!(scan(br#"{"crypto":{"ciphertext":"x"}}"#), None, "no version");
        assert_eq!(scan(br#"{"name":"livepeer","version":"0.9.1"}"#), None);
    }

    #[test]
    fn a_key_past_the_scanned_prefix_of_a_big_file_is_not_read() {
        // The scan is bounded: a huge file is never read whole.
        let mut big = vec![b'x'; 2 << 20];
        big.extend_from_slice(b"\n-----BEGIN RSA PRIVATE KEY-----\n");
        let mut reads = CountingReader { inner: &big[..], read: 0 };
        assert_eq!(content_looks_secret(&mut reads, big.len() as u64).unwrap(), None);
        assert!(reads.read <= 64 << 10, "read {} bytes", reads.read);
    }

    struct CountingReader<'a> {
        inner: &'a [u8],
        read: usize,
    }

    impl std::io::Read for CountingReader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n;
            Ok(n)
        }
    }
}
