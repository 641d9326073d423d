//! lpbake: turns one declarative description of a Livepeer node into reproducible artifacts.
//!
//! Data flow of `lpbake build`: [`spec`] -> [`lock`] / [`resolve`] -> [`fetch`] -> [`unpack`] ->
//! [`stage`] -> [`layer`] -> [`oci`] (on a [`base`]) -> [`output`], orchestrated by [`build`];
//! the appliance: [`render`] -> [`disk`] (a whole root filesystem tree to bootable disk images),
//! orchestrated by [`appliance`]; then [`publish`]: load into a Docker engine, push to a registry.
//! Whatever is written for a shell, systemd, nftables, chrony or another line-oriented config is
//! quoted by [`quote`], one function per language.

pub mod appliance;
pub mod base;
pub mod build;
pub mod digest;
pub mod disk;
pub mod error;
pub mod fetch;
pub mod fsutil;
pub mod gzip;
pub mod layer;
pub mod lock;
pub mod oci;
pub mod output;
pub mod publish;
pub mod quote;
pub mod render;
pub mod report;
pub mod resolve;
pub mod runtime;
pub mod spec;
pub mod stage;
pub mod store;
pub mod unpack;
pub mod urls;
pub mod verify;
pub mod workspace;

pub use error::{Error, Result};
