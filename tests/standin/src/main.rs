//! `livepeer`: a test-only stand-in for the go-livepeer v0.9.1 node binary. It takes the same flags, binds the
//! same addresses per role and answers the same CLI API, registers standalone transcoders and accepts RTMP
//! publishers, but never transcodes. See README.md for what it does and does not mimic.

mod account;
mod addr;
mod cli_api;
mod flags;
mod http;
mod layers;
mod log;
mod metrics;
mod node;
mod rtmp;
mod service;
mod state;
mod status;
mod tls;
mod transcoder;
mod values;

use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use flags::{CliError, FlagSet};
use node::{Node, Role};
use state::State;
use status::VERSION;

fn main() {
    let mut signals = Signals::new([SIGINT, SIGTERM]).expect("install signal handlers");
    let args: Vec<String> = std::env::args().collect();
    let program = args.first().cloned().unwrap_or_else(|| "livepeer".into());
    let mut fs = FlagSet::livepeer();
    // livepeer sets its flag set's output to stdout, so parse errors and usage go there, as Go prints them.
    match fs.parse_args(&args[1..]) {
        Ok(_) => {}
        Err(CliError::Help) => {
            print!("{}", fs.usage(&program));
            std::process::exit(0);
        }
        Err(CliError::Invalid(message)) => {
            println!("{message}");
            print!("{}", fs.usage(&program));
            std::process::exit(2);
        }
    }
    if let Err(e) =
        layers::apply_env(&mut fs, |key| std::env::var(key).ok()).and_then(|()| layers::apply_config_file(&mut fs))
    {
        exit!(1, "Error parsing config: {e}");
    }
    if fs.bool("j") {
        let app = serde_json::json!({"name": "Livepeer", "friendly": "Livepeer", "version": VERSION,
            "desc": "Official implementation of the Livepeer video processing protocol. Can play all roles in the network."});
        println!("{app}");
        return;
    }
    if fs.bool("version") {
        println!("Livepeer Node Version: {VERSION}");
        println!("Golang runtime version: gc {}", status::RUNTIME_VERSION);
        println!("Architecture: {}", status::go_arch());
        println!("Operating system: {}", std::env::consts::OS);
        return;
    }

    let node = Arc::new(Node::from_flags(&fs));
    let state = Arc::new(State::default());
    start(&node, &state);
    if let Some(signal) = signals.forever().next() {
        info!("Exiting Livepeer: {}", if signal == SIGINT { "interrupt" } else { "terminated" });
        info!("Graceful shutdown complete");
    }
}

/// Binds every listener of the node's role, then serves them, the CLI last: once `/status` answers, every
/// port is up. Bind failures end the process as they end the real one: CLI and media server with exit 0
/// (the starter just returns), the orchestrator's service port with exit 2.
fn start(node: &Arc<Node>, state: &Arc<State>) {
    let cli = addr::listen(&node.cli_addr).unwrap_or_else(|e| {
        error!("{e}");
        info!("CLI webserver shut down");
        std::process::exit(0)
    });
    match node.role {
        Role::Gateway => {
            let media = |addr: &str| {
                addr::listen(addr).unwrap_or_else(|e| {
                    info!("Error from media server: {e}");
                    std::process::exit(0)
                })
            };
            let (rtmp, http) = (media(&node.rtmp_addr), media(&node.http_addr));
            rtmp::serve(rtmp, state.clone());
            http::serve(http, cli_api::gateway_media_handler(), None);
            info!("HTTP server listening on {}", node.http_addr);
            info!("***Livepeer Running in Gateway Mode***");
            info!("Video Ingest Endpoint - rtmp://{}", node.rtmp_addr);
        }
        Role::Orchestrator { local_transcoding } => {
            let listener =
                addr::listen(&node.http_addr).unwrap_or_else(|e| exit!(2, "Error starting Transcoder node: err={e:?}"));
            let mut hosts = vec!["localhost".to_string()];
            let service_host = addr::split_host_port(node.service_uri.trim_start_matches("https://")).0;
            if !service_host.is_empty() && service_host != "localhost" {
                hosts.push(service_host.to_string());
            }
            let remote = !local_transcoding;
            service::serve(listener, hosts, state.clone(), node.orch_secret.clone(), remote)
                .unwrap_or_else(|e| exit!(2, "Error starting Transcoder node: err={e:?}"));
            info!("Listening for RPC on {}", node.http_addr);
            info!("***Livepeer Running in Orchestrator Mode***");
        }
        Role::Transcoder => {
            if node.orch_secret.is_empty() {
                exit!(1, "Missing -orchSecret");
            }
            let Some(orch) = node.orch_addrs.first() else { exit!(1, "Missing -orchAddr") };
            transcoder::spawn(orch.clone(), node.orch_secret.clone(), node.max_sessions);
            info!("**Liveepeer Running in Transcoder Mode***");
        }
    }
    info!("Livepeer Node version: {VERSION}");
    info!("CLI server listening on {}", node.cli_addr);
    http::serve(cli, cli_api::handler(node.clone(), state.clone()), None);
}
