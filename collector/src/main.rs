//! The `lpshare-collector` binary: parse the arguments, read the config, run until SIGINT or
//! SIGTERM. Every failure is one message on stderr and exit code 2.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Collects signed shares of Livepeer network metrics in front of a Prometheus remote-write
/// receiver, and publishes only aggregates that reveal no one.
///
/// Checks every push: at most max_body_bytes, signed by a reporting key that an orchestrator's
/// account delegated for this chain, a timestamp within the window, the orchestrator in the
/// active set read from the chain each round (no chain call per push), within the rate limits,
/// not seen before, and only the series, labels and values a share holds. Accepted samples are
/// forwarded with an orchestrator label; refusals get their own status (401, 403, 409, 413, 422,
/// 400; 429 over a rate limit and 503 while the chain or Prometheus cannot be reached, so the
/// node tries again; behind a local TLS proxy the source is its last X-Forwarded-For) and are
/// counted in lpcollect_pushes_total{result} on GET /metrics. It also serves the public map
/// (GET /, GET /api/cells, computed at most once a minute: cells, regions and the world, each
/// from at least 3 orchestrators with none dominant, and no suppressed number derivable by
/// subtraction) and, to orchestrators who
/// sign in with their account (GET /api/challenge, POST /api/session), their own raw series
/// (GET /api/raw). The config file:
///
///   listen = "127.0.0.1:9201"
///   forward = "http://127.0.0.1:9090/api/v1/write"
///   query = "http://127.0.0.1:9090"      # its HTTP API [default: forward's origin]
///   network = "arbitrum-one-mainnet"     # or chain_id, rounds_manager, bonding_manager
///   rpc_url_file = "/run/credentials/lpshare-collector/rpc"   # or rpc_url
///   window = "5m"                        # push timestamps this close to the clock
///   max_body_bytes = 262144
///   refresh = "10m"                      # the active set is read again (and on a new round)
///   max_pushes_per_source = { burst = 60, per_second = 10 }   # per IPv4 address or IPv6 /64
///   max_pushes_per_account = { burst = 10, per_second = 1 }
#[derive(Debug, Parser)]
#[command(name = "lpshare-collector", version, verbatim_doc_comment)]
struct Args {
    /// The collector's TOML config file.
    #[arg(value_name = "FILE")]
    config: PathBuf,

    /// Log filter, e.g. info or lpshare_collector=debug.
    #[arg(long, env = "LPSHARE_COLLECTOR_LOG", default_value = "info", value_name = "FILTER")]
    log: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    let run = lpshare_collector::config::load(&args.config).and_then(|cfg| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        runtime.block_on(lpshare_collector::run(cfg))
    });
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lpshare-collector: {e}");
            ExitCode::from(2)
        }
    }
}
