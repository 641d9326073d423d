//! Web3 Secret Storage v3 key files as go-ethereum's keystore writes and reads them: a secp256k1 key
//! encrypted with AES-128-CTR under a scrypt-derived key, a Keccak-256 MAC, the address in the clear.
//! Also the account address of a key and its EIP-55 (checksummed) spelling.

use aes::cipher::{KeyIvInit, StreamCipher};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// geth's `LightScryptN` and `LightScryptP`: the stand-in's keys use them (see README.md).
pub const LIGHT_SCRYPT_N: u32 = 1 << 12;
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

/// A v3 key file, fields in geth's order.
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

#[derive(Debug, Serialize, Deserialize)]
pub struct CryptoJson {
    pub cipher: String,
    pub ciphertext: String,
    pub cipherparams: CipherParams,
    pub kdf: String,
    pub kdfparams: ScryptParams,
    pub mac: String,
}

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

/// The 20-byte account address of a key: the last 20 bytes of Keccak-256 of the uncompressed public key.
pub fn address(key: &k256::SecretKey) -> [u8; 20] {
    let point = key.public_key().to_encoded_point(false);
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// EIP-55: `0x` and the hex address, a letter upper-cased where the matching nibble of Keccak-256 of the
/// lower-case hex is 8 or more (go-ethereum's `Address.Hex()`).
pub fn checksummed(address: &[u8; 20]) -> String {
    let lower = hex::encode(address);
    let hash = Keccak256::digest(lower.as_bytes());
    let mut out = String::from("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0xf;
        out.push(if nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

/// Encrypts `key` under `password` as geth's `EncryptKey` does, with scrypt `n` and `p`.
pub fn encrypt(key: &k256::SecretKey, password: &str, n: u32, p: u32) -> Result<KeyFile, KeyError> {
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
pub fn decrypt(file: &KeyFile, password: &str) -> Result<k256::SecretKey, KeyError> {
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

fn derive(password: &str, salt: &[u8], n: u32, r: u32, p: u32, len: usize) -> Result<Vec<u8>, KeyError> {
    if n < 2 || !n.is_power_of_two() {
        return Err(KeyError::Invalid("scrypt: N must be > 1 and a power of 2".into()));
    }
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p, len)
        .map_err(|e| KeyError::Invalid(format!("scrypt: {e}")))?;
    let mut out = vec![0u8; len];
    scrypt::scrypt(password.as_bytes(), salt, &params, &mut out)
        .map_err(|e| KeyError::Invalid(format!("scrypt: {e}")))?;
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
    fn address_and_checksum_of_a_known_key() {
        // Private key 1: its address is well known.
        let mut one = [0u8; 32];
        one[31] = 1;
        let key = k256::SecretKey::from_slice(&one).unwrap();
        assert_eq!(checksummed(&address(&key)), "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
    }

    #[test]
    fn eip55_examples() {
        for spelled in ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"] {
            let bytes: [u8; 20] = hex::decode(&spelled[2..]).unwrap().try_into().unwrap();
            assert_eq!(checksummed(&bytes), spelled);
        }
    }

    #[test]
    fn round_trip_and_wrong_password() {
        let key = random_key();
        let file = encrypt(&key, "pw", LIGHT_SCRYPT_N, LIGHT_SCRYPT_P).unwrap();
        assert_eq!(file.crypto.kdfparams.n, 4096);
        let json = serde_json::to_string(&file).unwrap();
        assert!(json.starts_with("{\"address\":\""), "{json}");
        let back: KeyFile = serde_json::from_str(&json).unwrap();
        assert_eq!(decrypt(&back, "pw").unwrap().to_bytes(), key.to_bytes());
        assert_eq!(decrypt(&back, "nope").unwrap_err().to_string(), "could not decrypt key with given password");
    }
}
