//! A scriptable fake HTTP peer on loopback for hostile-input tests: answers each request as a
//! closure says: normally, never, endlessly, a byte at a time, cut off, or with garbage; counts requests
//! by JSON-RPC method.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Req {
    pub path: String,
    /// JSON-RPC `method`, if the body had one.
    pub method: Option<String>,
    pub body: Value,
}

/// How to answer.
pub enum Reply {
    /// Status, content type, body.
    Full(u16, &'static str, Vec<u8>),
    /// Read the request, then say nothing, forever.
    Hang,
    /// 200 without a length, then bytes forever.
    Endless,
    /// 200 with a declared length, one byte every 200 ms.
    Trickle,
    /// Read the request, then close the connection without a word.
    Close,
    /// 200 with a declared length, part of the body, then close.
    Cut,
}

impl Reply {
    pub fn json(v: Value) -> Reply {
        Reply::Full(200, "application/json", serde_json::to_vec(&v).unwrap_or_default())
    }
    /// A JSON-RPC result for the request `req`.
    pub fn result(req: &Req, result: Value) -> Reply {
        Reply::json(
            json!({"jsonrpc": "2.0", "id": req.body.get("id").cloned().unwrap_or(Value::Null), "result": result}),
        )
    }
}

type Script = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

/// A running fake.
pub struct Fake {
    pub url: String,
    pub counts: Arc<Mutex<HashMap<String, u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    /// Requests seen for JSON-RPC `method` (or for a path, when there is no method).
    pub fn count(&self, key: &str) -> u64 {
        self.counts.lock().map(|c| c.get(key).copied().unwrap_or(0)).unwrap_or(0)
    }
    /// Stops accepting (existing connections end with the task).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a fake answering with `script`.
pub async fn start(script: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let counts: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let script: Script = Arc::new(script);
    let c = counts.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((s, _)) = listener.accept().await else { return };
            let (script, counts) = (script.clone(), c.clone());
            conns.spawn(serve_conn(s, script, counts));
        }
    });
    Fake { url, counts, task }
}

async fn serve_conn(mut s: TcpStream, script: Script, counts: Arc<Mutex<HashMap<String, u64>>>) {
    let mut buf = Vec::new();
    loop {
        // Read the head.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.len() > 1 << 20 {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 65536];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
        buf.drain(..head_end + len);
        let method = body.get("method").and_then(Value::as_str).map(str::to_string);
        let key = method.clone().unwrap_or_else(|| path.clone());
        if let Ok(mut c) = counts.lock() {
            *c.entry(key).or_default() += 1;
        }
        let req = Req { path, method, body };
        match script(&req) {
            Reply::Full(status, ct, body) => {
                let head =
                    format!("HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n", body.len());
                if s.write_all(head.as_bytes()).await.is_err() || s.write_all(&body).await.is_err() {
                    return;
                }
            }
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Reply::Endless => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[")
                    .await;
                let junk = vec![b'1'; 65536];
                while s.write_all(&junk).await.is_ok() {}
                return;
            }
            Reply::Close => return,
            Reply::Cut => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
                    .await;
                return;
            }
            Reply::Trickle => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
                    .await;
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if s.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// A well-behaved JSON-RPC upstream on `chain`, with a fresh head; any other method answers
/// `"ok:<tag>"`.
pub fn good_upstream(chain: u64, tag: &'static str) -> impl Fn(&Req) -> Reply + Send + Sync + 'static {
    move |req: &Req| match req.method.as_deref() {
        Some("eth_chainId") => Reply::result(req, json!(format!("0x{chain:x}"))),
        Some("eth_getBlockByNumber") => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            Reply::result(req, json!({"number": "0x10", "timestamp": format!("0x{now:x}")}))
        }
        Some("eth_syncing") => Reply::result(req, json!(false)),
        _ => Reply::result(req, json!(format!("ok:{tag}"))),
    }
}
