//! A small HTTP/1.1 server, plain or over TLS: one request per connection, a thread per connection.
//! Responses mimic Go's `net/http` (`http.Error` bodies, content types, `404 page not found`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

const MAX_HEAD: usize = 64 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request head; bodies are read and dropped.
pub struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub peer: SocketAddr,
    /// The body, up to [`MAX_BODY`] bytes.
    pub body: Vec<u8>,
}

/// The largest request body kept: the CLI's forms are small.
const MAX_BODY: usize = 64 << 10;

impl Request {
    /// A field of an `application/x-www-form-urlencoded` body, as Go's `FormValue` reads a POST.
    pub fn form_value(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(&self.body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    /// The first header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A body streamed with chunked encoding until the writer closure returns (or the peer goes away).
pub type Streamer = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

pub enum Body {
    Full(Vec<u8>),
    Stream(Streamer),
}

pub struct Response {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Body,
}

impl Response {
    /// 200 with a body Go would sniff as plain text (or no content type for an empty body).
    pub fn text(body: impl Into<Vec<u8>>) -> Response {
        let body = body.into();
        let content_type = (!body.is_empty()).then_some("text/plain; charset=utf-8");
        Response { status: 200, content_type, body: Body::Full(body) }
    }

    /// 200 with `application/json`, as the node's `respondJson`.
    pub fn json(value: &impl serde::Serialize) -> Response {
        let body = serde_json::to_vec(value).expect("JSON of plain data");
        Response { status: 200, content_type: Some("application/json"), body: Body::Full(body) }
    }

    /// `http.Error`: the message and a newline, as plain text.
    pub fn error(status: u16, message: &str) -> Response {
        Response {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            body: Body::Full(format!("{message}\n").into_bytes()),
        }
    }

    /// What Go's `ServeMux` answers for an unknown path.
    pub fn not_found() -> Response {
        Response::error(404, "404 page not found")
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Serves `listener` on a background thread, over TLS when `tls` is given. A plain listener drops a
/// peer silent for [`IO_TIMEOUT`]; the TLS one is the service port, which, like the real node's (its
/// `http.Server` sets no timeouts, for the transcoders' streams), keeps a connection while the peer
/// does: gateways hold theirs open between segments.
pub fn serve(listener: TcpListener, handler: Handler, tls: Option<Arc<ServerConfig>>) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(tcp) = conn else { continue };
            let (handler, tls) = (handler.clone(), tls.clone());
            std::thread::spawn(move || {
                let _ = handle_connection(tcp, &handler, tls);
            });
        }
    });
}

fn handle_connection(tcp: TcpStream, handler: &Handler, tls: Option<Arc<ServerConfig>>) -> io::Result<()> {
    let peer = tcp.peer_addr()?;
    if tls.is_none() {
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    }
    match tls {
        Some(config) => {
            let conn = ServerConnection::new(config).map_err(io::Error::other)?;
            exchange(&mut StreamOwned::new(conn, tcp), peer, handler)
        }
        None => exchange(&mut { tcp }, peer, handler),
    }
}

fn exchange<S: Read + Write>(stream: &mut S, peer: SocketAddr, handler: &Handler) -> io::Result<()> {
    let (mut request, body_len) = match read_head(stream, peer)? {
        Ok(parsed) => parsed,
        Err(()) => return write_response(stream, Response::error(400, "400 Bad Request")),
    };
    let mut sink = [0u8; 8192];
    while request.body.len() < body_len {
        let n = stream.read(&mut sink[..(body_len - request.body.len()).min(8192)])?;
        if n == 0 {
            break;
        }
        request.body.extend_from_slice(&sink[..n]);
        if request.body.len() > MAX_BODY {
            return write_response(stream, Response::error(400, "400 Bad Request"));
        }
    }
    let response = handler(&request);
    write_response(stream, response)
}

/// Reads and parses the request head. The outer error is I/O; the inner one a malformed request.
/// Also returns the body length; the body bytes that came with the head are in the request.
fn read_head<S: Read>(stream: &mut S, peer: SocketAddr) -> io::Result<Result<(Request, usize), ()>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let target = parsed.path.unwrap_or("/");
                let request = Request {
                    method: parsed.method.unwrap_or("GET").to_string(),
                    path: target.split('?').next().unwrap_or("/").to_string(),
                    headers: parsed
                        .headers
                        .iter()
                        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect(),
                    peer,
                    body: buf[head_len..].to_vec(),
                };
                let body_len = request.header("content-length").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
                let mut request = request;
                request.body.truncate(body_len);
                return Ok(Ok((request, body_len)));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            _ => return Ok(Err(())),
        }
    }
}

fn write_response<S: Write>(stream: &mut S, response: Response) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
    if let Some(content_type) = response.content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
        if response.status >= 400 {
            head.push_str("X-Content-Type-Options: nosniff\r\n");
        }
    }
    head.push_str("Connection: close\r\n");
    match response.body {
        Body::Full(body) => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            stream.write_all(head.as_bytes())?;
            stream.write_all(&body)?;
        }
        Body::Stream(streamer) => {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            stream.write_all(head.as_bytes())?;
            stream.flush()?;
            streamer(&mut Chunked(stream))?;
            stream.write_all(b"0\r\n\r\n")?;
        }
    }
    stream.flush()
}

/// Writes each `write` as one HTTP chunk and flushes it at once.
struct Chunked<'a, S: Write>(&'a mut S);

impl<S: Write> Write for Chunked<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        write!(self.0, "{:x}\r\n", data.len())?;
        self.0.write_all(data)?;
        self.0.write_all(b"\r\n")?;
        self.0.flush()?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "",
    }
}
