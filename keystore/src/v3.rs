//! Web3 Secret Storage v3 key files as go-ethereum's keystore writes and reads them: a secp256k1 key
//! encrypted with AES-128-CTR under a scrypt-derived key, a Keccak-256 MAC, the address in the clear.
//! Passwords are bytes, as geth's `[]byte(auth)`.

use aes::cipher::{KeyIvInit, StreamCipher};
use serde::{Deserialize, Serialize};

use crate::address::address;
use sha3::{Digest, Keccak256};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// geth's `StandardScryptN`: what go-livepeer's account manager encrypts new keys with (256 MiB, ~1 s).
pub const STANDARD_SCRYPT_N: u32 = 1 << 18;
/// geth's `StandardScryptP`.
pub const STANDARD_SCRYPT_P: u32 = 1;
/// geth's `LightScryptN`: 4 MiB, for machines (or emulators) where the standard cost is too slow.
pub const LIGHT_SCRYPT_N: u32 = 1 << 12;
/// geth's `LightScryptP`.
pub const LIGHT_SCRYPT_P: u32 = 6;
const SCRYPT_R: u32 = 8;
const SCRYPT_DKLEN: usize = 32;

/// What can go wrong opening a key file; the texts are go-ethereum's.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("could not decrypt key with given password")]
    Decrypt,
    #[error("Version not supported: {0}")]
    Version(u64),
    #[error("cipher not supported: {0}")]
    Cipher(String),
    #[error("unsupported KDF: {0}")]
    Kdf(String),
    #[error("{0}")]
    Invalid(String),
    #[error("key content mismatch: have account {have}, want {want}")]
    Mismatch { have: String, want: String },
}

/// A v3 key file, fields in geth's order; (de)serialise it with serde_json.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyFile {
    #[serde(default)]
    pub address: String,
    #[serde(alias = "Crypto")]
    pub crypto: CryptoJson,
    #[serde(default)]
    pub id: String,
    pub version: u64,
}

/// The `crypto` object of a key file.
#[derive(Debug, Serialize, Deserialize)]
pub struct CryptoJson {
    pub cipher: String,
    pub ciphertext: String,
    pub cipherparams: CipherParams,
    pub kdf: String,
    pub kdfparams: ScryptParams,
    pub mac: String,
}

/// AES-128-CTR's initial counter.
#[derive(Debug, Serialize, Deserialize)]
pub struct CipherParams {
    pub iv: String,
}

/// scrypt parameters; go marshals geth's map with its keys sorted, which is this order.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScryptParams {
    pub dklen: usize,
    pub n: u32,
    pub p: u32,
    pub r: u32,
    pub salt: String,
}

/// A fresh secp256k1 secret key from the operating system's randomness.
pub fn random_key() -> k256::SecretKey {
    loop {
        // A draw that is zero or not below the group order is refused; drawing again is what geth's
        // ecdsa.GenerateKey amounts to.
        if let Ok(key) = k256::SecretKey::from_slice(&random::<32>()) {
            return key;
        }
    }
}

/// Encrypts `key` under `password` as geth's `EncryptKey` does, with scrypt `n` and `p`.
pub fn encrypt(key: &k256::SecretKey, password: &[u8], n: u32, p: u32) -> Result<KeyFile, KeyError> {
    let salt = random::<32>();
    let iv = random::<16>();
    let derived = derive(password, &salt, n, SCRYPT_R, p, SCRYPT_DKLEN)?;
    let mut ciphertext = key.to_bytes().to_vec();
    Aes128Ctr::new(derived[..16].into(), (&iv).into()).apply_keystream(&mut ciphertext);
    let mac = mac(&derived, &ciphertext);
    Ok(KeyFile {
        address: hex::encode(address(key)),
        crypto: CryptoJson {
            cipher: "aes-128-ctr".into(),
            ciphertext: hex::encode(&ciphertext),
            cipherparams: CipherParams { iv: hex::encode(iv) },
            kdf: "scrypt".into(),
            kdfparams: ScryptParams { dklen: SCRYPT_DKLEN, n, p, r: SCRYPT_R, salt: hex::encode(salt) },
            mac: hex::encode(mac),
        },
        id: uuid::Builder::from_random_bytes(random::<16>()).into_uuid().to_string(),
        version: 3,
    })
}

/// Decrypts a key file with `password`, as geth's `DecryptKey`, with the scrypt parameters of the file,
/// and checks that the key belongs to the file's address.
pub fn decrypt(file: &KeyFile, password: &[u8]) -> Result<k256::SecretKey, KeyError> {
    if file.version != 3 {
        return Err(KeyError::Version(file.version));
    }
    let c = &file.crypto;
    if c.cipher != "aes-128-ctr" {
        return Err(KeyError::Cipher(c.cipher.clone()));
    }
    if c.kdf != "scrypt" {
        return Err(KeyError::Kdf(c.kdf.clone()));
    }
    let bad_hex = |what: &str| KeyError::Invalid(format!("encoding/hex: invalid {what}"));
    let salt = hex::decode(&c.kdfparams.salt).map_err(|_| bad_hex("salt"))?;
    let iv = hex::decode(&c.cipherparams.iv).map_err(|_| bad_hex("iv"))?;
    let mut data = hex::decode(&c.ciphertext).map_err(|_| bad_hex("ciphertext"))?;
    let want_mac = hex::decode(&c.mac).map_err(|_| bad_hex("mac"))?;
    let k = &c.kdfparams;
    let derived = derive(password, &salt, k.n, k.r, k.p, k.dklen)?;
    if derived.len() < 32 || mac(&derived, &data).as_slice() != want_mac.as_slice() {
        return Err(KeyError::Decrypt);
    }
    let iv: [u8; 16] = iv.try_into().map_err(|_| KeyError::Invalid("invalid IV length".into()))?;
    Aes128Ctr::new(derived[..16].into(), (&iv).into()).apply_keystream(&mut data);
    let key = k256::SecretKey::from_slice(&data).map_err(|_| KeyError::Invalid("invalid private key".into()))?;
    let have = hex::encode(address(&key));
    if !file.address.is_empty() && !file.address.trim_start_matches("0x").eq_ignore_ascii_case(&have) {
        return Err(KeyError::Mismatch { have, want: file.address.clone() });
    }
    Ok(key)
}

fn derive(password: &[u8], salt: &[u8], n: u32, r: u32, p: u32, len: usize) -> Result<Vec<u8>, KeyError> {
    if n < 2 || !n.is_power_of_two() {
        return Err(KeyError::Invalid("scrypt: N must be > 1 and a power of 2".into()));
    }
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p, len)
        .map_err(|e| KeyError::Invalid(format!("scrypt: {e}")))?;
    let mut out = vec![0u8; len];
    scrypt::scrypt(password, salt, &params, &mut out).map_err(|e| KeyError::Invalid(format!("scrypt: {e}")))?;
    Ok(out)
}

fn mac(derived: &[u8], ciphertext: &[u8]) -> [u8; 32] {
    Keccak256::new().chain_update(&derived[16..32]).chain_update(ciphertext).finalize().into()
}

fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The kernel's randomness is always there on Linux; without it no key can be made at all.
    getrandom::fill(&mut buf).expect("the operating system's random number generator");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let key = random_key();
        let file = encrypt(&key, b"pw", LIGHT_SCRYPT_N, LIGHT_SCRYPT_P).unwrap();
        assert_eq!((file.crypto.kdfparams.n, file.crypto.kdfparams.p, file.crypto.kdfparams.r), (4096, 6, 8));
        let json = serde_json::to_string(&file).unwrap();
        assert!(json.starts_with("{\"address\":\""), "{json}");
        let back: KeyFile = serde_json::from_str(&json).unwrap();
        assert_eq!(decrypt(&back, b"pw").unwrap().to_bytes(), key.to_bytes());
        assert_eq!(decrypt(&back, b"nope").unwrap_err().to_string(), "could not decrypt key with given password");
    }

    #[test]
    fn decrypt_honours_the_files_own_parameters() {
        // r and n other than geth's: the file says what to use.
        let key = random_key();
        let mut file = encrypt(&key, b"pw", 1 << 4, 1).unwrap();
        assert_eq!(decrypt(&file, b"pw").unwrap().to_bytes(), key.to_bytes());
        file.crypto.kdfparams.r = 4;
        assert!(matches!(decrypt(&file, b"pw"), Err(KeyError::Decrypt)));
    }

    #[test]
    fn refuses_what_geth_refuses() {
        let key = random_key();
        let mut file = encrypt(&key, b"pw", 1 << 4, 1).unwrap();
        file.version = 1;
        assert_eq!(decrypt(&file, b"pw").unwrap_err().to_string(), "Version not supported: 1");
        file.version = 3;
        file.address = "00".repeat(20);
        assert!(matches!(decrypt(&file, b"pw"), Err(KeyError::Mismatch { .. })));
        file.crypto.kdf = "pbkdf2".into();
        assert_eq!(decrypt(&file, b"pw").unwrap_err().to_string(), "unsupported KDF: pbkdf2");
    }

    #[test]
    fn an_independent_reader_opens_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = random_key();
        let file = encrypt(&key, "pw".as_bytes(), LIGHT_SCRYPT_N, LIGHT_SCRYPT_P).unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert_eq!(eth_keystore::decrypt_key(&path, "pw").unwrap(), key.to_bytes().to_vec());
    }
}
