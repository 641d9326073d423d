//! lpbake: turns one declarative description of a Livepeer node into reproducible artifacts.
//!
//! Data flow of `lpbake build`: [`spec`] -> [`lock`] / [`resolve`] -> [`fetch`] -> [`unpack`] ->
//! [`stage`] -> [`layer`] -> [`image`] (on a [`base`]) -> [`output`], orchestrated by [`build`].

pub mod base;
pub mod build;
pub mod digest;
pub mod engine;
pub mod error;
pub mod fetch;
pub mod fsutil;
pub mod gzip;
pub mod image;
pub mod json;
pub mod layer;
pub mod lock;
pub mod output;
pub mod push;
pub mod report;
pub mod resolve;
pub mod sbom;
pub mod secrets;
pub mod spec;
pub mod stage;
pub mod store;
pub mod unpack;
pub mod urls;
pub mod verify;
pub mod workspace;

pub use error::{Error, Result};
