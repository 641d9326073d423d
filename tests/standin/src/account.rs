//! The node's Ethereum account on a network other than `offchain`, as go-livepeer's starter and
//! `eth.NewAccountManager`/`Unlock` find, create and unlock it in a go-ethereum keystore directory.
//! Failures end the process as they end the real one: `glog.Exit` (1) for a bad `-ethKeystorePath`, and the
//! starter's plain `return` (exit 0) for an account that cannot be created or unlocked.

use std::path::{Path, PathBuf};

use crate::node::read_from_file;
use crate::{error, exit, info};
use lpbake_keystore::{self as keystore, hex_to_address, KeyFile};

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
/// checksummed address and the key, or ends the process (exit 0) with upstream's error line.
pub fn open(dir: &Path, acct_flag: &str, eth_password: &str) -> (String, keystore::SecretKey) {
    let wanted = hex_to_address(acct_flag);
    // geth logs an unreadable directory and sees no accounts in it.
    let accounts = keystore::accounts(dir).unwrap_or_default();
    let exists = accounts.iter().any(|a| a.address == wanted);
    let keystore::Account { path, address } = if accounts.is_empty() || (wanted != [0; 20] && !exists) {
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
        // Light scrypt parameters: a divergence, see README.md.
        keystore::create_account(dir, eth_password.as_bytes(), keystore::LIGHT_SCRYPT_N, keystore::LIGHT_SCRYPT_P)
            .unwrap_or_else(|e| {
                error!("Error creating Ethereum account manager: {e}");
                std::process::exit(0)
            })
    } else if wanted != [0; 20] {
        accounts.into_iter().find(|a| a.address == wanted).unwrap_or_else(|| {
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
    let key = unlocked.unwrap_or_else(|e| {
        error!("Error unlocking Ethereum account: {e}");
        std::process::exit(0)
    });
    info!("Unlocked ETH account: {hex}");
    (hex, key)
}

/// Decrypts the key file at `path` (geth's `KeyStore.Unlock`).
fn unlock(path: &Path, passphrase: &str) -> Result<keystore::SecretKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    keystore::decrypt(&file, passphrase.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
