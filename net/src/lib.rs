//! The plumbing lpwatch and the share collector both speak: [`server`], an HTTP/1.1 loop with
//! per-phase timeouts and connection limits; [`client`], how HTTP clients are built; [`bounded`],
//! response bodies read with a cap; [`jsonrpc`], Ethereum JSON-RPC calls and answers; [`abi`] and
//! [`network`], the Livepeer contract calls and where the contracts live; [`secret`], URLs that
//! hold API keys; [`clock`], wall-clock time.

pub mod abi;
pub mod bounded;
pub mod client;
pub mod clock;
pub mod jsonrpc;
pub mod network;
pub mod secret;
pub mod server;
