//! `images/appliance.toml` as written: the serde shape of each table, strict
//! (`deny_unknown_fields`), with spans for the lines errors name. `mod.rs` turns it into an
//! [`super::Appliance`].

use super::share::ShareDef;
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) base: Spanned<String>,
    pub(super) role: Spanned<String>,
    pub(super) network: Spanned<String>,
    #[serde(default)]
    pub(super) rpc: RpcDef,
    #[serde(default)]
    pub(super) livepeer: LivepeerDef,
    #[serde(default)]
    pub(super) ssh: SshDef,
    #[serde(default)]
    pub(super) chrony: ChronyDef,
    #[serde(default)]
    pub(super) volumes: VolumesDef,
    #[serde(default)]
    pub(super) geth: GethDef,
    #[serde(default)]
    pub(super) lpwatch: LpwatchDef,
    #[serde(default)]
    pub(super) journald: JournaldDef,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RpcDef {
    #[serde(default)]
    pub(super) upstream: Vec<Spanned<UpstreamDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamDef {
    pub(super) name: Spanned<String>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) credential: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LivepeerDef {
    pub(super) service_addr: Option<Spanned<String>>,
    pub(super) price_per_unit: Option<Spanned<String>>,
    pub(super) pixels_per_unit: Option<Spanned<String>>,
    pub(super) max_sessions: Option<Spanned<String>>,
    pub(super) max_price_per_unit: Option<Spanned<String>>,
    pub(super) transcoding_options: Option<Spanned<String>>,
    pub(super) orch_addr: Option<Spanned<String>>,
    pub(super) eth_acct_addr: Option<Spanned<String>>,
    pub(super) reward: Option<bool>,
    pub(super) monitor: Option<bool>,
    pub(super) light_kdf: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SshDef {
    #[serde(default)]
    pub(super) allow: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ChronyDef {
    pub(super) servers: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct VolumesDef {
    pub(super) data: Option<Spanned<String>>,
    pub(super) geth: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct GethDef {
    pub(super) enable: Option<Spanned<bool>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LpwatchDef {
    pub(super) interval: Option<Spanned<String>>,
    pub(super) critical: Option<Vec<Spanned<String>>>,
    pub(super) min_eth_balance: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) share: ShareDef,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct JournaldDef {
    pub(super) system_max_use: Option<Spanned<String>>,
    pub(super) system_keep_free: Option<Spanned<String>>,
    pub(super) max_retention: Option<Spanned<String>>,
}
