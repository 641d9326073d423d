//! The two Livepeer contract calls lpwatch makes, ABI-encoded by hand: `RoundsManager.currentRound()`
//! and `BondingManager.getTranscoder(address)`, whose return tuple starts with `lastRewardRound`.

use std::fmt;
use std::str::FromStr;

/// `keccak256("currentRound()")[..4]`.
pub const CURRENT_ROUND: [u8; 4] = [0x8a, 0x19, 0xc8, 0xbc];
/// `keccak256("getTranscoder(address)")[..4]`.
pub const GET_TRANSCODER: [u8; 4] = [0x5d, 0xce, 0x99, 0x48];

/// Number of 32-byte words `getTranscoder` returns: lastRewardRound, rewardCut, feeShare,
/// lastActiveStakeUpdateRound, activationRound, deactivationRound, activeCumulativeRewards,
/// cumulativeRewards, cumulativeFees, lastFeeRound.
pub const TRANSCODER_WORDS: usize = 10;

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

/// Calldata for `currentRound()`.
pub fn current_round_call() -> String {
    format!("0x{}", hex::encode(CURRENT_ROUND))
}

/// Calldata for `getTranscoder(addr)`.
pub fn get_transcoder_call(addr: &Address) -> String {
    format!("0x{}{:0>64}", hex::encode(GET_TRANSCODER), hex::encode(addr.0))
}

/// The fields of `getTranscoder`'s return tuple that lpwatch uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranscoderInfo {
    pub last_reward_round: u64,
    pub activation_round: u64,
    /// Saturated to `u64::MAX` (the contract uses 2^256-1 for "never").
    pub deactivation_round: u64,
}

/// A 32-byte word as u64, or `None` if it does not fit.
fn word_u64(word: &[u8]) -> Option<u64> {
    if word[..24].iter().any(|b| *b != 0) {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&word[24..32]);
    Some(u64::from_be_bytes(b))
}

/// Decodes a `uint256` return value that must fit a u64 (a round number).
pub fn decode_round(data: &[u8]) -> Result<u64, String> {
    if data.len() < 32 {
        return Err(format!("currentRound() returned {} bytes, expected 32", data.len()));
    }
    word_u64(&data[..32]).ok_or_else(|| "currentRound() returned a value above 2^64".into())
}

/// Decodes `getTranscoder`'s 10-word tuple.
pub fn decode_transcoder(data: &[u8]) -> Result<TranscoderInfo, String> {
    if data.len() < 32 * TRANSCODER_WORDS {
        return Err(format!(
            "getTranscoder() returned {} bytes, expected {} (is this the BondingManager?)",
            data.len(),
            32 * TRANSCODER_WORDS
        ));
    }
    let word = |i: usize| &data[i * 32..(i + 1) * 32];
    let last_reward_round =
        word_u64(word(0)).ok_or("getTranscoder(): lastRewardRound above 2^64 (is this the BondingManager?)")?;
    let activation_round = word_u64(word(4)).unwrap_or(u64::MAX);
    let deactivation_round = word_u64(word(5)).unwrap_or(u64::MAX);
    Ok(TranscoderInfo { last_reward_round, activation_round, deactivation_round })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_round_trip() {
        let a: Address = "0x2C7536E3605D9C16a7a3D7b1898e529396a65c23".parse().unwrap();
        assert_eq!(a.to_string(), "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23");
        assert!("0x12".parse::<Address>().is_err());
        assert!("0xzz7536e3605d9c16a7a3d7b1898e529396a65c23".parse::<Address>().is_err());
    }

    /// The first four bytes of keccak256 of a function signature.
    fn selector(signature: &str) -> [u8; 4] {
        use sha3::{Digest, Keccak256};
        let hash = Keccak256::digest(signature.as_bytes());
        [hash[0], hash[1], hash[2], hash[3]]
    }

    #[test]
    fn selectors_are_the_signatures_hashes() {
        assert_eq!(CURRENT_ROUND, selector("currentRound()"));
        assert_eq!(GET_TRANSCODER, selector("getTranscoder(address)"));
    }

    #[test]
    fn calldata() {
        assert_eq!(current_round_call(), "0x8a19c8bc");
        let a: Address = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23".parse().unwrap();
        assert_eq!(
            get_transcoder_call(&a),
            "0x5dce99480000000000000000000000002c7536e3605d9c16a7a3d7b1898e529396a65c23"
        );
    }

    #[test]
    fn transcoder_tuple() {
        let mut data = vec![0u8; 320];
        data[31] = 7; // lastRewardRound
        data[32 + 31] = 1; // rewardCut (must not be read as lastRewardRound)
        data[4 * 32 + 31] = 3; // activationRound
        data[5 * 32..6 * 32].fill(0xff); // deactivationRound = 2^256-1
        let t = decode_transcoder(&data).unwrap();
        assert_eq!(t.last_reward_round, 7);
        assert_eq!(t.activation_round, 3);
        assert_eq!(t.deactivation_round, u64::MAX);
        assert!(decode_transcoder(&data[..64]).is_err());
        assert!(decode_round(&[0u8; 4]).is_err());
        let mut big = [0u8; 32];
        big[0] = 1;
        assert!(decode_round(&big).is_err());
    }
}
