//! The Livepeer contract calls lpwatch and the share collector make, ABI-encoded by hand:
//! `RoundsManager.currentRound()`, `BondingManager.getTranscoder(address)` (whose return tuple
//! starts with `lastRewardRound`), and the walk of the BondingManager's transcoder pool
//! (`getFirstTranscoderInPool()`, then `getNextTranscoderInPool(address)` until the zero address).

/// `keccak256("currentRound()")[..4]`.
pub const CURRENT_ROUND: [u8; 4] = [0x8a, 0x19, 0xc8, 0xbc];
/// `keccak256("getTranscoder(address)")[..4]`.
pub const GET_TRANSCODER: [u8; 4] = [0x5d, 0xce, 0x99, 0x48];
/// `keccak256("getFirstTranscoderInPool()")[..4]`.
pub const GET_FIRST_TRANSCODER_IN_POOL: [u8; 4] = [0x88, 0xa6, 0xc7, 0x49];
/// `keccak256("getNextTranscoderInPool(address)")[..4]`.
pub const GET_NEXT_TRANSCODER_IN_POOL: [u8; 4] = [0x23, 0x5c, 0x96, 0x03];
/// `keccak256("getTranscoderPoolSize()")[..4]`.
pub const GET_TRANSCODER_POOL_SIZE: [u8; 4] = [0x2a, 0x4e, 0x0d, 0x55];

/// Number of 32-byte words `getTranscoder` returns: lastRewardRound, rewardCut, feeShare,
/// lastActiveStakeUpdateRound, activationRound, deactivationRound, activeCumulativeRewards,
/// cumulativeRewards, cumulativeFees, lastFeeRound.
pub const TRANSCODER_WORDS: usize = 10;

/// A 20-byte Ethereum address (the accounts' own type, from the keystore crate).
pub use lpbake_keystore::Address;

/// Calldata for `currentRound()`.
pub fn current_round_call() -> String {
    format!("0x{}", hex::encode(CURRENT_ROUND))
}

/// Calldata for `getTranscoder(addr)`.
pub fn get_transcoder_call(addr: &Address) -> String {
    format!("0x{}{:0>64}", hex::encode(GET_TRANSCODER), hex::encode(addr.0))
}

/// Calldata for `getFirstTranscoderInPool()`.
pub fn first_transcoder_call() -> String {
    format!("0x{}", hex::encode(GET_FIRST_TRANSCODER_IN_POOL))
}

/// Calldata for `getNextTranscoderInPool(addr)`.
pub fn next_transcoder_call(addr: &Address) -> String {
    format!("0x{}{:0>64}", hex::encode(GET_NEXT_TRANSCODER_IN_POOL), hex::encode(addr.0))
}

/// Decodes an `address` return value (one word, the address in its low 20 bytes); the zero
/// address ends the pool.
pub fn decode_address(data: &[u8]) -> Result<Address, String> {
    if data.len() < 32 {
        return Err(format!("returned {} bytes, expected an address (32)", data.len()));
    }
    if data[..12].iter().any(|b| *b != 0) {
        return Err("returned a word that is no address (high bytes set)".into());
    }
    let mut a = [0u8; 20];
    a.copy_from_slice(&data[12..32]);
    Ok(Address(a))
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
        assert_eq!(GET_FIRST_TRANSCODER_IN_POOL, selector("getFirstTranscoderInPool()"));
        assert_eq!(GET_NEXT_TRANSCODER_IN_POOL, selector("getNextTranscoderInPool(address)"));
        assert_eq!(GET_TRANSCODER_POOL_SIZE, selector("getTranscoderPoolSize()"));
    }

    #[test]
    fn calldata() {
        assert_eq!(current_round_call(), "0x8a19c8bc");
        let a: Address = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23".parse().unwrap();
        assert_eq!(
            get_transcoder_call(&a),
            "0x5dce99480000000000000000000000002c7536e3605d9c16a7a3d7b1898e529396a65c23"
        );
        assert_eq!(first_transcoder_call(), format!("0x{}", hex::encode(GET_FIRST_TRANSCODER_IN_POOL)));
        assert_eq!(
            next_transcoder_call(&a),
            format!(
                "0x{}0000000000000000000000002c7536e3605d9c16a7a3d7b1898e529396a65c23",
                hex::encode(GET_NEXT_TRANSCODER_IN_POOL)
            )
        );
    }

    #[test]
    fn pool_addresses() {
        let mut word = [0u8; 32];
        word[12..].copy_from_slice(&[0xab; 20]);
        assert_eq!(decode_address(&word).unwrap(), Address([0xab; 20]));
        assert_eq!(decode_address(&[0u8; 32]).unwrap(), Address([0; 20]));
        assert!(decode_address(&[0u8; 31]).is_err());
        word[0] = 1;
        assert!(decode_address(&word).is_err());
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
