//! The config file as written: serde structs that refuse unknown keys, every field optional.
//! A parse error names the file, the line and column, the key, and the keys that exist.

use super::ConfigError;
use crate::checks::CheckName;
use crate::share::set::Extra;
use crate::units::{Dur, Eth};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub network: Option<String>,
    pub chain_id: Option<u64>,
    #[serde(default)]
    pub listen: ListenFile,
    #[serde(default)]
    pub livepeer: LivepeerFile,
    #[serde(default)]
    pub contracts: ContractsFile,
    #[serde(default)]
    pub rpc: RpcFile,
    #[serde(default)]
    pub checks: ChecksFile,
    pub share: Option<ShareFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListenFile {
    pub http: Option<String>,
    pub rpc: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LivepeerFile {
    pub cli_url: Option<String>,
    pub orchestrator_address: Option<String>,
    pub min_transcoders: Option<u64>,
    pub relay_metrics: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContractsFile {
    pub rounds_manager: Option<String>,
    pub bonding_manager: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RpcFile {
    #[serde(default)]
    pub upstream: Vec<UpstreamFile>,
    pub probe_interval: Option<Dur>,
    pub probe_timeout: Option<Dur>,
    pub request_timeout: Option<Dur>,
    pub max_request_bytes: Option<usize>,
    pub max_response_bytes: Option<usize>,
    pub max_concurrent: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamFile {
    pub name: Option<String>,
    pub url: Option<String>,
    pub url_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChecksFile {
    pub interval: Option<Dur>,
    pub timeout: Option<Dur>,
    pub critical: Option<Vec<CheckName>>,
    pub reward_grace: Option<Dur>,
    pub min_eth_balance: Option<Eth>,
    pub warn_eth_balance: Option<Eth>,
    pub max_head_age: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ShareFile {
    pub mmdb: Option<PathBuf>,
    pub cell: Option<String>,
    pub min_gateways: Option<usize>,
    pub service_port: Option<u16>,
    pub ignore: Option<Vec<String>>,
    #[serde(default)]
    pub extras: Vec<Extra>,
    pub endpoint: Option<String>,
    pub interval: Option<Dur>,
    pub queue_dir: Option<PathBuf>,
    pub queue_max_bytes: Option<u64>,
    pub key_file: Option<PathBuf>,
}

/// Reads and parses the config file at `path`.
pub(super) fn read(path: &Path) -> Result<FileConfig, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path)
}

/// Parses config text; `origin` names it in errors.
pub(super) fn parse(text: &str, origin: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse { path: origin.to_path_buf(), message: e.to_string() })
}
