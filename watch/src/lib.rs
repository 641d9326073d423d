//! lpwatch: health, metrics, reward and balance watch, and JSON-RPC failover for a Livepeer
//! node. The binary (`main.rs`) only parses arguments and calls [`app::run`] (or
//! [`keystore_init::run`] for `lpwatch keystore-init`, [`probe::run`] for `lpwatch probe`,
//! [`share::dry_run`], [`share::remote_write_config`] and [`share::sign_in`] for `lpwatch share`,
//! [`collect::run`] for `lpwatch collect`).

pub mod abi;
pub mod app;
pub mod bounded;
pub mod checks;
pub mod cli;
pub mod client;
pub mod clock;
pub mod collect;
pub mod config;
pub mod http;
pub mod jsonrpc;
pub mod keystore_init;
pub mod livepeer;
pub mod metrics;
pub mod monitor;
pub mod network;
pub mod notify;
pub mod pool;
pub mod probe;
pub mod proxy;
pub mod server;
pub mod share;
pub mod snapshot;
pub use lpbake_rules::units;
pub mod upstream;
