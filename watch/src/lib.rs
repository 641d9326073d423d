//! lpwatch: health, metrics, reward and balance watch, and JSON-RPC failover for a Livepeer
//! node. The binary (`main.rs`) only parses arguments and calls [`app::run`] (or
//! [`keystore_init::run`] for `lpwatch keystore-init`, [`probe::run`] for `lpwatch probe`,
//! [`share::dry_run`], [`share::remote_write_config`] and [`share::sign_in`] for `lpwatch share`).
//! Its HTTP, JSON-RPC and contract plumbing is `lpbake-net`'s (shared with the share collector,
//! re-exported here under the same names); what a share is, `lpshare`'s.

pub mod app;
pub mod checks;
pub mod cli;
pub mod config;
pub mod http;
pub mod keystore_init;
pub mod livepeer;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod pool;
pub mod probe;
pub mod proxy;
pub mod share;
pub mod snapshot;
pub mod upstream;
pub use lpbake_net::{abi, bounded, client, clock, jsonrpc, network, server};
pub use lpbake_rules::units;

/// How lpwatch names itself to the servers it asks.
pub const USER_AGENT: &str = concat!("lpwatch/", env!("CARGO_PKG_VERSION"));
