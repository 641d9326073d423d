//! The build-time guard against key material in an image: a staged path that looks like a
//! keystore, a private key or a password file, or a staged file whose content is one, whatever
//! its name: an Ethereum keystore as geth and livepeer read it ([`keyjson`]), or a PEM, OpenSSH
//! or PGP private key anywhere in the file (with its body: programs that parse keys hold the bare
//! armour lines as strings). Each file is read once, in pieces, to its end. A distribution's
//! programs and libraries carry whole keys as data (gnutls its self-test keys), so in a base
//! root filesystem ELF objects are left to the distribution ([`Elf::Skipped`]); a component's
//! are judged like any file, so a key embedded in a program is still found.

mod keyjson;

use super::{Content, Tree};
use crate::store::BlobStore;
use keyjson::KeyJson;
use std::io::{self, Read};

/// The first bytes of an ELF object.
const ELF: &[u8] = b"\x7fELF";
/// Bytes read at a time.
const CHUNK: usize = 64 << 10;
/// The armour line's start, and the end of its label.
const BEGIN: &[u8] = b"-----BEGIN ";
const DASHES: &[u8] = b"-----";
/// The longest armour label looked at (RFC 7468 labels are short: `ENCRYPTED PRIVATE KEY`).
const LABEL_MAX: usize = 64;
/// The line breaks (at most two, `\r\n` or `\n`, a PGP block's blank line included) and the
/// base64 bytes that must follow an armour line for it to begin a key: a binary that parses keys
/// holds the armour line as a string constant, followed by a NUL, never by a key's body.
const BREAKS_MAX: usize = 4;
const BODY_MIN: usize = 4;
/// The bytes an armour line is judged by, from its `-----BEGIN `: what a read must keep of the
/// previous one, less one byte, so a line split across reads is seen whole.
const ARMOUR: usize = BEGIN.len() + LABEL_MAX + DASHES.len() + BREAKS_MAX + BODY_MIN;

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

/// Whether ELF objects (programs, libraries) are judged by their content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elf {
    /// Judged like any file: a component's programs.
    Judged,
    /// Left out: a distribution's, which carry self-test keys as data.
    Skipped,
}

/// The first file of `tree` whose content is key material: its path in the tree and why.
pub fn key_material_in(tree: &Tree, store: &BlobStore, elf: Elf) -> io::Result<Option<(String, &'static str)>> {
    for (path, e) in &tree.entries {
        if let Content::File { blob, .. } = &e.content {
            if let Some(why) = content_looks_secret(store.open(blob)?, elf)? {
                return Ok(Some((path.clone(), why)));
            }
        }
    }
    Ok(None)
}

/// Why the file read by `r` is key material, or None. Reads it once, to its end (or to the
/// private key found), through one buffer of a fixed size: memory stays flat whatever its size.
pub fn content_looks_secret(mut r: impl Read, elf: Elf) -> io::Result<Option<&'static str>> {
    let mut buf = vec![0; ARMOUR - 1 + CHUNK];
    let mut json = KeyJson::default();
    // The last bytes of the previous read, kept for the armour lines that start in them.
    let mut kept = 0;
    let mut first = true;
    loop {
        let n = match r.read(&mut buf[kept..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            n => n?,
        };
        let end = kept + n;
        if std::mem::take(&mut first) && elf == Elf::Skipped && buf[..end].starts_with(ELF) {
            return Ok(None);
        }
        json.feed(&buf[kept..end]);
        // Judge every armour line starting here that is whole in `buf` (all of them at the end).
        let judged = if n == 0 { end } else { end.saturating_sub(ARMOUR - 1) };
        if let Some(why) = armour_in(&buf[..end], judged) {
            return Ok(Some(why));
        }
        if n == 0 {
            return Ok(json.is_keystore().then_some("an Ethereum keystore"));
        }
        buf.copy_within(judged..end, 0);
        kept = end - judged;
    }
}

/// Why an armour line starting in `bytes[..starts]` begins a private key, or None.
fn armour_in(bytes: &[u8], starts: usize) -> Option<&'static str> {
    let mut from = 0;
    while let Some(dash) = bytes[from..starts].iter().position(|&b| b == b'-') {
        let at = from + dash;
        if let Some(label) = bytes[at..].strip_prefix(BEGIN) {
            if let Some(why) = private_key_armour(label) {
                return Some(why);
            }
        }
        from = at + 1;
    }
    None
}

/// `LABEL-----` after `-----BEGIN ` names a private key: `[...] PRIVATE KEY` (RSA, EC,
/// ENCRYPTED, plain PKCS#8, OpenSSH, ...) or a PGP private key block, and a key's body follows
/// (a line break, then base64 or a header, as every PEM reader needs). The label is one line of
/// printable ASCII, as RFC 7468 has it.
fn private_key_armour(after: &[u8]) -> Option<&'static str> {
    let head = &after[..after.len().min(LABEL_MAX + DASHES.len())];
    let label = &head[..head.windows(DASHES.len()).position(|w| w == DASHES)?];
    if !label.iter().all(|b| (b' '..=b'~').contains(b)) {
        return None;
    }
    let rest = &after[label.len() + DASHES.len()..];
    let breaks = rest.iter().take(BREAKS_MAX).take_while(|b| matches!(b, b'\r' | b'\n')).count();
    let body = &rest[breaks..];
    let base64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if !rest[..breaks].contains(&b'\n') || body.len() < BODY_MIN || !body[..BODY_MIN].iter().all(base64) {
        return None;
    }
    match label {
        b"OPENSSH PRIVATE KEY" => Some("an OpenSSH private key"),
        b"PGP PRIVATE KEY BLOCK" => Some("a PGP private key"),
        l if l.ends_with(b"PRIVATE KEY") => Some("a PEM private key"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{content_looks_secret, looks_secret, Elf};
    use proptest::prelude::*;
    use std::fmt::Write as _;
    use std::io::{self, Read};

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

    /// A JSON document: a literal value, or an object's fields in order.
    enum J {
        Leaf(&'static str),
        Obj(Vec<(&'static str, J)>),
    }

    /// The scrypt test vector of the Web3 Secret Storage definition, with the address geth adds.
    fn v3() -> J {
        use J::{Leaf, Obj};
        Obj(vec![
            ("address", Leaf(r#""008aeeda4d805471df9b2a5b0f38a0c3bcba786b""#)),
            (
                "crypto",
                Obj(vec![
                    ("cipher", Leaf(r#""aes-128-ctr""#)),
                    ("ciphertext", Leaf(r#""d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c""#)),
                    ("cipherparams", Obj(vec![("iv", Leaf(r#""83dbcc02d8ccb40e466191a123791e0e""#))])),
                    ("kdf", Leaf(r#""scrypt""#)),
                    (
                        "kdfparams",
                        Obj(vec![
                            ("dklen", Leaf("32")),
                            ("n", Leaf("262144")),
                            ("p", Leaf("8")),
                            ("r", Leaf("1")),
                            ("salt", Leaf(r#""ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19""#)),
                        ]),
                    ),
                    ("mac", Leaf(r#""2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097""#)),
                ]),
            ),
            ("id", Leaf(r#""3198bc9c-6672-5ab3-d995-4942343ae5b6""#)),
            ("version", Leaf("3")),
        ])
    }

    /// Choices drawn from generated bytes (all zero: no change), so proptest shrinks a failing
    /// spelling towards the plain keystore.
    struct Draws<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl Draws<'_> {
        fn pick(&mut self, n: usize) -> usize {
            let b = if self.bytes.is_empty() { 0 } else { self.bytes[self.at % self.bytes.len()] };
            self.at += 1;
            usize::from(b) % n
        }

        /// JSON whitespace: `n` of its four bytes, in an order drawn.
        fn space(&mut self, n: usize, out: &mut String) {
            let from = self.pick(4);
            (from..from + n).for_each(|i| out.push([' ', '\n', '\t', '\r'][i % 4]));
        }

        /// A few bytes of whitespace, or none.
        fn gap(&mut self, out: &mut String) {
            let n = self.pick(4);
            self.space(n, out);
        }

        /// Whitespace around a document: none, a little, or more than 64 KiB.
        fn padding(&mut self, out: &mut String) {
            let n = [0, 1, 5, 70_000][self.pick(4)];
            self.space(n, out);
        }

        /// `key` as Go still matches it: each character as is, in upper case or as the
        /// non-ASCII character that folds to it, written plain or as a `\u` escape.
        fn key(&mut self, key: &str, out: &mut String) {
            for c in key.chars() {
                let c = match (self.pick(3), c) {
                    (0, c) => c,
                    (1, 's') => '\u{17f}',
                    (1, 'k') => '\u{212a}',
                    (_, c) => c.to_ascii_uppercase(),
                };
                match self.pick(4) {
                    3 => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
                    2 if c.is_ascii() => write!(out, "\\u{:04X}", u32::from(c)).unwrap(),
                    _ => out.push(c),
                }
            }
        }

        /// `j` written with these choices: fields in a rotated order, keys respelled, whitespace
        /// around every token.
        fn write(&mut self, j: &J, out: &mut String) {
            let fields = match j {
                J::Leaf(v) => return out.push_str(v),
                J::Obj(fields) => fields,
            };
            out.push('{');
            let turn = self.pick(fields.len());
            for (i, (k, v)) in fields.iter().cycle().skip(turn).take(fields.len()).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                self.gap(out);
                out.push('"');
                self.key(k, out);
                out.push('"');
                self.gap(out);
                out.push(':');
                self.gap(out);
                self.write(v, out);
                self.gap(out);
            }
            out.push('}');
        }
    }

    /// The keystore written with the choices of `bytes`, with whitespace around it.
    fn keystore_spelled(bytes: &[u8]) -> String {
        let mut d = Draws { bytes, at: 0 };
        let mut out = String::new();
        d.padding(&mut out);
        d.write(&v3(), &mut out);
        d.padding(&mut out);
        out
    }

    /// The keystore as geth writes it.
    fn keystore() -> String {
        keystore_spelled(&[])
    }

    /// A reader that hands out `data` at most `step` bytes at a time.
    struct Pieces<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn scan_in_pieces(data: &[u8], step: usize) -> Option<&'static str> {
        content_looks_secret(Pieces { data, step }, Elf::Judged).unwrap()
    }

    fn scan(bytes: impl AsRef<[u8]>) -> Option<&'static str> {
        scan_in_pieces(bytes.as_ref(), usize::MAX)
    }

    const KEYSTORE: Option<&str> = Some("an Ethereum keystore");

    #[test]
    fn key_material_is_recognised_by_content() {
        assert_eq!(scan(keystore()), KEYSTORE);
        assert_eq!(scan(keystore().replace("crypto", "Crypto")), KEYSTORE);
        let nested_first = r#"{"crypto":{"cipherparams":{"iv":"00"},"kdfparams":{"n":2},"ciphertext":"5f1e"}}"#;
        assert_eq!(scan(nested_first), KEYSTORE, "objects inside crypto before its ciphertext");
        let pem = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(scan(pem), Some("a PEM private key"));
        let pkcs8 = b"subject=CN=x\r\n-----BEGIN ENCRYPTED PRIVATE KEY-----\r\nMIIF\r\n";
        assert_eq!(scan(pkcs8), Some("a PEM private key"));
        let ssh = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n";
        assert_eq!(scan(ssh), Some("an OpenSSH private key"));
        let pgp = b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQVYBGR\n";
        assert_eq!(scan(pgp), Some("a PGP private key"));
    }

    #[test]
    fn ordinary_files_pass() {
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.extend((0..300_000u32).map(|i| (i * 7) as u8));
        assert_eq!(scan(&elf), None);
        assert_eq!(scan(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), None);
        assert_eq!(scan(b"-----BEGIN PUBLIC KEY-----\nMIIB\n"), None);
        assert_eq!(scan(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF\n"), None);
        assert_eq!(scan(b"-----BEGIN FOO\nBAR PRIVATE KEY-----\n"), None, "a label is one line");
        // A program that parses keys (ffmpeg with its TLS library, ssh) holds the armour lines as
        // string constants: no line break and no key body after them.
        let mut binary = b"\x7fELF\x02\x01".to_vec();
        binary.extend_from_slice(b"-----BEGIN RSA PRIVATE KEY-----\0-----BEGIN EC PRIVATE KEY-----\0\0rsa-sha2");
        binary.extend_from_slice(b"-----BEGIN OPENSSH PRIVATE KEY-----\0\0\0\0\0Private key is bigger than 4M.\0");
        binary.extend_from_slice(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n\0\0Cannot decrypt");
        assert_eq!(scan(&binary), None);
        // A library with keys as data (gnutls's self-test keys, whole PEM blocks): left to a
        // distribution's base, found in a component.
        let mut library = b"\x7fELF\x02\x01\x01\0".to_vec();
        library
            .extend_from_slice(b"\0-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPAKWV7+p\n-----END EC PRIVATE KEY-----\n");
        assert_eq!(content_looks_secret(&library[..], Elf::Skipped).unwrap(), None);
        assert_eq!(scan(&library), Some("a PEM private key"), "a component's program with a key in it");
        assert_eq!(scan(br#"{"version":3,"crypto":{"cipher":"x"}}"#), None, "no ciphertext");
        assert_eq!(scan(br#"{"crypto":"sha256","ciphertext":"00"}"#), None);
        assert_eq!(scan(br#"{"wallet":{"crypto":{"ciphertext":"00"}}}"#), None, "not at the top");
        assert_eq!(scan(br#"[{"crypto":{"ciphertext":"00"}}]"#), None, "not an object");
        assert_eq!(scan(br#"{"crypto":[{"ciphertext":"00"}]}"#), None, "crypto is no object");
        assert_eq!(scan(br#"{"name":"livepeer","version":"0.9.1"}"#), None);
        let package = indoc::indoc! {r#"
            {
              "name": "crypto-browserify",
              "version": "3.12.0",
              "dependencies": { "crypto": "^1.0.1", "ciphertext": "2.0.0" },
              "crypto": { "cipher": "aes-128-ctr" }
            }
        "#};
        assert_eq!(scan(package), None);
        // What Go's encoding/json refuses is no key file geth reads.
        assert_eq!(scan(keystore() + "x"), None, "trailing data");
        assert_eq!(scan(format!("{}\n{}", keystore(), keystore())), None, "two documents");
        assert_eq!(scan(&keystore()[..keystore().len() - 1]), None, "cut short");
    }

    #[test]
    fn upper_case_keys_are_the_fields_go_matches() {
        let upper = keystore().replace("\"crypto\"", "\"CRYPTO\"").replace("\"ciphertext\"", "\"CIPHERTEXT\"");
        assert_eq!(scan(upper.replace("\"version\"", "\"VERSION\"")), KEYSTORE);
    }

    #[test]
    fn mixed_case_keys_are_the_fields_go_matches() {
        let mixed = keystore().replace("\"crypto\"", "\"CrYpTo\"").replace("\"ciphertext\"", "\"cipherText\"");
        assert_eq!(scan(mixed.replace("\"version\"", "\"Version\"")), KEYSTORE);
    }

    #[test]
    fn a_long_s_in_version_is_still_a_keystore() {
        assert_eq!(scan(keystore().replace("\"version\"", "\"ver\u{17f}ion\"")), KEYSTORE);
        assert_eq!(scan(keystore().replace("\"version\"", "\"VER\u{17f}ION\"")), KEYSTORE);
    }

    #[test]
    fn version_need_not_be_present() {
        assert_eq!(scan(keystore().replace(",\"version\":3", "")), KEYSTORE);
        assert_eq!(scan(br#"{"crypto":{"ciphertext":"5f1e"}}"#), KEYSTORE);
    }

    #[test]
    fn escaped_keys_are_unescaped_first() {
        let escaped = keystore()
            .replace("\"crypto\"", r#""\u0043\u0052\u0059\u0050\u0054\u004f""#)
            .replace("\"ciphertext\"", r#""\u0063ipher\u0054ext""#)
            .replace("\"version\"", r#""\u0056ersion""#);
        assert_eq!(scan(escaped), KEYSTORE);
        assert_eq!(scan(keystore().replace("\"crypto\"", r#""\u0063rypto""#)), KEYSTORE);
        assert_eq!(scan(keystore().replace("\"crypto\"", r#""\u0063rypto\n""#)), None, "a different key");
    }

    #[test]
    fn padding_past_64_kib_is_still_a_keystore() {
        let pad = " \n".repeat(40 << 10);
        assert_eq!(scan(format!("{pad}{}", keystore())), KEYSTORE);
        let inner = keystore().replacen(":{", &format!(":{pad}{{"), 1);
        assert_eq!(scan(inner), KEYSTORE);
    }

    #[test]
    fn padding_past_1_mib_is_still_a_keystore() {
        let pad = "\r\n\t ".repeat(300 << 10);
        assert_eq!(scan(format!("{pad}{}{pad}", keystore())), KEYSTORE);
        assert_eq!(scan(format!("{}{pad}", keystore())), KEYSTORE);
    }

    #[test]
    fn invalid_utf8_in_another_field_is_still_a_keystore() {
        let mut bytes = keystore().replace("\"3198bc9c", "\"\u{1}3198bc9c").into_bytes();
        let at = bytes.iter().position(|&b| b == 1).unwrap();
        bytes[at] = 0xff;
        assert_eq!(scan(&bytes), KEYSTORE, "an invalid byte");
        assert_eq!(scan(keystore().replace("\"3198bc9c", r#""\ud800 3198bc9c"#)), KEYSTORE, "a lone surrogate");
    }

    #[test]
    fn duplicate_keys_keep_the_key_material() {
        // Go decodes every `crypto` into the same struct: a later one without ciphertext keeps
        // the earlier one's.
        let dup = keystore().replacen("{", r#"{"crypto":{"cipher":"aes-128-ctr"},"#, 1);
        let dup = dup.replacen(",\"id\"", r#","crypto":{"cipher":"aes-128-ctr"},"id""#, 1);
        assert_eq!(scan(dup), KEYSTORE);
        assert_eq!(scan(keystore().replace(",\"version\":3", ",\"version\":3,\"version\":\"1\"")), KEYSTORE);
    }

    #[test]
    fn nesting_as_deep_as_go_allows_is_still_a_keystore() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(scan(keystore().replacen("{", &format!(r#"{{"deep":{deep},"#), 1)), KEYSTORE);
    }

    /// 64 KiB of text lines, then `key`.
    fn after_64_kib(key: &[u8]) -> Vec<u8> {
        let mut text = b"# a config file\n".repeat(4 << 10);
        text.extend_from_slice(key);
        text
    }

    const RSA: &[u8] = b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n";

    #[test]
    fn pem_after_64_kib_is_found() {
        assert_eq!(scan(after_64_kib(RSA)), Some("a PEM private key"));
        let ssh = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n";
        assert_eq!(scan(after_64_kib(ssh)), Some("an OpenSSH private key"));
        let mut data = b"\x1f\x8b\x08\0".to_vec();
        data.extend((0..3_000_000u32).map(|i| (i * 7) as u8));
        data.extend_from_slice(RSA);
        assert_eq!(scan(data), Some("a PEM private key"));
    }

    #[test]
    fn pem_split_across_a_read_boundary_is_found() {
        // The armour line straddles 64 KiB; the file is read in pieces that end at each byte of
        // the line, and in pieces too short to hold it.
        let mut file = after_64_kib(b"");
        file.truncate(file.len() - 10);
        file.extend_from_slice(RSA);
        for split in 1..40 {
            let reader = Pieces { data: &file, step: (64 << 10) - 10 + split };
            assert_eq!(
                content_looks_secret(reader, Elf::Judged).unwrap(),
                Some("a PEM private key"),
                "split at {split}"
            );
        }
        for step in [1, 7, 31] {
            assert_eq!(scan_in_pieces(&file, step), Some("a PEM private key"), "pieces of {step}");
        }
    }

    /// 64 MiB of whitespace and then a keystore, made while read, never held whole; and the
    /// span of memory every read was asked to fill.
    struct Padded {
        spaces: usize,
        tail: Vec<u8>,
        window: Option<(usize, usize)>,
    }

    impl Read for Padded {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let (start, end) = (buf.as_ptr() as usize, buf.as_ptr() as usize + buf.len());
            let (lo, hi) = self.window.unwrap_or((start, end));
            self.window = Some((lo.min(start), hi.max(end)));
            let n = buf.len().min(self.spaces);
            if n > 0 {
                buf[..n].fill(b' ');
                self.spaces -= n;
                return Ok(n);
            }
            let n = buf.len().min(self.tail.len());
            buf[..n].copy_from_slice(&self.tail[..n]);
            self.tail.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn a_64_mib_file_is_read_through_one_small_window() {
        let mut file = Padded { spaces: 64 << 20, tail: keystore().into_bytes(), window: None };
        assert_eq!(content_looks_secret(&mut file, Elf::Judged).unwrap(), KEYSTORE);
        assert_eq!((file.spaces, file.tail.len()), (0, 0), "read to the end");
        let (lo, hi) = file.window.unwrap();
        assert!(hi - lo <= 128 << 10, "reads filled {} bytes of memory", hi - lo);
    }

    /// Object keys: the key file's names in several spellings, and others.
    fn key() -> impl Strategy<Value = String> + Clone {
        let names = ["crypto", "Crypto", "CRYPTO", "ciphertext", "CipherText", "version", "cipher", "name", "id"];
        prop_oneof![prop::sample::select(names.to_vec()).prop_map(String::from), "[a-zA-Z_]{0,10}"]
    }

    /// Any JSON value, with keys near the key file's names.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e300..1e300f64).prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The values of the fields of `v` named `name`, in any ASCII case.
    fn fields<'a>(v: &'a serde_json::Value, name: &'a str) -> impl Iterator<Item = &'a serde_json::Value> {
        v.as_object().into_iter().flatten().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The key file's shape, for JSON whose keys are ASCII.
    fn has_keystore_shape(v: &serde_json::Value) -> bool {
        fields(v, "crypto").any(|c| fields(c, "ciphertext").next().is_some())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever spelling of its keys Go still matches, whatever whitespace around its
        /// tokens and however the file is read, a keystore is refused.
        #[test]
        fn every_spelling_go_accepts_of_a_keystore_is_refused(
            choices in prop::collection::vec(any::<u8>(), 0..256),
            step in prop_oneof![1..64usize, Just(usize::MAX)],
        ) {
            let file = keystore_spelled(&choices);
            prop_assert_eq!(scan_in_pieces(file.as_bytes(), step), KEYSTORE, "{}", file);
        }

        /// JSON without the key file's shape is no key material, nor are binary-looking bytes.
        #[test]
        fn ordinary_json_and_binaries_pass(
            doc in prop::collection::btree_map(key(), json(), 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
                .prop_filter("the key file's shape", |v| !has_keystore_shape(v)),
            pretty in any::<bool>(),
            prefix in prop::sample::select(
                vec![&b""[..], b"\x7fELF", b"{", b"\x1f\x8b", b"-----BEGIN CERTIFICATE-----\n"]
            ),
            noise in prop::collection::vec(any::<u8>(), 0..4096),
        ) {
            let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) };
            prop_assert_eq!(scan(text.unwrap()), None);
            prop_assert_eq!(scan([prefix, &noise].concat()), None);
        }
    }
}
