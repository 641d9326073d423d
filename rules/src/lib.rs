//! The rules lpbake (when it builds a node) and lpwatch (when it runs beside one) both apply,
//! each with one home: [`read`], how a file a user names is read (bounded, regular files only);
//! [`units`], how the config files write ETH amounts and durations; [`checks`], lpwatch's check
//! names and interval; [`share`], the values of the opt-in share; [`disclosure`], which gateways
//! a node counts as one, which cells it may share and what the collector may publish; [`chain`],
//! the chain ids of the networks; [`host`], which URLs reach this machine. A value lpbake accepts
//! at build time is then exactly a value lpwatch accepts at run time.

pub mod chain;
pub mod checks;
pub mod disclosure;
pub mod host;
pub mod read;
pub mod redact;
pub mod share;
pub mod units;
