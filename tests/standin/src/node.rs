//! What the node is and where it listens, decided from the flags in the order of the starter's `StartLivepeer`,
//! with the same refusals, messages and exit codes.

use crate::account;
use crate::addr::{default_addr, split_host_port};
use crate::flags::FlagSet;
use crate::{exit, info, warn};

const GATEWAY_HTTP_PORT: &str = "9935";
const GATEWAY_CLI_PORT: &str = "5935";
const GATEWAY_RTMP_PORT: &str = "1935";
const ORCHESTRATOR_RPC_PORT: &str = "8935";
const ORCHESTRATOR_CLI_PORT: &str = "7935";
const TRANSCODER_CLI_PORT: &str = "6935";

/// The node's role; an orchestrator either transcodes itself or manages standalone transcoders.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    Orchestrator { local_transcoding: bool },
    Transcoder,
    Gateway,
}

/// Everything the servers need, already defaulted and checked.
#[derive(Debug)]
pub struct Node {
    pub role: Role,
    pub cli_addr: String,
    /// Orchestrator: the service (HTTPS) listen address. Gateway: the HTTP ingest address.
    pub http_addr: String,
    pub rtmp_addr: String,
    pub service_uri: String,
    /// `-orchAddr` entries as `host:port`.
    pub orch_addrs: Vec<String>,
    pub orch_secret: String,
    pub max_sessions: i64,
    pub monitor: bool,
    pub node_id: String,
    pub transcoding_options: String,
    pub log_level: String,
    /// On a network other than `offchain`: the unlocked account's checksummed address (`/ethAddr`).
    pub eth_addr: Option<String>,
    /// Its key, for `/signMessage`.
    pub eth_key: Option<lpbake_keystore::SecretKey>,
}

impl Node {
    /// Applies the starter's checks and defaults; exits the process where the real node exits.
    pub fn from_flags(fs: &FlagSet) -> Node {
        let orchestrator = fs.bool("orchestrator");
        let transcoder = fs.bool("transcoder");
        let max_sessions = fs.str_or("maxSessions", "10");
        let max_sessions = if max_sessions == "auto" && orchestrator {
            if transcoder {
                exit!(1, "-maxSessions 'auto' cannot be used when both -orchestrator and -transcoder are specified");
            }
            0
        } else {
            match max_sessions.parse::<i64>() {
                Ok(n) if n > 0 => n,
                _ => exit!(1, "-maxSessions must be 'auto' or greater than zero"),
            }
        };
        if !fs.str_or("netint", "").is_empty() && !fs.str_or("nvidia", "").is_empty() {
            exit!(2, "both -netint and -nvidia arguments specified, this is not supported");
        }

        let network = fs.str_or("network", "offchain").to_string();
        info!("***Livepeer is running on the {network} network***");
        let data_dir = make_data_dir(fs, &network);
        let orch_secret = fs.get("orchSecret").map(read_from_file).unwrap_or_default();

        let role = if fs.bool("redeemer") || fs.bool("remoteSigner") {
            exit!(1, "livepeer stand-in: -redeemer and -remoteSigner are not implemented")
        } else if orchestrator {
            Role::Orchestrator { local_transcoding: transcoder }
        } else if transcoder {
            Role::Transcoder
        } else if fs.bool("aiWorker") {
            exit!(1, "livepeer stand-in: -aiWorker is not implemented")
        } else if fs.bool("broadcaster") {
            warn!(
                "-broadcaster flag is deprecated and will be removed in a future release. Please use -gateway instead"
            );
            Role::Gateway
        } else if fs.bool("gateway") {
            Role::Gateway
        } else if fs.bool("reward") || fs.bool("initializeRound") {
            exit!(1, "livepeer stand-in: a node running only -reward or -initializeRound is not implemented")
        } else {
            exit!(2, "No services enabled; must be at least one of -gateway, -transcoder, -aiWorker, -orchestrator, -redeemer, -reward or -initializeRound")
        };

        let eth_acct = fs.str_or("ethAcctAddr", "");
        let host = hostname();
        let node_id = if eth_acct.is_empty() { host } else { format!("{eth_acct}-{host}") };

        let account = if network == "offchain" {
            info!("***Livepeer is in off-chain mode***");
            None
        } else {
            let (keystore_dir, acct) = account::settle(&data_dir, fs.str_or("ethKeystorePath", ""), eth_acct);
            if fs.str_or("ethUrl", "").is_empty() {
                exit!(1, "Need to specify an Ethereum node JSON-RPC URL using -ethUrl");
            }
            warn!("livepeer stand-in: no Ethereum client on network {network}; only the account is real, the other chain endpoints answer as off-chain");
            Some(account::open(&keystore_dir, &acct, fs.str_or("ethPassword", "")))
        };

        let mut node = Node {
            role,
            cli_addr: fs.str_or("cliAddr", "").to_string(),
            http_addr: fs.str_or("httpAddr", "").to_string(),
            rtmp_addr: fs.str_or("rtmpAddr", "").to_string(),
            service_uri: String::new(),
            orch_addrs: parse_orch_addrs(fs.str_or("orchAddr", "")),
            orch_secret,
            max_sessions,
            monitor: fs.bool("monitor"),
            node_id,
            transcoding_options: fs.str_or("transcodingOptions", "P240p30fps16x9,P360p30fps16x9").to_string(),
            log_level: fs.str_or("v", "3").to_string(),
            eth_addr: account.as_ref().map(|(addr, _)| addr.clone()),
            eth_key: account.map(|(_, key)| key),
        };
        match node.role {
            Role::Gateway => {
                node.rtmp_addr = default_addr(&node.rtmp_addr, "127.0.0.1", GATEWAY_RTMP_PORT);
                node.http_addr = default_addr(&node.http_addr, "127.0.0.1", GATEWAY_HTTP_PORT);
                node.cli_addr = default_addr(&node.cli_addr, "127.0.0.1", GATEWAY_CLI_PORT);
                if node.orch_addrs.is_empty() {
                    crate::error!("No orchestrator specified; transcoding will not happen");
                }
            }
            Role::Orchestrator { local_transcoding } => {
                node.cli_addr = default_addr(&node.cli_addr, "127.0.0.1", ORCHESTRATOR_CLI_PORT);
                let service_addr = fs.str_or("serviceAddr", "");
                if service_addr == "none" && fs.str_or("nodes", "").is_empty() {
                    exit!(1, "Empty service URI and no additional nodes specified; set -serviceAddr or -nodes");
                }
                let service_port = if service_addr.is_empty() {
                    // The real node looks up its public IP at api.ipify.org; the stand-in never leaves the machine.
                    warn!("livepeer stand-in: no -serviceAddr; assuming service URI https://127.0.0.1:{ORCHESTRATOR_RPC_PORT}");
                    node.service_uri = format!("https://127.0.0.1:{ORCHESTRATOR_RPC_PORT}");
                    ORCHESTRATOR_RPC_PORT.to_string()
                } else if service_addr == "none" {
                    String::new()
                } else {
                    node.service_uri = format!("https://{service_addr}");
                    split_host_port(service_addr).1.to_string()
                };
                node.http_addr = default_addr(&node.http_addr, "", &service_port);
                if !local_transcoding && node.orch_secret.is_empty() {
                    exit!(1, "Running an orchestrator requires an -orchSecret for standalone mode or -transcoder for orchestrator+transcoder mode");
                }
            }
            Role::Transcoder => {
                node.cli_addr = default_addr(&node.cli_addr, "127.0.0.1", TRANSCODER_CLI_PORT);
            }
        }
        node
    }

    /// True when orchestrator and transcoder run in one process (the `LocalTranscoding` status field).
    pub fn local_transcoding(&self) -> bool {
        !matches!(self.role, Role::Orchestrator { local_transcoding: false })
    }

    /// The `node_type` label of the node's metrics.
    pub fn metrics_type(&self) -> &'static str {
        match self.role {
            Role::Orchestrator { .. } => "orch",
            Role::Transcoder => "trcr",
            Role::Gateway => "bctr",
        }
    }
}

/// `-dataDir` (or the deprecated `-datadir`), defaulting to `$HOME/.lpData/<network>`; created if missing.
fn make_data_dir(fs: &FlagSet, network: &str) -> std::path::PathBuf {
    let dir = match fs.get("dataDir").or(fs.get("datadir")).filter(|d| !d.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".lpData").join(network),
    };
    if !dir.exists() {
        info!("Creating data dir: {}", dir.display());
        if let Err(e) = std::fs::create_dir_all(&dir) {
            crate::error!("Error creating datadir: {e}");
        }
    }
    dir
}

/// `common.ReadFromFile`: the trimmed content of the file if `s` names one, else `s` itself.
pub fn read_from_file(s: &str) -> String {
    match std::fs::read_to_string(s) {
        Ok(content) => content.trim().to_string(),
        Err(_) => s.to_string(),
    }
}

/// The starter's `parseOrchAddrs`, keeping `host:port`.
fn parse_orch_addrs(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let a = default_addr(a, "127.0.0.1", ORCHESTRATOR_RPC_PORT);
            let a = a.strip_prefix("https://").or(a.strip_prefix("http://")).unwrap_or(&a);
            a.split('/').next().unwrap_or(a).to_string()
        })
        .collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orch_addrs_get_the_service_port() {
        assert_eq!(parse_orch_addrs("a, b:1,https://c:2/x,"), vec!["a:8935", "b:1", "c:2"]);
        assert_eq!(parse_orch_addrs(":9"), vec!["127.0.0.1:9"]);
    }

    #[test]
    fn secret_from_file_or_literal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, " s3cret\n").unwrap();
        assert_eq!(read_from_file(&file.display().to_string()), "s3cret");
        assert_eq!(read_from_file("literal"), "literal");
    }
}
