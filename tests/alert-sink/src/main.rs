//! alert-sink: the webhook receiver the compose test routes Alertmanager to (test-only). It
//! keeps every POSTed body in memory and serves them back: `GET /received` answers a JSON
//! array of the bodies (each an Alertmanager webhook message), in arrival order. `GET /healthz`
//! answers 200. Listens on the address given as the one argument (default 0.0.0.0:9095).
//! std only; bodies above 1 MiB are refused with 413.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MAX_BODY: usize = 1 << 20;

type Received = Arc<Mutex<Vec<String>>>;

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "0.0.0.0:9095".into());
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("alert-sink: cannot listen on {addr}: {e}");
        std::process::exit(1)
    });
    eprintln!("alert-sink: listening on {addr}");
    let received: Received = Arc::default();
    for stream in listener.incoming().flatten() {
        let received = received.clone();
        std::thread::spawn(move || {
            if let Err(e) = serve(stream, &received) {
                eprintln!("alert-sink: {e}");
            }
        });
    }
}

/// One request on `stream`, then close.
fn serve(stream: TcpStream, received: &Received) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(usize::MAX);
            }
        }
    }
    let (status, body) = match (method, path) {
        ("POST", _) if length > MAX_BODY => ("413 Payload Too Large", String::new()),
        ("POST", _) => {
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            let text = String::from_utf8_lossy(&body).into_owned();
            eprintln!("alert-sink: {method} {path}: {length} bytes");
            received.lock().unwrap_or_else(|p| p.into_inner()).push(text);
            ("200 OK", String::new())
        }
        ("GET", "/received") => {
            let all = received.lock().unwrap_or_else(|p| p.into_inner());
            ("200 OK", format!("[{}]", all.join(",")))
        }
        ("GET", "/healthz") => ("200 OK", "ok\n".into()),
        _ => ("404 Not Found", String::new()),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}
