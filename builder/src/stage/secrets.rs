//! The build-time guard against key material in an image: any staged path that looks like a
//! keystore, a private key or a password file stops the build, naming the path.

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

#[cfg(test)]
mod tests {
    use super::looks_secret;

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
}
