//! A go-ethereum keystore directory: the accounts geth lists in it (key files read through the bounded
//! reader), geth's key file names, and writing a new key file as geth does (a hidden temporary file,
//! 0600, renamed into place, in a directory made 0700).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::address::{address, hex_to_address};
use crate::v3::{encrypt, random_key, KeyError, KeyFile};

/// One account of a keystore directory: its key file and its address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Account {
    pub path: PathBuf,
    pub address: [u8; 20],
}

/// What can go wrong reading or writing a keystore directory; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot list the keystore directory {path}: {source}; check that it is a directory this user may read")]
    List { path: PathBuf, source: std::io::Error },
    #[error("cannot create the keystore directory {path}: {source}; check the ownership of its parent")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write the key file {path}: {source}; check that the keystore directory is writable and not full")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot encrypt the new key: {0}")]
    Encrypt(#[from] KeyError),
}

/// Largest key file read: a v3 key file is about 500 bytes.
const MAX_KEY_FILE_BYTES: u64 = 64 << 10;

/// The accounts of a keystore directory in geth's order (by file path), skipping what geth's account cache
/// skips: hidden files, editor backups (`~`), anything but regular files (directories, symlinks, FIFOs,
/// devices: geth's `nonKeyFile`), and files without a readable non-zero address (read bounded, so no entry
/// can make the listing wait or fill memory). A missing directory holds no accounts; one that cannot be
/// read is an error (geth logs it and sees none).
pub fn accounts(dir: &Path) -> Result<Vec<Account>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StoreError::List { path: dir.to_path_buf(), source }),
    };
    let mut found: Vec<Account> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            !name.starts_with('.') && !name.ends_with('~') && e.file_type().is_ok_and(|t| t.is_file())
        })
        .filter_map(|e| {
            let text = lpbake_rules::read::text(&e.path(), MAX_KEY_FILE_BYTES).ok()?;
            let value: serde_json::Value = serde_json::from_str(&text).ok()?;
            let address = hex_to_address(value.get("address")?.as_str()?);
            (address != [0; 20]).then(|| Account { path: e.path(), address })
        })
        .collect();
    found.sort();
    Ok(found)
}

/// geth's key file name: `UTC--<yyyy-mm-ddThh-mm-ss.nnnnnnnnnZ>--<lower-case address hex>`.
pub fn key_file_name(time: SystemTime, address: &[u8; 20]) -> String {
    // RFC 3339 in UTC with nine fraction digits, `:` spelled `-` as geth's toISO8601 does.
    let stamp = humantime::format_rfc3339_nanos(time).to_string().replace(':', "-");
    format!("UTC--{stamp}--{}", hex::encode(address))
}

/// Writes `file` into `dir` (created 0700, with any missing parents, if missing) under geth's name for
/// it at `time`: a hidden temporary file (mode 0600), synced, then renamed into place. Returns the path.
pub fn write_key_file(dir: &Path, file: &KeyFile, time: SystemTime) -> Result<PathBuf, StoreError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source })?;
    let name = key_file_name(time, &hex_to_address(&file.address));
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let json = serde_json::to_vec(file).map_err(|e| StoreError::Write { path: tmp.clone(), source: e.into() })?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut out| out.write_all(&json).and_then(|()| out.sync_all()));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::Write { path: tmp, source });
    }
    if let Err(source) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::Write { path, source });
    }
    // The rename is durable once the directory is synced.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Write { path: path.clone(), source })?;
    Ok(path)
}

/// A new account in `dir`: a fresh key encrypted with `password` (scrypt `n`, `p`), written by
/// [`write_key_file`] with the current time in its name. Returns the new account.
pub fn create_account(dir: &Path, password: &[u8], n: u32, p: u32) -> Result<Account, StoreError> {
    let key = random_key();
    let file = encrypt(&key, password, n, p)?;
    let path = write_key_file(dir, &file, SystemTime::now())?;
    Ok(Account { path, address: address(&key) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v3::{decrypt, LIGHT_SCRYPT_N, LIGHT_SCRYPT_P};
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn accounts_skip_what_geth_skips_and_sort_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).unwrap();
        write("b", "{\"address\":\"02\"}");
        write("a", "{\"address\":\"03\"}");
        write(".hidden", "{\"address\":\"04\"}");
        write("c~", "{\"address\":\"05\"}");
        write("zero", "{\"address\":\"00\"}");
        write("junk", "not json");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let found: Vec<u8> = accounts(dir.path()).unwrap().iter().map(|a| a.address[19]).collect();
        assert_eq!(found, vec![3, 2]);
        assert_eq!(accounts(&dir.path().join("missing")).unwrap(), vec![]);
    }

    #[test]
    fn accounts_skip_special_files_and_links_without_reading_them() {
        // geth's nonKeyFile skips anything but regular files; a FIFO would make a read wait forever.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "{\"address\":\"03\"}").unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo (coreutils) failed: run `make deps`");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("b")).unwrap();
        let path = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(accounts(&path).map(|a| a.iter().map(|a| a.address[19]).collect())));
        let found: Vec<u8> = rx.recv_timeout(Duration::from_secs(10)).expect("listing waited").unwrap();
        assert_eq!(found, vec![3]);
    }

    #[test]
    fn key_file_names_are_geths() {
        let mut addr = [0u8; 20];
        addr[0] = 0xab;
        let at = UNIX_EPOCH + Duration::new(1_709_164_800 + 3_723, 5);
        assert_eq!(key_file_name(at, &addr), format!("UTC--2024-02-29T01-02-03.000000005Z--ab{}", "00".repeat(19)));
        let whole = key_file_name(UNIX_EPOCH, &addr);
        assert!(whole.starts_with("UTC--1970-01-01T00-00-00.000000000Z--"), "{whole}");
    }

    #[test]
    fn a_created_account_is_listed_private_and_opens() {
        let dir = tempfile::tempdir().unwrap();
        let keystore = dir.path().join("data").join("keystore");
        let account = create_account(&keystore, b"pw", LIGHT_SCRYPT_N, LIGHT_SCRYPT_P).unwrap();
        assert_eq!(accounts(&keystore).unwrap(), vec![account.clone()]);
        assert_eq!(std::fs::metadata(&keystore).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(&account.path).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(&keystore).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
        let file: KeyFile = serde_json::from_slice(&std::fs::read(&account.path).unwrap()).unwrap();
        assert_eq!(address(&decrypt(&file, b"pw").unwrap()), account.address);
    }
}
