//! A read-only client for livepeer's CLI HTTP API (`/status`, `/currentRound`,
//! `/orchestratorInfo`, `/ethAddr`, `/ethBalance`, `/metrics`, and `/signMessage` for the share
//! delegation), bounded in time and size. lpwatch never calls anything on that port that
//! changes state.

use crate::abi::{Address, TranscoderInfo};
use crate::bounded::{read_body, BodyError};
use crate::jsonrpc::{transport_error, truncate};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// Largest JSON answer accepted from the CLI API.
const MAX_JSON: usize = 1 << 20;
/// Largest `/metrics` page relayed.
pub const MAX_METRICS: usize = 8 << 20;

/// Why a CLI API call failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot connect to the livepeer CLI API: {0}")]
    Connect(String),
    #[error("the livepeer CLI API did not answer in time")]
    Timeout,
    #[error("the livepeer CLI API answered HTTP {0}: {1}")]
    Http(u16, String),
    #[error("{0}")]
    Body(#[from] BodyError),
    #[error("unexpected answer from the livepeer CLI API: {0}")]
    Invalid(String),
    #[error("request to the livepeer CLI API failed: {0}")]
    Other(String),
}

/// The parts of livepeer's `/status` (NodeStatus) lpwatch reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStatus {
    pub version: String,
    pub registered_transcoders: u64,
    pub local_transcoding: bool,
    /// The bytes received of every live stream (`StreamInfo[*].SourceBytes`, on a gateway).
    pub source_bytes: u64,
}

/// The CLI API of one livepeer node.
#[derive(Clone, Debug)]
pub struct LivepeerCli {
    client: reqwest::Client,
    base: reqwest::Url,
}

impl LivepeerCli {
    pub fn new(base: reqwest::Url) -> Result<Self, String> {
        let client = crate::client::builder(crate::USER_AGENT, [&base])
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(LivepeerCli { client, base })
    }

    /// GET `path`, at most `max` bytes, within `timeout`.
    pub async fn get(&self, path: &str, max: usize, timeout: Duration) -> Result<Bytes, CliError> {
        let url = self.base.join(path).map_err(|e| CliError::Other(e.to_string()))?;
        self.fetch(self.client.get(url), max, timeout).await
    }

    /// Sends `req`: the body of a 2xx answer, at most `max` bytes, within `timeout`.
    async fn fetch(&self, req: reqwest::RequestBuilder, max: usize, timeout: Duration) -> Result<Bytes, CliError> {
        let work = async {
            let resp = req.timeout(timeout).send().await.map_err(|e| {
                if e.is_connect() {
                    CliError::Connect(transport_error(e))
                } else if e.is_timeout() {
                    CliError::Timeout
                } else {
                    CliError::Other(transport_error(e))
                }
            })?;
            let status = resp.status();
            let body = read_body(resp, max).await?;
            if !status.is_success() {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                return Err(CliError::Http(status.as_u16(), truncate(text.trim(), 120)));
            }
            Ok(body)
        };
        tokio::time::timeout(timeout, work).await.unwrap_or(Err(CliError::Timeout))
    }

    /// `/status`.
    pub async fn status(&self, timeout: Duration) -> Result<NodeStatus, CliError> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "Version")]
            version: Option<String>,
            #[serde(rename = "RegisteredTranscodersNumber")]
            registered: Option<u64>,
            #[serde(rename = "LocalTranscoding")]
            local: Option<bool>,
            #[serde(rename = "StreamInfo", default)]
            streams: std::collections::HashMap<String, Stream>,
        }
        #[derive(Deserialize)]
        struct Stream {
            #[serde(rename = "SourceBytes", default)]
            source_bytes: u64,
        }
        let body = self.get("/status", MAX_JSON, timeout).await?;
        let raw: Raw = serde_json::from_slice(&body)
            .map_err(|e| CliError::Invalid(format!("/status is not NodeStatus JSON: {e}")))?;
        let version =
            raw.version.filter(|v| !v.is_empty()).ok_or_else(|| CliError::Invalid("/status has no Version".into()))?;
        Ok(NodeStatus {
            version: truncate(&version, 64),
            registered_transcoders: raw.registered.unwrap_or(0),
            local_transcoding: raw.local.unwrap_or(false),
            source_bytes: raw.streams.values().map(|s| s.source_bytes).sum(),
        })
    }

    /// `/currentRound`: decimal text (current releases) or big-endian bytes (older ones).
    pub async fn current_round(&self, timeout: Duration) -> Result<u64, CliError> {
        let body = self.get("/currentRound", 256, timeout).await?;
        parse_round(&body)
    }

    /// `/orchestratorInfo`: the node's own transcoder record.
    pub async fn orchestrator_info(&self, timeout: Duration) -> Result<TranscoderInfo, CliError> {
        let body = self.get("/orchestratorInfo", MAX_JSON, timeout).await?;
        parse_orchestrator_info(&body)
    }

    /// `/ethAddr`: the node's account.
    pub async fn eth_addr(&self, timeout: Duration) -> Result<Address, CliError> {
        let body = self.get("/ethAddr", 256, timeout).await?;
        let text = String::from_utf8_lossy(&body);
        text.trim().trim_matches('"').parse().map_err(|e| CliError::Invalid(format!("/ethAddr: {e}")))
    }

    /// `/ethBalance`: the node account's balance in wei (decimal text).
    pub async fn eth_balance(&self, timeout: Duration) -> Result<u128, CliError> {
        let body = self.get("/ethBalance", 256, timeout).await?;
        let text = String::from_utf8_lossy(&body);
        let t = text.trim().trim_matches('"');
        if t.len() > 39 && t.chars().all(|c| c.is_ascii_digit()) {
            return Ok(u128::MAX);
        }
        t.parse().map_err(|_| CliError::Invalid(format!("/ethBalance: {:?} is not a number", truncate(t, 40))))
    }

    /// `/signMessage`: `text` signed by the node's account (EIP-191), 65 bytes.
    pub async fn sign_message(&self, text: &str, timeout: Duration) -> Result<Vec<u8>, CliError> {
        let url = self.base.join("/signMessage").map_err(|e| CliError::Other(e.to_string()))?;
        let form = url::form_urlencoded::Serializer::new(String::new()).append_pair("message", text).finish();
        let req = self.client.post(url).header("content-type", "application/x-www-form-urlencoded").body(form);
        let body = self.fetch(req, 4096, timeout).await?;
        if body.len() != 65 {
            return Err(CliError::Invalid(format!("/signMessage gave {} bytes, not a 65-byte signature", body.len())));
        }
        Ok(body.to_vec())
    }

    /// `/metrics` (only with `-monitor`), as text.
    pub async fn metrics(&self, timeout: Duration) -> Result<String, CliError> {
        let body = self.get("/metrics", MAX_METRICS, timeout).await?;
        String::from_utf8(body.to_vec()).map_err(|_| CliError::Invalid("/metrics is not UTF-8 text".into()))
    }
}

/// Parses `/currentRound`'s body.
pub fn parse_round(body: &[u8]) -> Result<u64, CliError> {
    let text = std::str::from_utf8(body).unwrap_or("").trim();
    if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| CliError::Invalid("/currentRound out of range".into()));
    }
    if body.is_empty() {
        return Ok(0); // big.Int(0).Bytes() is empty
    }
    if body.len() <= 8 {
        let mut b = [0u8; 8];
        b[8 - body.len()..].copy_from_slice(body);
        return Ok(u64::from_be_bytes(b));
    }
    Err(CliError::Invalid("/currentRound is neither a number nor 8 bytes".into()))
}

/// Parses `/orchestratorInfo`'s JSON (`{"Transcoder": {"LastRewardRound": N, ...}}`).
pub fn parse_orchestrator_info(body: &[u8]) -> Result<TranscoderInfo, CliError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| CliError::Invalid(format!("/orchestratorInfo is not JSON: {e}")))?;
    let t = v
        .get("Transcoder")
        .filter(|t| t.is_object())
        .ok_or_else(|| CliError::Invalid("/orchestratorInfo has no Transcoder".into()))?;
    let num = |key: &str, missing: u64| -> Result<u64, CliError> {
        match t.get(key) {
            None | Some(Value::Null) => Ok(missing),
            Some(Value::Number(n)) => Ok(n.as_u64().unwrap_or(u64::MAX)),
            Some(Value::String(s)) => {
                s.parse::<u64>()
                    .or_else(|_| {
                        if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
                            Ok(u64::MAX)
                        } else {
                            Err(())
                        }
                    })
                    .map_err(|_| CliError::Invalid(format!("/orchestratorInfo {key} is not a number")))
            }
            Some(_) => Err(CliError::Invalid(format!("/orchestratorInfo {key} is not a number"))),
        }
    };
    if t.get("LastRewardRound").is_none() {
        return Err(CliError::Invalid("/orchestratorInfo Transcoder has no LastRewardRound".into()));
    }
    Ok(TranscoderInfo {
        last_reward_round: num("LastRewardRound", 0)?,
        activation_round: num("ActivationRound", 0)?,
        deactivation_round: num("DeactivationRound", u64::MAX)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds() {
        assert_eq!(parse_round(b"4127\n").unwrap(), 4127);
        assert_eq!(parse_round(&[0x10, 0x1f]).unwrap(), 0x101f);
        assert_eq!(parse_round(b"").unwrap(), 0);
        assert!(parse_round(&[1u8; 9]).is_err());
    }

    #[test]
    fn orchestrator_info() {
        let t = parse_orchestrator_info(
            br#"{"Transcoder":{"Address":"0x0","LastRewardRound":41,"ActivationRound":3,
               "DeactivationRound":115792089237316195423570985008687907853269984665640564039457584007913129639935},
               "PriceInfo":null}"#,
        )
        .unwrap();
        assert_eq!(t.last_reward_round, 41);
        assert_eq!(t.activation_round, 3);
        assert_eq!(t.deactivation_round, u64::MAX);
        assert!(parse_orchestrator_info(b"{}").is_err());
        assert!(parse_orchestrator_info(br#"{"Transcoder":{"LastRewardRound":"x"}}"#).is_err());
    }
}
