//! Shared network metrics on the wire, one definition for lpwatch (which makes and signs shares)
//! and the collector (which checks them): [`series`], the series and labels a share may hold;
//! [`remote_write`], a share as a Prometheus remote-write request; [`proof`], who a share is from
//! and the signatures that prove it.

pub mod proof;
pub mod remote_write;
pub mod series;
