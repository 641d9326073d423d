//! The standalone transcoder: registers with its orchestrator over HTTPS (see `service`), stays registered
//! while the connection lives, and retries with exponential backoff like the real `RunTranscoder`.
//! A refused secret (or zero capacity) is fatal to the registration loop, as upstream; the process stays up.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::service::{ERR_SECRET, ERR_ZERO_CAPACITY, REGISTER_PATH};
use crate::{error, info, tls};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Heartbeats come each second; this long without one means the orchestrator is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(10);

/// Why a registration ended; fatal ones stop the loop.
struct Ended {
    fatal: bool,
    message: String,
}

/// Runs the registration loop on a background thread.
pub fn spawn(orch_addr: String, secret: String, capacity: i64) {
    std::thread::spawn(move || run(&orch_addr, &secret, capacity));
}

fn run(orch_addr: &str, secret: &str, capacity: i64) {
    let config = tls::insecure_client_config();
    let mut backoff = Backoff::new();
    loop {
        info!("Registering transcoder to {orch_addr}");
        let ended = register(&config, orch_addr, secret, capacity, &mut backoff);
        info!("Unregistering transcoder: {}", ended.message);
        if ended.fatal {
            info!("Terminating transcoder because of {}", ended.message);
            return;
        }
        std::thread::sleep(backoff.next_delay());
    }
}

/// One registration: connect, present the secret, then hold the stream until it ends.
fn register(config: &Arc<ClientConfig>, orch_addr: &str, secret: &str, capacity: i64, backoff: &mut Backoff) -> Ended {
    let mut stream = match connect(config, orch_addr) {
        Ok(stream) => stream,
        Err(e) => return could_not_register(e.to_string()),
    };
    let request = format!(
        "POST {REGISTER_PATH} HTTP/1.1\r\nHost: {orch_addr}\r\nAuthorization: Livepeer-Transcoder-1.0\r\n\
         Credentials: {secret}\r\nCapacity: {capacity}\r\nContent-Length: 0\r\n\r\n"
    );
    if let Err(e) = stream.write_all(request.as_bytes()).and_then(|_| stream.flush()) {
        return could_not_register(e.to_string());
    }
    let mut reader = BufReader::new(stream);
    let (status, body_len) = match read_status(&mut reader) {
        Ok(head) => head,
        Err(e) => return could_not_register(e.to_string()),
    };
    if status != 200 {
        let mut body = vec![0u8; body_len.min(4096)];
        let message = match reader.read_exact(&mut body) {
            Ok(()) => String::from_utf8_lossy(&body).trim().to_string(),
            Err(e) => e.to_string(),
        };
        let ended = could_not_register(message);
        let fatal = ended.message == ERR_SECRET || ended.message == ERR_ZERO_CAPACITY;
        return Ended { fatal, ..ended };
    }
    info!("Registered transcoder to {orch_addr} capacity={capacity}");
    backoff.reset();
    let mut sink = [0u8; 256];
    let message = loop {
        match reader.read(&mut sink) {
            Ok(0) => break "EOF".to_string(),
            Ok(_) => continue,
            Err(e) => break e.to_string(),
        }
    };
    info!("End of stream receive cycle because of err=\"{message}\", waiting for running transcode jobs to complete");
    Ended { fatal: false, message }
}

fn could_not_register(message: String) -> Ended {
    error!("Could not register transcoder to orchestrator {message}");
    Ended { fatal: false, message }
}

fn connect(config: &Arc<ClientConfig>, orch_addr: &str) -> io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let addr = orch_addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no address for {orch_addr}")))?;
    let tcp = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    tcp.set_read_timeout(Some(SILENCE_LIMIT))?;
    let host = crate::addr::split_host_port(orch_addr).0;
    let name = ServerName::try_from(host.to_string()).map_err(io::Error::other)?;
    let conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    Ok(StreamOwned::new(conn, tcp))
}

/// Reads the status line and headers; returns the status and the Content-Length (0 if absent).
fn read_status<R: BufRead>(reader: &mut R) -> io::Result<(u16, usize)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {line:?}")))?;
    let mut body_len = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            return Ok((status, body_len));
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                body_len = value.trim().parse().unwrap_or(0);
            }
        }
    }
}

/// cenkalti/backoff's defaults as the real node uses them: 0.5 s, times 1.5, at most one minute.
struct Backoff {
    next: Duration,
}

impl Backoff {
    const INITIAL: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(60);

    fn new() -> Backoff {
        Backoff { next: Self::INITIAL }
    }

    fn reset(&mut self) {
        self.next = Self::INITIAL;
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next.mul_f64(1.5)).min(Self::MAX);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_minute() {
        let mut b = Backoff::new();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
        assert_eq!(b.next_delay(), Duration::from_millis(750));
        for _ in 0..20 {
            b.next_delay();
        }
        assert_eq!(b.next_delay(), Duration::from_secs(60));
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn status_and_length() {
        let mut input =
            io::Cursor::new(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 15\r\n\r\nInvalid secret\n".to_vec());
        assert_eq!(read_status(&mut input).unwrap(), (401, 15));
    }
}
