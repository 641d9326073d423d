//! Account addresses: a typed 20-byte [`Address`] (parsed from `0x` and 40 hex digits, shown so),
//! derived from a key, spelled with the EIP-55 checksum, and read leniently from hex
//! as go-ethereum's `HexToAddress` reads them.

use k256::elliptic_curve::sec1::ToEncodedPoint;
use sha3::{Digest, Keccak256};
use std::fmt;
use std::str::FromStr;

/// A 20-byte Ethereum address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address(pub [u8; 20]);

impl FromStr for Address {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let digits = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
        let mut a = [0u8; 20];
        hex::decode_to_slice(digits, &mut a)
            .map_err(|e| format!("invalid address {s:?} ({e}): expected 0x and 40 hex digits"))?;
        Ok(Address(a))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The 20-byte account address of a key: the last 20 bytes of Keccak-256 of the uncompressed public key.
pub fn address(key: &k256::SecretKey) -> [u8; 20] {
    public_address(&key.public_key())
}

/// The account address of a public key.
pub(crate) fn public_address(key: &k256::PublicKey) -> [u8; 20] {
    let point = key.to_encoded_point(false);
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
}
