//! Ethereum JSON-RPC on the wire: one bounded call, request bodies, strict response parsing,
//! hex quantities and the error bodies lpwatch answers with itself.

use crate::bounded::{read_body, BodyError};
use serde_json::{json, Value};
use std::time::Duration;

/// Why a JSON-RPC call failed. `Connect` is the only kind where the request was never sent.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("timed out")]
    Timeout,
    #[error("HTTP status {0}")]
    Http(u16),
    #[error("{0}")]
    Body(#[from] BodyError),
    #[error("invalid JSON-RPC response: {0}")]
    Invalid(String),
    #[error("JSON-RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
    #[error("request failed: {0}")]
    Other(String),
    #[error("no usable RPC upstream ({0})")]
    NoUpstream(String),
}

/// One call of `method` to `url`: an answer of at most `max` bytes, within `timeout`.
pub async fn call(
    client: &reqwest::Client,
    url: &reqwest::Url,
    id: u64,
    method: &str,
    params: Value,
    max: usize,
    timeout: Duration,
) -> Result<Value, RpcError> {
    let work = async {
        let resp = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request_body(id, method, params))
            .timeout(timeout)
            .send()
            .await
            .map_err(classify)?;
        if !resp.status().is_success() {
            return Err(RpcError::Http(resp.status().as_u16()));
        }
        parse_response(&read_body(resp, max).await?)
    };
    // The outer bound also covers a peer that trickles bytes forever.
    tokio::time::timeout(timeout, work).await.unwrap_or(Err(RpcError::Timeout))
}

/// The body of a single JSON-RPC 2.0 request.
pub fn request_body(id: u64, method: &str, params: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).unwrap_or_default()
}

/// Parses a single JSON-RPC response and returns its `result`.
pub fn parse_response(body: &[u8]) -> Result<Value, RpcError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| RpcError::Invalid(e.to_string()))?;
    let obj = v.as_object().ok_or_else(|| RpcError::Invalid("not a JSON object".into()))?;
    if let Some(err) = obj.get("error") {
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = err.get("message").and_then(Value::as_str).unwrap_or("(no message)");
        return Err(RpcError::Rpc { code, message: truncate(message, 200) });
    }
    obj.get("result").cloned().ok_or_else(|| RpcError::Invalid("neither result nor error".into()))
}

/// A hex quantity (`"0x1a"`) as u64.
pub fn quantity_u64(v: &Value) -> Result<u64, RpcError> {
    let s = hex_str(v)?;
    if s.is_empty() || s.len() > 16 {
        return Err(RpcError::Invalid(format!("quantity {} does not fit 64 bits", truncate(&v.to_string(), 80))));
    }
    u64::from_str_radix(s, 16).map_err(|_| RpcError::Invalid(format!("bad quantity {v}")))
}

/// A hex quantity as u128, saturating (a dev chain funds accounts with ~2^256 wei).
pub fn quantity_u128_saturating(v: &Value) -> Result<u128, RpcError> {
    let s = hex_str(v)?.trim_start_matches('0');
    if s.len() > 32 {
        if !s.chars().all(|c| c.is_ascii_hexdigit()) || s.len() > 64 {
            return Err(RpcError::Invalid(format!("bad quantity {}", truncate(&v.to_string(), 80))));
        }
        return Ok(u128::MAX);
    }
    if s.is_empty() {
        return Ok(0);
    }
    u128::from_str_radix(s, 16).map_err(|_| RpcError::Invalid(format!("bad quantity {v}")))
}

/// Hex data (`"0x..."`) as bytes.
pub fn data_bytes(v: &Value) -> Result<Vec<u8>, RpcError> {
    hex::decode(hex_str(v)?).map_err(|e| RpcError::Invalid(format!("bad hex data: {e}")))
}

fn hex_str(v: &Value) -> Result<&str, RpcError> {
    v.as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .ok_or_else(|| RpcError::Invalid(format!("expected a 0x string, got {}", truncate(&v.to_string(), 80))))
}

/// The `id` of a JSON-RPC request body, or `null` (batches and unparsable bodies).
pub fn request_id(body: &[u8]) -> Value {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Option<Value>,
    }
    // Only an object has an id (serde would read `[x]` positionally as the struct).
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Value::Null;
    }
    serde_json::from_slice::<Id>(body).ok().and_then(|r| r.id).unwrap_or(Value::Null)
}

/// A JSON-RPC error response body from lpwatch itself.
pub fn error_body(id: Value, code: i64, message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": format!("lpwatch: {message}")},
    }))
    .unwrap_or_default()
}

/// A reqwest error and its causes on one line (reqwest hides the useful part in `source()`),
/// without the URL reqwest puts in its message: an upstream URL may hold an API key, and this
/// text reaches logs, `/healthz` and clients. Every reqwest error is described through here.
pub fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(&e);
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Classifies a reqwest error; `Connect` only when nothing was sent.
pub fn classify(e: reqwest::Error) -> RpcError {
    if e.is_connect() {
        RpcError::Connect(transport_error(e))
    } else if e.is_timeout() {
        RpcError::Timeout
    } else {
        RpcError::Other(transport_error(e))
    }
}

/// Cuts `s` to at most `max` characters (peer text in reasons must stay short).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        assert_eq!(parse_response(br#"{"jsonrpc":"2.0","id":1,"result":"0x1"}"#).unwrap(), json!("0x1"));
        assert!(matches!(
            parse_response(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"x"}}"#),
            Err(RpcError::Rpc { code: -32000, .. })
        ));
        assert!(matches!(parse_response(b"<html>"), Err(RpcError::Invalid(_))));
        assert!(matches!(parse_response(b"[1]"), Err(RpcError::Invalid(_))));
        assert!(matches!(parse_response(b"{}"), Err(RpcError::Invalid(_))));
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity_u64(&json!("0x539")).unwrap(), 1337);
        assert!(quantity_u64(&json!("0x")).is_err());
        assert!(quantity_u64(&json!(5)).is_err());
        assert!(quantity_u64(&json!("0x10000000000000000")).is_err());
        let dev = json!("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7");
        assert_eq!(quantity_u128_saturating(&dev).unwrap(), u128::MAX);
        assert_eq!(quantity_u128_saturating(&json!("0x0")).unwrap(), 0);
        assert!(quantity_u128_saturating(&json!("0xg")).is_err());
        assert_eq!(data_bytes(&json!("0x0102")).unwrap(), vec![1, 2]);
    }

    #[test]
    fn ids_and_errors() {
        assert_eq!(request_id(br#"{"id":"a","method":"x"}"#), json!("a"));
        assert_eq!(request_id(br#"[{"id":1}]"#), Value::Null);
        assert_eq!(request_id(b"garbage"), Value::Null);
        let body = error_body(json!(7), -32603, "boom");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], json!(7));
        assert_eq!(v["error"]["message"], json!("lpwatch: boom"));
    }
}
