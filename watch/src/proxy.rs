//! The JSON-RPC proxy livepeer uses as `-ethUrl`: takes a whole POSTed body (the server has
//! read it, bounded in size and time), waits for a concurrency slot, hands the body to the
//! failover pool, and relays the answer or a JSON-RPC error.

use crate::config::RpcCfg;
use crate::jsonrpc::{error_body, request_id};
use crate::pool::{Forwarded, Pool};
use crate::server::{respond, Handler, Resp};
use bytes::Bytes;
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
    pub request_timeout: Duration,
}

fn rpc_error(status: u16, id: Value, code: i64, message: &str) -> Resp {
    respond(status, "application/json", error_body(id, code, message))
}

impl Proxy {
    pub fn new(pool: Arc<Pool>, cfg: &RpcCfg) -> Self {
        Proxy { pool, limit: Arc::new(Semaphore::new(cfg.max_concurrent)), request_timeout: cfg.request_timeout }
    }
}

impl Handler for Proxy {
    async fn handle(self, req: Request<Bytes>) -> Resp {
        if req.method() != hyper::Method::POST {
            return rpc_error(405, Value::Null, -32600, "only POST with a JSON-RPC body is accepted");
        }
        // A slot only for a whole request, and never waited for longer than a request may take.
        let permit = match tokio::time::timeout(self.request_timeout, self.limit.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => return rpc_error(503, Value::Null, -32603, "too many concurrent requests (rpc.max_concurrent)"),
        };
        let body = req.into_body();
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

    fn refuse(&self, status: u16, why: &str) -> Resp {
        let why = if status == 413 { format!("{why} (rpc.max_request_bytes)") } else { why.to_string() };
        rpc_error(status, Value::Null, -32600, &why)
    }
}
