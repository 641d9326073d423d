//! The rules lpbake (when it builds a node) and lpwatch (when it runs beside one) both apply,
//! each with one home: [`read`], how a file a user names is read (bounded, regular files only);
//! [`units`], how the config files write ETH amounts and durations. A value lpbake accepts at
//! build time is then exactly a value lpwatch accepts at run time.

pub mod read;
pub mod units;
