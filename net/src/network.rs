//! Where the Livepeer protocol contracts live ([`Contracts`]), and the networks lpwatch and the
//! collector know by name (as livepeer's `-network` flag spells them): chain id (named in
//! `lpbake_rules::chain`) and the Livepeer protocol contract addresses, so an operator of a
//! public network configures neither.

use lpbake_keystore::Address;

/// Where the Livepeer protocol contracts live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contracts {
    pub rounds_manager: Address,
    pub bonding_manager: Address,
}

/// What a named network implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub chain_id: u64,
    pub rounds_manager: &'static str,
    pub bonding_manager: &'static str,
}

/// The network name for a node without a chain: only the livepeer check runs.
pub const OFFCHAIN: &str = "offchain";

/// Looks up a network by name; `None` for `offchain` and custom names.
pub fn known(name: &str) -> Option<Known> {
    match lpbake_rules::chain::of_network(name)? {
        // Livepeer on Arbitrum One (proxy addresses, as published by the protocol).
        lpbake_rules::chain::ARBITRUM_ONE => Some(Known {
            chain_id: lpbake_rules::chain::ARBITRUM_ONE,
            rounds_manager: "0xdd6f56DcC28D3F5f27084381fE8Df634985cc39f",
            bonding_manager: "0x35Bcf3c30594191d53231E4FF333E8A770453e40",
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arbitrum_is_known() {
        let k = known("arbitrum-one-mainnet").unwrap();
        assert_eq!(k.chain_id, 42161);
        assert!(known("offchain").is_none());
        assert!(known("devnet").is_none());
    }
}
