//! systemd notification (`Type=notify`): `READY=1` once serving, `STATUS=` lines, and
//! `WATCHDOG=1` pings sent only while the check loop keeps completing passes on time.
//! The protocol is one datagram per message to `$NOTIFY_SOCKET`; no library needed.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection to systemd's notify socket, or nothing when not run by systemd.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    /// `WATCHDOG_USEC`, when systemd expects pings.
    pub watchdog: Option<Duration>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET").ok();
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|us| *us > 0)
            .filter(|_| {
                std::env::var("WATCHDOG_PID")
                    .ok()
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_none_or(|p| p == std::process::id())
            })
            .map(Duration::from_micros);
        match socket {
            Some(path) => Notifier::at(&path, watchdog).unwrap_or_else(|e| {
                tracing::warn!("NOTIFY_SOCKET {path:?} unusable: {e}");
                Notifier::none()
            }),
            None => Notifier::none(),
        }
    }

    /// A notifier that sends nothing.
    pub fn none() -> Notifier {
        Notifier { target: None, watchdog: None }
    }

    /// A notifier for the socket at `path` (`@name` for the abstract namespace).
    pub fn at(path: &str, watchdog: Option<Duration>) -> std::io::Result<Notifier> {
        let addr = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes())?
            }
            None => SocketAddr::from_pathname(path)?,
        };
        Ok(Notifier { target: Some((UnixDatagram::unbound()?, addr)), watchdog })
    }

    /// Sends one notification (`READY=1`, `WATCHDOG=1`, `STATUS=...`); failures are logged.
    pub fn send(&self, msg: &str) {
        if let Some((sock, addr)) = &self.target {
            if let Err(e) = sock.send_to_addr(msg.as_bytes(), addr) {
                tracing::debug!("sd_notify {msg:?} failed: {e}");
            }
        }
    }
}

/// When the check loop last completed a pass.
#[derive(Debug)]
pub struct Heartbeat {
    start: Instant,
    /// Milliseconds since `start` of the last beat, plus one (0: never).
    last: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat { start: Instant::now(), last: AtomicU64::new(0) }
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        let ms = self.start.elapsed().as_millis() as u64 + 1;
        self.last.store(ms, Ordering::Relaxed);
    }

    /// The loop completed a pass within `max_silence`.
    pub fn fresh(&self, max_silence: Duration) -> bool {
        match self.last.load(Ordering::Relaxed) {
            0 => false,
            ms => {
                let age = self.start.elapsed().as_millis() as u64 + 1 - ms;
                age <= max_silence.as_millis() as u64
            }
        }
    }
}

/// Pings the watchdog every half period while the loop is fresh; silent otherwise, so systemd
/// restarts a wedged lpwatch.
pub async fn watchdog_loop(notifier: Arc<Notifier>, heartbeat: Arc<Heartbeat>, max_silence: Duration) {
    let Some(period) = notifier.watchdog else {
        return;
    };
    let mut tick = tokio::time::interval((period / 2).max(Duration::from_millis(50)));
    loop {
        tick.tick().await;
        if heartbeat.fresh(max_silence) {
            notifier.send("WATCHDOG=1");
        } else {
            tracing::warn!("check loop silent for over {max_silence:?}: withholding the systemd watchdog ping");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::at(path.to_str().unwrap(), None).unwrap();
        n.send("READY=1");
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
    }

    #[test]
    fn heartbeat_freshness() {
        let h = Heartbeat::default();
        assert!(!h.fresh(Duration::from_secs(60)));
        h.beat();
        assert!(h.fresh(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!h.fresh(Duration::from_millis(10)));
    }

    #[tokio::test]
    async fn watchdog_pings_only_while_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wd.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_nonblocking(true).unwrap();
        let n = Arc::new(Notifier::at(path.to_str().unwrap(), Some(Duration::from_millis(100))).unwrap());
        let hb = Arc::new(Heartbeat::default());
        let task = tokio::spawn(watchdog_loop(n, hb.clone(), Duration::from_millis(150)));
        let count = |rx: &UnixDatagram| {
            let mut buf = [0u8; 64];
            let mut c = 0;
            while rx.recv(&mut buf).is_ok() {
                c += 1;
            }
            c
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(count(&rx), 0, "no ping before the first pass");
        hb.beat();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(count(&rx) >= 1, "pings while fresh");
        tokio::time::sleep(Duration::from_millis(250)).await;
        count(&rx);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(count(&rx), 0, "silent once the loop is stale");
        task.abort();
    }
}
