//! Wires lpwatch together: binds the listeners, starts the probes, the proxy, the status
//! endpoint, the check loop, the watchdog and (with `[share]`) the share loop, tells systemd
//! it is ready, and stops on a signal.

use crate::checks::Ctx;
use crate::clock::unix_now;
use crate::config::Config;
use crate::http::Status;
use crate::livepeer::LivepeerCli;
use crate::monitor::Monitor;
use crate::notify::{watchdog_loop, Heartbeat, Notifier};
use crate::pool::{run_probes, Pool};
use crate::proxy::Proxy;
use crate::server::{serve, wait_for_signal, Limits};
use crate::share::push::Sharer;
use crate::share::Latest;
use crate::snapshot::Board;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The longest a client may take to send a request's headers, on either port.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a client may take to send a proxied request's body (at most `rpc.request_timeout`).
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why lpwatch could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind { addr: SocketAddr, what: &'static str, source: std::io::Error },
    #[error("{0}")]
    Setup(String),
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, what, source })
}

/// Runs lpwatch until SIGINT or SIGTERM.
pub async fn run(cfg: Config) -> Result<(), StartError> {
    let cfg = Arc::new(cfg);
    let start_time = unix_now();
    let http = bind(cfg.http_listen, "listen.http").await?;
    let rpc = match cfg.rpc_listen {
        Some(a) => Some(bind(a, "listen.rpc").await?),
        None => None,
    };
    let cli = LivepeerCli::new(cfg.livepeer.cli_url.clone()).map_err(StartError::Setup)?;
    let pool = if cfg.on_chain() { Some(Arc::new(Pool::new(&cfg).map_err(StartError::Setup)?)) } else { None };
    let board = Arc::new(Board::default());
    let heartbeat = Arc::new(Heartbeat::default());
    let notifier = Arc::new(Notifier::from_env());

    if let Some(pool) = &pool {
        // Learn every upstream's health before the first proxied request and check pass.
        let first = tokio::time::timeout(cfg.rpc.probe_timeout * 2, pool.probe_all());
        let _ = first.await;
        tokio::spawn(run_probes(pool.clone(), cfg.rpc.probe_interval));
        if let Some(listener) = rpc {
            let limits = Limits {
                max_connections: cfg.rpc.max_concurrent * 4,
                header_timeout: HEADER_TIMEOUT,
                body_timeout: BODY_TIMEOUT.min(cfg.rpc.request_timeout),
                max_body: cfg.rpc.max_request_bytes,
            };
            tokio::spawn(serve(listener, limits, Proxy::new(pool.clone(), &cfg.rpc)));
            tracing::info!("JSON-RPC proxy on http://{}", cfg.rpc_listen.map_or(String::new(), |a| a.to_string()));
        }
    }

    let latest = Arc::new(Latest::default());
    let share = cfg.share.is_some().then(|| latest.clone());
    let status =
        Status { cfg: cfg.clone(), board: board.clone(), pool: pool.clone(), cli: cli.clone(), start_time, share };
    let limits =
        Limits { max_connections: 64, header_timeout: HEADER_TIMEOUT, body_timeout: HEADER_TIMEOUT, max_body: 4096 };
    tokio::spawn(serve(http, limits, status));
    tracing::info!("status on http://{}/healthz and /metrics", cfg.http_listen);

    if let Some(sharer) = Sharer::new(cfg.clone(), latest).map_err(|e| StartError::Setup(e.to_string()))? {
        tokio::spawn(sharer.run(cli.clone()));
    }
    let monitor = Monitor::new(Ctx { cfg: cfg.clone(), pool: pool.clone(), cli }, board.clone(), heartbeat.clone());
    let max_silence = cfg.checks.interval + monitor.check_bound() * 2 + Duration::from_secs(5);
    tokio::spawn(monitor.run());
    tokio::spawn(watchdog_loop(notifier.clone(), heartbeat, max_silence));
    notifier.send("READY=1\nSTATUS=serving /healthz and /metrics");

    wait_for_signal().await;
    notifier.send("STOPPING=1");
    tracing::info!("stopping");
    Ok(())
}
