//! The `/status` document: go-livepeer's `common.NodeStatus`, fields in Go's order and spelling.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::node::Node;
use crate::state::State;

/// The version the stand-in reports everywhere; it always ends in `-standin`.
pub const VERSION: &str = "0.9.1-standin";
/// What stands where the real node reports `runtime.Version()`.
pub const RUNTIME_VERSION: &str = "go1.24-standin";

/// `runtime.GOARCH` for this build.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

#[derive(Serialize)]
struct StreamInfo {
    #[serde(rename = "SourceBytes")]
    source_bytes: u64,
    #[serde(rename = "TranscodedBytes")]
    transcoded_bytes: u64,
}

#[derive(Serialize)]
struct PoolInfo {
    #[serde(rename = "Url")]
    url: String,
    #[serde(rename = "Score")]
    score: u8,
    #[serde(rename = "Latency")]
    latency: Option<u64>,
}

#[derive(Serialize)]
struct RemoteTranscoderInfo {
    #[serde(rename = "Address")]
    address: String,
    #[serde(rename = "Capacity")]
    capacity: i64,
}

#[derive(Serialize)]
pub struct NodeStatus {
    #[serde(rename = "Manifests")]
    manifests: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "InternalManifests")]
    internal_manifests: BTreeMap<String, String>,
    #[serde(rename = "StreamInfo")]
    stream_info: BTreeMap<String, StreamInfo>,
    #[serde(rename = "OrchestratorPool")]
    orchestrator_pool: Vec<String>,
    #[serde(rename = "OrchestratorPoolInfos")]
    orchestrator_pool_infos: Option<Vec<PoolInfo>>,
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "GolangRuntimeVersion")]
    golang_runtime_version: &'static str,
    #[serde(rename = "GOArch")]
    go_arch: &'static str,
    #[serde(rename = "GOOS")]
    go_os: &'static str,
    #[serde(rename = "RegisteredTranscodersNumber")]
    registered_transcoders_number: usize,
    #[serde(rename = "RegisteredTranscoders")]
    registered_transcoders: Vec<RemoteTranscoderInfo>,
    #[serde(rename = "LocalTranscoding")]
    local_transcoding: bool,
    #[serde(rename = "BroadcasterPrices")]
    broadcaster_prices: BTreeMap<String, String>,
}

impl NodeStatus {
    /// The status now. Stream entries exist only while a stream is live, as upstream.
    pub fn now(node: &Node, state: &State) -> NodeStatus {
        let stream_info = state
            .streams()
            .into_iter()
            .map(|(id, bytes)| (id, StreamInfo { source_bytes: bytes, transcoded_bytes: 0 }))
            .collect();
        let gateway_pool = matches!(node.role, crate::node::Role::Gateway) && !node.orch_addrs.is_empty();
        let pool: Vec<String> =
            if gateway_pool { node.orch_addrs.iter().map(|a| format!("https://{a}")).collect() } else { Vec::new() };
        let infos = gateway_pool
            .then(|| pool.iter().map(|url| PoolInfo { url: url.clone(), score: 1, latency: None }).collect());
        let transcoders: Vec<RemoteTranscoderInfo> = state
            .transcoders()
            .into_iter()
            .map(|t| RemoteTranscoderInfo { address: t.address, capacity: t.capacity })
            .collect();
        NodeStatus {
            manifests: BTreeMap::new(),
            internal_manifests: BTreeMap::new(),
            stream_info,
            orchestrator_pool: pool,
            orchestrator_pool_infos: infos,
            version: VERSION,
            golang_runtime_version: RUNTIME_VERSION,
            go_arch: go_arch(),
            go_os: std::env::consts::OS,
            registered_transcoders_number: transcoders.len(),
            registered_transcoders: transcoders,
            local_transcoding: node.local_transcoding(),
            broadcaster_prices: BTreeMap::new(),
        }
    }
}
