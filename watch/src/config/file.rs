//! The config file as written: serde structs that refuse unknown keys, every field optional.
//! A parse error names the file, the line and column, the key, and the keys that exist. The
//! file, and each `url_file` it names, is read through the one bounded reader
//! ([`lpbake_rules::read`]): a regular file, at most [`MAX_CONFIG_BYTES`] or
//! [`lpbake_net::secret::MAX_URL_FILE_BYTES`].

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

pub use lpbake_rules::read::MAX_CONFIG_BYTES;
/// Reads and parses the config file at `path`.
pub(super) fn read(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = lpbake_rules::read::text(path, MAX_CONFIG_BYTES)?;
    parse(&text, path)
}

/// Parses config text; `origin` names it in errors.
pub(super) fn parse(text: &str, origin: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse { path: origin.to_path_buf(), message: toml_error(text, &e) })
}

pub use lpbake_rules::redact::toml_error_line as toml_error;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_error_names_the_line_and_never_quotes_a_value() {
        let text = "[checks]\ninterval = \"https://rpc.example.org/v2/s3cretKEY\"\n";
        let e = toml::from_str::<FileConfig>(text).unwrap_err();
        let m = toml_error(text, &e);
        assert!(m.starts_with("line 2:") && !m.contains("s3cret"), "{m}");
    }
}
