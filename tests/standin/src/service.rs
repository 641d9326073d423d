//! The orchestrator's service port: HTTPS with a self-signed certificate, like the real gRPC+HTTPS port.
//!
//! The real standalone transcoder registers through the gRPC stream `RegisterTranscoder`; the stand-in uses a
//! private HTTPS path instead: `POST /standin/registerTranscoder` with the `Credentials` (secret) and
//! `Capacity` headers. The registration lasts while the chunked response stays open (a heartbeat each second),
//! just as the real one lasts while the gRPC stream is open.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use crate::http::{self, Body, Request, Response};
use crate::state::{State, Transcoder};
use crate::{info, tls};

pub const REGISTER_PATH: &str = "/standin/registerTranscoder";
/// The real node's error texts, which a transcoder treats as fatal.
pub const ERR_SECRET: &str = "Invalid secret";
pub const ERR_ZERO_CAPACITY: &str = "Zero capacity";
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Serves the service port; remote transcoders may register unless the orchestrator transcodes itself.
pub fn serve(
    listener: TcpListener,
    hosts: Vec<String>,
    state: Arc<State>,
    secret: String,
    remote: bool,
) -> Result<(), String> {
    let tls = tls::server_config(hosts)?;
    let handler: http::Handler = Arc::new(move |req: &Request| match (req.method.as_str(), req.path.as_str()) {
        ("POST", REGISTER_PATH) if remote => register(req, &state, &secret),
        _ => Response::not_found(),
    });
    http::serve(listener, handler, Some(tls));
    Ok(())
}

fn register(req: &Request, state: &Arc<State>, secret: &str) -> Response {
    let from = req.peer.to_string();
    let capacity: i64 = req.header("Capacity").and_then(|c| c.trim().parse().ok()).unwrap_or(0);
    info!("Got a RegisterTranscoder request from transcoder={from} capacity={capacity}");
    if req.header("Credentials") != Some(secret) {
        info!("{ERR_SECRET}");
        return Response::error(401, ERR_SECRET);
    }
    if capacity <= 0 {
        info!("{ERR_ZERO_CAPACITY}");
        return Response::error(400, ERR_ZERO_CAPACITY);
    }
    let id = state.add_transcoder(Transcoder { address: from.clone(), capacity });
    info!("Transcoder registered transcoder={from} capacity={capacity} total={}", state.transcoders().len());
    let state = state.clone();
    let streamer: http::Streamer = Box::new(move |out: &mut dyn Write| {
        let result = loop {
            if let Err(e) = out.write_all(b"\n") {
                break Err(e);
            }
            std::thread::sleep(HEARTBEAT);
        };
        state.remove_transcoder(id);
        info!("Transcoder disconnected transcoder={from} total={}", state.transcoders().len());
        result
    });
    Response { status: 200, content_type: Some("text/plain; charset=utf-8"), body: Body::Stream(streamer) }
}
