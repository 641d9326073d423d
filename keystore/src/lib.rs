//! go-ethereum's keystore, as far as a Livepeer node needs it: Web3 Secret Storage v3 key files (a
//! secp256k1 key encrypted with AES-128-CTR under a scrypt-derived key, a Keccak-256 MAC, the address in
//! the clear), account addresses and their EIP-55 spelling, and the keystore directory (geth's key file
//! names, the accounts geth lists, atomic 0600 writes in a 0700 directory), and text signed and
//! recovered as `/signMessage` signs it.
//!
//! lpwatch's `keystore-init` creates the appliance's node account with it, and the test-only livepeer
//! stand-in reads and creates accounts with it as go-livepeer does.

mod address;
mod dir;
mod sign;
mod v3;

pub use address::{address, checksummed, hex_to_address, Address};
pub use dir::{accounts, create_account, key_file_name, write_key_file, Account, StoreError};
pub use k256::SecretKey;
pub use sign::{keccak256, recover_text, sign_text, text_hash, SignatureError};
pub use v3::{
    decrypt, encrypt, random_key, CipherParams, CryptoJson, KeyError, KeyFile, ScryptParams, LIGHT_SCRYPT_N,
    LIGHT_SCRYPT_P, STANDARD_SCRYPT_N, STANDARD_SCRYPT_P,
};
