//! Rendering: the appliance (`images/appliance.toml`) and the images' [`Service`]s become one
//! typed [`Node`], and the node becomes the configuration tree of the disk image. This is the
//! one place that decides how the node runs; the rootfs build, `lpbake render DIR`,
//! `lpbake render --json` and the tests all read from here.
//!
//! - [`node`] builds the [`Node`]: per systemd service (livepeer, lpwatch, geth when enabled) its
//!   user, argv, environment, credentials, limits, hardening directives, open ports and mounts;
//!   plus firewall, volumes, users, chrony, journald, sysctl and login limits (`node.rs`).
//! - [`files`] renders the node into a [`RenderedTree`] (absolute path -> file, symlink or
//!   directory): units and their enablement links (`units.rs`), nftables (`firewall.rs`),
//!   limits/sysctl/journald/chrony/fstab/sysusers (`system.rs`), lpwatch's config (`lpwatch.rs`),
//!   and the alert rules; every line of unit, nftables, chrony and system file is quoted by
//!   [`crate::quote`], which refuses a value its language cannot hold. `tree.rs` writes a tree
//!   to a directory or stages it for the disk.
//! - [`compose`] renders the local testnet's nodes, derived from the same appliance, into a
//!   docker compose project (`lpbake render --compose DIR`).
//!
//! ## `lpbake render --json`: the parity input of the NixOS modules
//!
//! `serde_json` of [`Node`], pretty, keys sorted (every map is a BTreeMap), one trailing
//! newline; the same spec gives the same bytes. `services.<unit>` holds, for each unit:
//! `service` (the runtime-neutral [`Service`]: `user` uid/gid, `entrypoint` = the program,
//! `cmd` = its arguments, `env`, `workdir`, `state_dirs`, `ports` reachable from outside,
//! `credentials` passed by flag), `argv` (the whole command line), `user`/`group` names,
//! `credentials` (name -> `source` on the data volume, `path` under /run/credentials/ and the
//! `flag` that passes it, if any), `limits`, `hardening` (systemd directive -> values),
//! `unit` and `settings` (the rest of the [Unit] and [Service] sections), `listen` (loopback
//! addresses) and `requires_mounts`. Top level: `role`, `network`, `firewall` (open tcp/udp ports
//! and ssh sources), `volumes`, `users`, `chrony`, `journald`, `sysctl`, `login_limits`, `lpwatch_config`. A NixOS
//! module is at parity when its systemd services carry the same argv, environment, credentials,
//! limits and hardening, and its firewall opens the same ports. No secret value is ever in it:
//! only credential names and paths.

pub mod compose;
mod firewall;
mod hardening;
mod lpwatch;
mod node;
mod system;
mod tree;
mod units;

pub use lpwatch::Config as LpwatchConfig;
pub use node::{node, node_of};
pub use tree::{write_dir, Item, RenderedTree};

use crate::spec::{Role, Service};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The alert rules of lpwatch, installed as `/usr/share/lpwatch/lpwatch.rules.yml`.
pub const ALERT_RULES: &str = include_str!("../../../watch/rules/lpwatch.rules.yml");

/// Where the data volume is mounted.
pub const DATA_MOUNT: &str = "/var/lib/livepeer";
/// Where the geth volume is mounted.
pub const GETH_MOUNT: &str = "/var/lib/geth";
/// Secrets on the data volume (root, 0700), one file per credential.
pub const CREDENTIALS_DIR: &str = "/var/lib/livepeer/credentials";
/// livepeer's `-dataDir` on the data volume.
pub const LIVEPEER_DATA: &str = "/var/lib/livepeer/data";
/// lpwatch's state on the data volume (the share's queue and reporting key), its StateDirectory.
pub const LPWATCH_STATE: &str = "/var/lib/livepeer/lpwatch";
/// The operator's geo database for the share, on the data volume.
pub const GEO_DIR: &str = "/var/lib/livepeer/geo";
/// lpwatch's config file.
pub const LPWATCH_CONFIG: &str = "/etc/lpwatch/lpwatch.toml";

/// The node, as data: everything the rendered files say, and the parity input of the NixOS
/// modules (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub role: Role,
    pub network: String,
    /// By unit name (`livepeer.service`, ...).
    pub services: BTreeMap<String, Unit>,
    /// System users, by name (created by sysusers.d with fixed ids).
    pub users: BTreeMap<String, SysUser>,
    pub firewall: Firewall,
    /// Volumes by mount point.
    pub volumes: BTreeMap<String, Volume>,
    pub chrony: Chrony,
    /// `journald.conf` [Journal] settings.
    pub journald: BTreeMap<String, String>,
    /// `sysctl.d` settings.
    pub sysctl: BTreeMap<String, String>,
    /// `limits.d` lines (pam_limits) for login sessions of the service users.
    pub login_limits: Vec<LoginLimit>,
    /// lpwatch's config file, as lpwatch reads it.
    pub lpwatch_config: LpwatchConfig,
}

/// One systemd service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    pub description: String,
    /// How the program runs, runtime-neutral: the program comes from the image's service.
    pub service: Service,
    /// The whole command line (`service.entrypoint` then `service.cmd`).
    pub argv: Vec<String>,
    pub user: String,
    pub group: String,
    /// `LoadCredential=`s by name.
    pub credentials: BTreeMap<String, LoadedCredential>,
    /// `Limit*=` directives.
    pub limits: BTreeMap<String, String>,
    /// Sandboxing directives; each key may repeat (one value per line).
    pub hardening: BTreeMap<String, Vec<String>>,
    /// The rest of the [Unit] section (ordering, mounts, assertions).
    pub unit: BTreeMap<String, Vec<String>>,
    /// The rest of the [Service] section (type, restart, state directory...). Values are as they
    /// are, except those of command-line directives (`ExecStartPre`...), which are command lines
    /// in systemd's syntax, made by [`crate::quote::systemd_command`].
    pub settings: BTreeMap<String, Vec<String>>,
    /// Addresses it listens on that only this machine reaches.
    pub listen: BTreeSet<String>,
    /// Mount points it needs (`RequiresMountsFor=`, and asserted mounted).
    pub requires_mounts: BTreeSet<String>,
}

/// A secret the unit gets with `LoadCredential=NAME:SOURCE`, readable at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadedCredential {
    /// The file on the data volume.
    pub source: String,
    /// Where the service reads it: `/run/credentials/<unit>/<name>`.
    pub path: String,
    /// The flag that passes `path` to the program; None when a config file names it.
    pub flag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysUser {
    pub uid: u32,
    pub gid: u32,
    pub description: String,
    pub home: String,
}

/// What nftables lets in (besides loopback, established flows and ICMP essentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firewall {
    pub tcp: BTreeSet<u16>,
    pub udp: BTreeSet<u16>,
    /// Sources allowed to reach ssh (22/tcp).
    pub ssh_allow: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// ext4 filesystem label.
    pub label: String,
    pub options: Vec<String>,
}

/// One pam_limits line: `domain type item value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginLimit {
    pub domain: String,
    /// `soft` or `hard`.
    #[serde(rename = "type")]
    pub kind: String,
    pub item: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chrony {
    pub servers: Vec<String>,
}

/// The configuration tree of `node`.
pub fn files(node: &Node) -> crate::Result<RenderedTree> {
    let mut t = RenderedTree::default();
    units::add(&mut t, node)?;
    firewall::add(&mut t, node)?;
    system::add(&mut t, node)?;
    lpwatch::add(&mut t, node)?;
    t.file("/usr/share/lpwatch/lpwatch.rules.yml", 0o644, ALERT_RULES.as_bytes().to_vec());
    for mount in node.volumes.keys() {
        // The empty mount point: nothing of the node is ever written under it on the root disk.
        t.dir(mount, 0o755);
    }
    Ok(t)
}

/// `lpbake render --json`: the node as pretty JSON with sorted keys and a trailing newline.
/// Struct fields are sorted too: the node goes through `serde_json::Value`, whose maps are
/// sorted (serde_json without `preserve_order`).
pub fn json(node: &Node) -> String {
    // Infallible: every map key of the node is a string.
    let value = serde_json::to_value(node).expect("a Node serializes to JSON");
    let mut s = serde_json::to_string_pretty(&value).expect("a JSON value prints");
    s.push('\n');
    s
}
