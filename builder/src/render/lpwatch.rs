//! lpwatch's config file (`/etc/lpwatch/lpwatch.toml`), written from the appliance in the keys
//! lpwatch reads (watch/src/config/file.rs): network, loopback listeners, livepeer's CLI, the RPC
//! upstreams (a URL, or `url_file` under /run/credentials/lpwatch.service/ for one with a key),
//! the checks, and the opt-in `[share]` (its database, queue and reporting key on the data
//! volume). No secret is in it.

use super::node::{CLI_ADDR, LPWATCH_HTTP, LPWATCH_RPC, ORCHESTRATOR_PORT};
use super::{Node, RenderedTree, GEO_DIR, LPWATCH_CONFIG, LPWATCH_STATE};
use crate::error::{Error, Result};
use crate::spec::appliance::UpstreamSource;
use crate::spec::{Appliance, Role};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    pub network: String,
    /// Only for a network lpwatch does not know (the compose testnet's dev chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<u64>,
    pub listen: Listen,
    pub livepeer: Livepeer,
    pub rpc: Rpc,
    pub checks: Checks,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<Share>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listen {
    pub http: String,
    pub rpc: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Livepeer {
    pub cli_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rpc {
    pub upstream: Vec<Upstream>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upstream {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checks {
    pub interval: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critical: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_eth_balance: Option<String>,
}

/// `[share]`: what the orchestrator shares (builder/src/spec/share.rs), where its state is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Share {
    pub mmdb: String,
    pub cell: String,
    pub min_gateways: u32,
    pub service_port: u16,
    pub extras: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub interval: String,
    pub queue_dir: String,
    pub key_file: String,
}

/// lpwatch's config for the appliance. A standalone transcoder has no chain: lpwatch watches it
/// `offchain`. A gateway has no reward to call: its default critical checks leave `reward` out.
pub fn config(a: &Appliance) -> Config {
    let on_chain = a.network != "offchain" && a.role.uses_chain();
    // A local geth is never an upstream: it runs Ethereum mainnet, which no network the
    // appliance runs on chain is (spec/appliance refuses it there).
    let mut upstream: Vec<Upstream> = a
        .rpc
        .iter()
        .map(|u| match &u.source {
            UpstreamSource::Url(url) => Upstream { name: u.name.clone(), url: Some(url.clone()), url_file: None },
            UpstreamSource::Credential(c) => Upstream {
                name: u.name.clone(),
                url: None,
                url_file: Some(format!("/run/credentials/lpwatch.service/{c}")),
            },
        })
        .collect();
    if !on_chain {
        upstream.clear();
    }
    let critical = a.lpwatch.critical.clone().or_else(|| match a.role {
        Role::Transcoder => Some(vec!["livepeer".into()]),
        Role::Gateway if on_chain => {
            Some(["livepeer", "eth_balance", "chain_head", "chain_id"].map(String::from).to_vec())
        }
        _ => None,
    });
    Config {
        network: if on_chain { a.network.clone() } else { "offchain".into() },
        chain_id: None,
        listen: Listen { http: LPWATCH_HTTP.into(), rpc: LPWATCH_RPC.into() },
        livepeer: Livepeer { cli_url: format!("http://{CLI_ADDR}") },
        rpc: Rpc { upstream },
        checks: Checks {
            interval: a.lpwatch.interval.clone(),
            critical,
            min_eth_balance: a.lpwatch.min_eth_balance.clone(),
        },
        share: a.lpwatch.share.as_ref().map(|s| Share {
            mmdb: format!("{GEO_DIR}/{}", s.mmdb),
            cell: s.cell.clone(),
            min_gateways: s.min_gateways,
            service_port: ORCHESTRATOR_PORT,
            extras: s.extras.clone(),
            endpoint: s.endpoint.clone(),
            interval: s.interval.clone(),
            queue_dir: format!("{LPWATCH_STATE}/share-queue"),
            key_file: format!("{LPWATCH_STATE}/share-key"),
        }),
    }
}

/// The config file's text.
pub fn text(c: &Config) -> Result<String> {
    let body = toml::to_string(c).map_err(|e| Error::Output(format!("rendering {LPWATCH_CONFIG}: {e}")))?;
    Ok(format!(
        "# lpwatch's config, rendered by lpbake from images/appliance.toml. Reference: lpwatch --help.\n\n{body}"
    ))
}

/// `/etc/lpwatch/lpwatch.toml`.
pub fn add(t: &mut RenderedTree, node: &Node) -> Result<()> {
    t.file(LPWATCH_CONFIG, 0o644, text(&node.lpwatch_config)?.into_bytes());
    Ok(())
}
