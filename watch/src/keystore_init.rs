//! `lpwatch keystore-init`: puts livepeer's Ethereum account into its keystore before livepeer's first
//! start. go-livepeer v0.9.1 encrypts an account it creates with the `-ethPassword` PATH when that
//! names a file but unlocks with the file's contents, so a node given only a password file could never
//! unlock its own new account. This creates the account with the contents instead, read as go-livepeer's
//! `common.ReadFromFile` reads them (`strings.TrimSpace`). A keystore that already holds an account is
//! left alone. The password is never printed or logged.

use std::fmt;
use std::path::{Path, PathBuf};

use lpbake_keystore::{self as keystore, Account, StoreError};
use lpbake_rules::read::ReadError;

use crate::cli::KeystoreInitArgs;

/// Why no account could be made ready; each names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "the password file {0}\n  it must hold the node's Ethereum account password (the appliance loads it \
         from /var/lib/livepeer/credentials/eth-password)"
    )]
    PasswordFile(ReadError),
    #[error(
        "the password file {path} is empty or only whitespace: refusing to encrypt the node's account with \
         an empty password; write the account password into it (the appliance loads it from \
         /var/lib/livepeer/credentials/eth-password) and start again"
    )]
    EmptyPassword { path: PathBuf },
    #[error(transparent)]
    Keystore(#[from] StoreError),
}

/// What `keystore-init` found or did; its `Display` is the line printed on stdout.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The keystore already held this account (the one livepeer uses: geth's first); nothing changed.
    Existing(Account),
    /// A new account was written.
    Created(Account),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Existing(a) => write!(f, "existing account {}", keystore::checksummed(&a.address)),
            Outcome::Created(a) => write!(f, "created account {}", keystore::checksummed(&a.address)),
        }
    }
}

/// Finds the account of `args.keystore`, or creates one encrypted with the trimmed contents of
/// `args.password_file` (standard scrypt unless `light_kdf`).
pub fn run(args: &KeystoreInitArgs) -> Result<Outcome, InitError> {
    if let Some(first) = keystore::accounts(&args.keystore)?.into_iter().next() {
        return Ok(Outcome::Existing(first));
    }
    let password = read_password(&args.password_file)?;
    let (n, p) = if args.light_kdf {
        (keystore::LIGHT_SCRYPT_N, keystore::LIGHT_SCRYPT_P)
    } else {
        (keystore::STANDARD_SCRYPT_N, keystore::STANDARD_SCRYPT_P)
    };
    Ok(Outcome::Created(keystore::create_account(&args.keystore, &password, n, p)?))
}

/// Largest password file read (through the bounded reader: a regular file, never a FIFO or
/// device): a password is at most a few hundred bytes.
const MAX_PASSWORD_FILE_BYTES: u64 = 64 << 10;

/// The password in `path` as go-livepeer's `common.ReadFromFile` yields it: the bytes with surrounding
/// white space trimmed; an empty result is refused.
pub fn read_password(path: &Path) -> Result<Vec<u8>, InitError> {
    let bytes = lpbake_rules::read::bytes(path, MAX_PASSWORD_FILE_BYTES).map_err(InitError::PasswordFile)?;
    let password = trim_space(&bytes);
    if password.is_empty() {
        return Err(InitError::EmptyPassword { path: path.to_path_buf() });
    }
    Ok(password.to_vec())
}

/// Go's `strings.TrimSpace`: strips Unicode white space (Rust's `char::is_whitespace` is the same set)
/// from both ends, stopping at the first byte that is not valid UTF-8, as Go's rune decoding does.
pub fn trim_space(bytes: &[u8]) -> &[u8] {
    let lead = bytes.utf8_chunks().next().map_or(0, |c| c.valid().len() - c.valid().trim_start().len());
    let rest = &bytes[lead..];
    let trail = rest.utf8_chunks().last().map_or(0, |c| {
        if c.invalid().is_empty() {
            c.valid().len() - c.valid().trim_end().len()
        } else {
            0
        }
    });
    &rest[..rest.len() - trail]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_as_go_strings_trim_space() {
        assert_eq!(trim_space(b"pw\n"), b"pw");
        assert_eq!(trim_space(b" \t\r\npw word\x0b\x0c "), b"pw word");
        assert_eq!(trim_space("\u{a0}pw\u{3000}\u{85}".as_bytes()), b"pw");
        assert_eq!(trim_space(b" \n\t"), b"");
        assert_eq!(trim_space(b""), b"");
        // Invalid UTF-8 is kept, and white space is trimmed only up to it.
        assert_eq!(trim_space(b" \xffpw\xfe "), b"\xffpw\xfe");
        assert_eq!(trim_space(b"\n\xff \n"), b"\xff");
    }

    #[test]
    fn password_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let e = read_password(&missing).unwrap_err().to_string();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        let blank = dir.path().join("blank");
        std::fs::write(&blank, " \n").unwrap();
        let e = read_password(&blank).unwrap_err().to_string();
        assert!(e.contains(&blank.display().to_string()) && e.contains("empty"), "{e}");
    }
}
