//! Chain ids, named once: the chains of the networks livepeer and lpwatch know by name
//! (livepeer's `-network`), the chain a geth started without a network flag joins, and the dev
//! chain of the local testnet.

/// Ethereum mainnet (L1): the chain geth joins unless told otherwise.
pub const ETHEREUM_MAINNET: u64 = 1;
/// `geth --dev`: the local testnet's chain.
pub const GETH_DEV: u64 = 1337;
/// Arbitrum One: where Livepeer's protocol runs (`-network arbitrum-one-mainnet`).
pub const ARBITRUM_ONE: u64 = 42161;

/// The chain of a network known by name; `None` for `offchain` and custom names.
pub fn of_network(name: &str) -> Option<u64> {
    match name {
        "arbitrum-one-mainnet" => Some(ARBITRUM_ONE),
        _ => None,
    }
}
