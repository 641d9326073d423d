//! `/metrics` with `-monitor`: Prometheus text under the real names (namespace `livepeer_`, labels
//! `node_id`, `node_type`). Only what the stand-in really counts is exported; it never reports transcoding.
//! One name is the stand-in's own: `livepeer_standin_rtmp_bytes_received_total`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::node::{Node, Role};
use crate::state::State;
use crate::status::{RUNTIME_VERSION, VERSION};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition now, families sorted by name as the Go exporter sorts them.
pub fn render(node: &Node, state: &State) -> String {
    let base = format!("node_id=\"{}\",node_type=\"{}\"", escape(&node.node_id), node.metrics_type());
    let mut families: Vec<(&str, &str, &str, String, u64)> = Vec::new();
    let mut add = |name, kind, help, labels: String, value| families.push((name, kind, help, labels, value));
    let versions = format!(
        "compiler=\"gc\",goos=\"{}\",goversion=\"{RUNTIME_VERSION}\",livepeerversion=\"{VERSION}\",node_type=\"{}\"",
        std::env::consts::OS,
        node.metrics_type()
    );
    add("versions", "gauge", "Versions used by LivePeer node.", versions, 1);
    add("max_sessions_total", "gauge", "MaxSessions", base.clone(), node.max_sessions.max(0) as u64);
    let streams = state.streams();
    let sessions = if node.role == Role::Gateway { streams.len() as u64 } else { 0 };
    add("current_sessions_total", "gauge", "Number of currently transcoded streams", base.clone(), sessions);
    match node.role {
        Role::Orchestrator { local_transcoding: false } => {
            let transcoders = state.transcoders();
            let capacity: i64 = transcoders.iter().map(|t| t.capacity).sum();
            add(
                "transcoders_number",
                "gauge",
                "Number of transcoders currently connected to orchestrator",
                base.clone(),
                transcoders.len() as u64,
            );
            add(
                "transcoders_capacity",
                "gauge",
                "Total advertised capacity of transcoders currently connected to orchestrator",
                base.clone(),
                capacity.max(0) as u64,
            );
            add(
                "transcoders_load",
                "gauge",
                "Total load of transcoders currently connected to orchestrator",
                base.clone(),
                0,
            );
        }
        Role::Gateway => {
            add(
                "stream_created_total",
                "counter",
                "StreamCreated",
                base.clone(),
                state.streams_created.load(Ordering::Relaxed),
            );
            add(
                "stream_ended_total",
                "counter",
                "StreamEnded",
                base.clone(),
                state.streams_ended.load(Ordering::Relaxed),
            );
            add(
                "standin_rtmp_bytes_received_total",
                "counter",
                "RTMP bytes received by the stand-in gateway (stand-in only)",
                base.clone(),
                state.rtmp_bytes.load(Ordering::Relaxed),
            );
        }
        _ => {}
    }
    families.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (name, kind, help, labels, value) in families {
        let _ = write!(
            out,
            "# HELP livepeer_{name} {help}\n# TYPE livepeer_{name} {kind}\nlivepeer_{name}{{{labels}}} {value}\n"
        );
    }
    out
}

/// Escapes a label value for the text format.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
