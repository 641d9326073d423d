//! The node's Ethereum account on a network other than `offchain`, as go-livepeer's starter and
//! `eth.NewAccountManager`/`Unlock` find, create and unlock it in a go-ethereum keystore directory.
//! Failures end the process as they end the real one: `glog.Exit` (1) for a bad `-ethKeystorePath`, and the
//! starter's plain `return` (exit 0) for an account that cannot be created or unlocked.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::keystore::{self, KeyFile};
use crate::node::read_from_file;
use crate::{error, exit, info};

/// What `-ethKeystorePath` named: a keystore directory, or one key file whose address becomes the account.
#[derive(Debug, Default, PartialEq)]
pub struct KeystorePath {
    pub dir: Option<PathBuf>,
    pub address: Option<[u8; 20]>,
}

/// The starter's `parseEthKeystorePath`; the error texts are upstream's.
pub fn parse_keystore_path(path: &str) -> Result<KeystorePath, &'static str> {
    if path.is_empty() {
        return Ok(KeystorePath::default());
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    let meta = std::fs::metadata(path).map_err(|_| "provided -ethKeystorePath was not found")?;
    if meta.is_dir() {
        return Ok(KeystorePath { dir: Some(PathBuf::from(path)), address: None });
    }
    let text = std::fs::read_to_string(path).map_err(|_| "error opening keystore")?;
    let address = serde_json::from_str::<serde_json::Value>(text.trim())
        .ok()
        .and_then(|v| v.get("address").and_then(|a| a.as_str()).map(str::to_string))
        .filter(|a| !a.is_empty())
        .ok_or("error parsing address from keyfile")?;
    Ok(KeystorePath { dir: None, address: Some(hex_to_address(&address)) })
}

/// The keystore directory and the `-ethAcctAddr` in force, as the starter settles them; exits 1 where it does.
pub fn settle(data_dir: &Path, keystore_flag: &str, acct_flag: &str) -> (PathBuf, String) {
    let parsed = parse_keystore_path(keystore_flag).unwrap_or_else(|e| exit!(1, "{e}"));
    let mut acct = acct_flag.to_string();
    if let Some(address) = parsed.address {
        let wanted = hex_to_address(acct_flag);
        if wanted == [0; 20] || wanted == address {
            acct = keystore::checksummed(&address);
        } else {
            exit!(1, "-ethKeystorePath and -ethAcctAddr were both provided, but ethAcctAddr does not match the address found in keystore");
        }
    }
    (parsed.dir.unwrap_or_else(|| data_dir.join("keystore")), acct)
}

/// `NewAccountManager` then `Unlock`: finds or creates the account and decrypts its key; returns its
/// checksummed address, or ends the process (exit 0) with upstream's error line.
pub fn open(dir: &Path, acct_flag: &str, eth_password: &str) -> String {
    let wanted = hex_to_address(acct_flag);
    let accounts = accounts(dir);
    let exists = accounts.iter().any(|(_, a)| *a == wanted);
    let (path, address) = if accounts.is_empty() || (wanted != [0; 20] && !exists) {
        info!("No Ethereum account found. Creating a new account");
        info!("This process will create a new Ethereum account for this Livepeer node");
        if eth_password.is_empty() {
            info!("Please enter a passphrase to encrypt the Private Keystore file for the Ethereum account.");
            info!("This process will ask for this passphrase every time it is launched");
            info!("(no characters will appear in Terminal when the passphrase is entered)");
            // The stand-in never prompts: it answers as the real node does with no terminal on stdin.
            error!("Error creating Ethereum account manager: EOF");
            std::process::exit(0);
        }
        // As upstream v0.9.1: the new key is encrypted with the -ethPassword value as given, even when it
        // names a file (only Unlock reads the file); see README.md.
        create(dir, eth_password).unwrap_or_else(|e| {
            error!("Error creating Ethereum account manager: {e}");
            std::process::exit(0)
        })
    } else if wanted != [0; 20] {
        accounts.into_iter().find(|(_, a)| *a == wanted).unwrap_or_else(|| {
            error!("Error creating Ethereum account manager: ETH account not found");
            std::process::exit(0)
        })
    } else {
        accounts.into_iter().next().unwrap_or_else(|| std::process::exit(0))
    };
    let hex = keystore::checksummed(&address);
    info!("Using Ethereum account: {hex}");

    let passphrase = read_from_file(eth_password);
    let mut unlocked = unlock(&path, &passphrase);
    if unlocked.is_err() && passphrase.is_empty() {
        info!("Please enter the passphrase to unlock Ethereum account {hex}");
        // No terminal: the prompt reads nothing and the empty passphrase is tried again.
        unlocked = unlock(&path, "");
    }
    if let Err(e) = unlocked {
        error!("Error unlocking Ethereum account: {e}");
        std::process::exit(0);
    }
    info!("Unlocked ETH account: {hex}");
    hex
}

/// The accounts of a keystore directory in geth's order (by file path), skipping what geth's account cache
/// skips: hidden files, editor backups (`~`), directories, and files without a readable non-zero address.
pub fn accounts(dir: &Path) -> Vec<(PathBuf, [u8; 20])> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(PathBuf, [u8; 20])> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            !name.starts_with('.') && !name.ends_with('~') && e.file_type().is_ok_and(|t| !t.is_dir())
        })
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            let value: serde_json::Value = serde_json::from_str(&text).ok()?;
            let address = hex_to_address(value.get("address")?.as_str()?);
            (address != [0; 20]).then(|| (e.path(), address))
        })
        .collect();
    found.sort();
    found
}

/// A new key encrypted with `password`, written as `UTC--<time>--<address>` (0600) in `dir` (made 0700),
/// with the light scrypt parameters.
fn create(dir: &Path, password: &str) -> Result<(PathBuf, [u8; 20]), String> {
    let key = keystore::random_key();
    let address = keystore::address(&key);
    let file = keystore::encrypt(&key, password, keystore::LIGHT_SCRYPT_N, keystore::LIGHT_SCRYPT_P)
        .map_err(|e| e.to_string())?;
    let json = serde_json::to_vec(&file).map_err(|e| e.to_string())?;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| e.to_string())?;
    let name = format!("UTC--{}--{}", iso8601_now(), hex::encode(address));
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut out =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(|e| e.to_string())?;
    out.write_all(&json).and_then(|()| out.sync_all()).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    Ok((path, address))
}

/// Decrypts the key file at `path` (geth's `KeyStore.Unlock`).
fn unlock(path: &Path, passphrase: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    keystore::decrypt(&file, passphrase).map(|_| ()).map_err(|e| e.to_string())
}

/// go-ethereum's `HexToAddress`: optional `0x`, odd length padded, invalid hex cut short, last 20 bytes.
pub fn hex_to_address(s: &str) -> [u8; 20] {
    let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    let padded = if s.len() % 2 == 1 { format!("0{s}") } else { s.to_string() };
    let bytes: Vec<u8> = padded
        .as_bytes()
        .chunks(2)
        .map_while(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect();
    let mut out = [0u8; 20];
    let tail = &bytes[bytes.len().saturating_sub(20)..];
    out[20 - tail.len()..].copy_from_slice(tail);
    out
}

/// geth's key file time stamp: `2006-01-02T15-04-05.999999999Z` in UTC.
fn iso8601_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (year, month, day) = crate::log::civil_date(secs / 86_400);
    let sod = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}.{:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        now.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_addresses_as_go_ethereum_reads_them() {
        let mut one = [0u8; 20];
        one[19] = 1;
        assert_eq!(hex_to_address("0x1"), one);
        assert_eq!(hex_to_address("01"), one);
        assert_eq!(hex_to_address(""), [0; 20]);
        assert_eq!(hex_to_address("0xzz"), [0; 20]);
        let long = format!("0xff{}", "00".repeat(19) + "01");
        assert_eq!(hex_to_address(&long), one);
    }

    #[test]
    fn keystore_path_forms() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        assert_eq!(parse_keystore_path(&format!("{d}/")).unwrap().dir, Some(dir.path().to_path_buf()));
        assert_eq!(parse_keystore_path(&format!("{d}/missing")), Err("provided -ethKeystorePath was not found"));
        let file = dir.path().join("key");
        std::fs::write(&file, "{\"address\":\"0x01\"}").unwrap();
        let parsed = parse_keystore_path(&file.display().to_string()).unwrap();
        assert_eq!((parsed.dir, parsed.address.map(|a| a[19])), (None, Some(1)));
        std::fs::write(&file, "{{").unwrap();
        assert_eq!(parse_keystore_path(&file.display().to_string()), Err("error parsing address from keyfile"));
    }

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
        let found: Vec<u8> = accounts(dir.path()).iter().map(|(_, a)| a[19]).collect();
        assert_eq!(found, vec![3, 2]);
    }

    #[test]
    fn time_stamp_shape() {
        let stamp = iso8601_now();
        assert_eq!(stamp.len(), "2006-01-02T15-04-05.999999999Z".len(), "{stamp}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T');
    }
}
