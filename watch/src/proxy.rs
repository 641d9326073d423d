//! The JSON-RPC proxy livepeer uses as `-ethUrl`: takes a POSTed body (bounded in size and
//! time), hands it to the failover pool, and relays the answer or a JSON-RPC error.

use crate::config::RpcCfg;
use crate::jsonrpc::{error_body, request_id};
use crate::pool::{Forwarded, Pool};
use crate::server::{respond, Resp};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::Request;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What the proxy handler needs.
#[derive(Clone, Debug)]
pub struct Proxy {
    pub pool: Arc<Pool>,
    pub limit: Arc<Semaphore>,
    pub max_request_bytes: usize,
    pub request_timeout: Duration,
}

fn rpc_error(status: u16, id: Value, code: i64, message: &str) -> Resp {
    respond(status, "application/json", error_body(id, code, message))
}

impl Proxy {
    pub fn new(pool: Arc<Pool>, cfg: &RpcCfg) -> Self {
        Proxy {
            pool,
            limit: Arc::new(Semaphore::new(cfg.max_concurrent)),
            max_request_bytes: cfg.max_request_bytes,
            request_timeout: cfg.request_timeout,
        }
    }

    /// Handles one HTTP request.
    pub async fn handle(self, req: Request<Incoming>) -> Resp {
        if req.method() != hyper::Method::POST {
            return rpc_error(405, Value::Null, -32600, "only POST with a JSON-RPC body is accepted");
        }
        let declared = req
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_request_bytes as u64) {
            return rpc_error(413, Value::Null, -32600, "request larger than rpc.max_request_bytes");
        }
        // Wait for a slot, but never longer than a request may take.
        let permit = match tokio::time::timeout(self.request_timeout, self.limit.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => return rpc_error(503, Value::Null, -32603, "too many concurrent requests (rpc.max_concurrent)"),
        };
        let read = Limited::new(req.into_body(), self.max_request_bytes).collect();
        let body = match tokio::time::timeout(self.request_timeout, read).await {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(_)) => {
                return rpc_error(413, Value::Null, -32600, "request larger than rpc.max_request_bytes or broken")
            }
            Err(_) => return rpc_error(408, Value::Null, -32600, "request body not received in time"),
        };
        let out = match self.pool.forward(body.clone()).await {
            Forwarded::Answer(r) => {
                let mut resp = respond(r.status, "application/json", r.body);
                if let Some(ct) = r.content_type {
                    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, ct);
                }
                resp
            }
            Forwarded::Failed { status, message } => {
                tracing::warn!("proxied request failed: {message}");
                rpc_error(status, request_id(&body), -32603, &message)
            }
        };
        drop(permit);
        out
    }
}
