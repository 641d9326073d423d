//! Signed text as go-ethereum and go-livepeer's `/signMessage` make it: EIP-191 version 0x45
//! (`"\x19Ethereum Signed Message:\n" + length + text`, hashed with Keccak-256), an RFC 6979
//! signature as 65 bytes `r || s || v` with `v` 27 or 28; and the signer's address recovered
//! from such a signature.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use sha3::{Digest, Keccak256};

/// Why a signature does not name a signer.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("a signature is 65 bytes (r, s, v), not {0}")]
    Length(usize),
    #[error("the signature's v is {0}, not 27 or 28")]
    V(u8),
    #[error("the signature is not a valid secp256k1 signature")]
    Invalid,
}

/// Keccak-256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The EIP-191 hash of `text` (go-ethereum's `accounts.TextHash`).
pub fn text_hash(text: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", text.len()).as_bytes());
    h.update(text);
    h.finalize().into()
}

/// Signs `text` with `key` as go-livepeer's `/signMessage` does.
pub fn sign_text(key: &k256::SecretKey, text: &[u8]) -> [u8; 65] {
    let signing = SigningKey::from(key);
    let (sig, recid) = signing.sign_prehash_recoverable(&text_hash(text)).expect("a 32-byte hash is always signable");
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64] = 27 + recid.to_byte();
    out
}

/// The address whose key signed `text` with `sig` (65 bytes, `v` 27 or 28).
pub fn recover_text(text: &[u8], sig: &[u8]) -> Result<[u8; 20], SignatureError> {
    if sig.len() != 65 {
        return Err(SignatureError::Length(sig.len()));
    }
    let recid = match sig[64] {
        v @ (27 | 28) => RecoveryId::from_byte(v - 27).ok_or(SignatureError::V(v))?,
        v => return Err(SignatureError::V(v)),
    };
    let signature = Signature::from_slice(&sig[..64]).map_err(|_| SignatureError::Invalid)?;
    // A high-s signature is malleable: one message, two signatures. Only the low-s one counts.
    if signature.normalize_s().is_some() {
        return Err(SignatureError::Invalid);
    }
    let key =
        VerifyingKey::recover_from_prehash(&text_hash(text), &signature, recid).map_err(|_| SignatureError::Invalid)?;
    Ok(crate::address::public_address(&key.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// web3.js's documented `accounts.sign("Some data", key)` example: an independent vector.
    const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    const HASH: &str = "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655";
    const SIG: &str = "b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c";

    #[test]
    fn matches_the_web3_vector_and_recovers_the_signer() {
        let key = k256::SecretKey::from_slice(&hex::decode(KEY).unwrap()).unwrap();
        assert_eq!(hex::encode(text_hash(b"Some data")), HASH);
        let sig = sign_text(&key, b"Some data");
        assert_eq!(hex::encode(sig), SIG);
        assert_eq!(recover_text(b"Some data", &sig), Ok(crate::address(&key)));
        assert_ne!(recover_text(b"Some datA", &sig), Ok(crate::address(&key)));
    }

    #[test]
    fn refuses_what_is_not_a_signature() {
        let sig = hex::decode(SIG).unwrap();
        assert_eq!(recover_text(b"x", &sig[..64]), Err(SignatureError::Length(64)));
        let mut v = sig.clone();
        v[64] = 1;
        assert_eq!(recover_text(b"x", &v), Err(SignatureError::V(1)));
        assert_eq!(
            recover_text(b"x", &[0u8; 65][..64].iter().chain([&27u8]).copied().collect::<Vec<_>>()),
            Err(SignatureError::Invalid)
        );
        // The same signature with s replaced by n - s (and v flipped) recovers the same key: refused.
        let s = k256::NonZeroScalar::try_from(&sig[32..64]).unwrap();
        let mut high = sig.clone();
        high[32..64].copy_from_slice(&(-*s).to_bytes());
        high[64] = 55 - high[64];
        assert_eq!(recover_text(b"Some data", &high), Err(SignatureError::Invalid));
    }
}
