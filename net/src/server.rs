//! A small HTTP/1.1 server loop shared by lpwatch's status endpoint and RPC proxy and by the share
//! collector (each request carries its peer's address, [`Peer`]), built to stay
//! responsive under slow clients: each phase of reading a request has its own timeout (headers,
//! then body), a handler only ever sees a whole request, and when every connection slot is taken
//! the oldest connection that is not being answered (still sending, or idle) is closed to make
//! room, so trickling clients can delay nobody for longer than it takes to accept.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The response type of every handler.
pub type Resp = Response<Full<Bytes>>;

/// A response with a body and content type.
pub fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// The address a request came from, in the request's extensions (`req.extensions().get::<Peer>()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer(pub std::net::SocketAddr);

/// Caps and per-phase timeouts of one listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections; past it the oldest one not being answered is closed.
    pub max_connections: usize,
    /// From the first byte of a request to the end of its headers.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
    pub max_body: usize,
}

/// What a listener serves.
pub trait Handler: Clone + Send + Sync + 'static {
    /// Answers a whole request (headers and body read within the limits).
    fn handle(self, req: Request<Bytes>) -> impl Future<Output = Resp> + Send;
    /// The answer to a request that could not be read whole: 413 (too large), 408 (too slow)
    /// or 400 (broken), with why.
    fn refuse(&self, status: u16, why: &str) -> Resp;
}

/// One open connection: whether it is being answered, and how to close it.
struct Slot {
    busy: Arc<AtomicBool>,
    stop: oneshot::Sender<()>,
}

/// The open connections, oldest first (ids grow).
#[derive(Default)]
struct Slots {
    next: u64,
    open: BTreeMap<u64, Slot>,
}

impl Slots {
    /// Makes room for one more connection; false when every slot is answering a request.
    fn make_room(&mut self, max: usize) -> bool {
        if self.open.len() < max.max(1) {
            return true;
        }
        let idle = self.open.iter().find(|(_, s)| !s.busy.load(Ordering::Relaxed)).map(|(id, _)| *id);
        match idle.and_then(|id| self.open.remove(&id)) {
            Some(victim) => {
                let _ = victim.stop.send(());
                true
            }
            None => false,
        }
    }
}

/// Reads the body of `req` within the limits.
async fn read_whole(req: Request<Incoming>, limits: Limits) -> Result<Request<Bytes>, (u16, String)> {
    let too_large = || (413, format!("request body larger than {} bytes", limits.max_body));
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(limits.body_timeout, Limited::new(body, limits.max_body).collect()).await {
        Ok(Ok(b)) => Ok(Request::from_parts(parts, b.to_bytes())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err((400, "request body broken off".into())),
        Err(_) => Err((408, format!("request body not received within {}s", limits.body_timeout.as_secs_f64()))),
    }
}

/// Accepts connections on `listener` forever, serving each whole request with `handler`.
pub async fn serve<H: Handler>(listener: TcpListener, limits: Limits, handler: H) {
    let slots = Arc::new(Mutex::new(Slots::default()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let busy = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = oneshot::channel();
        let id = {
            let Ok(mut s) = slots.lock() else { return };
            if !s.make_room(limits.max_connections) {
                tracing::debug!("every connection slot is answering a request: new connection closed");
                continue;
            }
            s.next += 1;
            let id = s.next;
            s.open.insert(id, Slot { busy: busy.clone(), stop });
            id
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let slots = slots.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let (h, busy) = (handler.clone(), busy.clone());
                async move {
                    let resp = match read_whole(req, limits).await {
                        Ok(mut req) => {
                            req.extensions_mut().insert(Peer(peer));
                            busy.store(true, Ordering::Relaxed);
                            let resp = h.handle(req).await;
                            busy.store(false, Ordering::Relaxed);
                            resp
                        }
                        Err((status, why)) => h.refuse(status, &why),
                    };
                    Ok::<_, Infallible>(resp)
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!("connection ended: {e}");
                    }
                }
                _ = stopped => tracing::debug!("connection closed to make room for a new one"),
            }
            if let Ok(mut s) = slots.lock() {
                s.open.remove(&id);
            }
        });
    }
}

/// Returns on SIGTERM or SIGINT.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
