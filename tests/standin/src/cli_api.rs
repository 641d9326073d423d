//! The CLI HTTP API on the CLI port, answering as go-livepeer's `cliWebServerHandlers` does. On a network
//! other than `offchain`, `/ethAddr` gives the node's account and `/signMessage` signs with its key; every
//! other chain endpoint answers as with no Ethereum client (off-chain): `500 missing ETH client`.

use std::sync::Arc;

use crate::http::{self, Request, Response};
use crate::metrics;
use crate::node::{Node, Role};
use crate::state::State;
use crate::status::NodeStatus;

/// Endpoints that need the Ethereum client (`mustHaveClient`).
const CHAIN_ENDPOINTS: &[&str] = &[
    "/orchestratorInfo",
    "/currentRound",
    "/roundInitialized",
    "/ethAddr",
    "/ethBalance",
    "/tokenBalance",
    "/contractAddresses",
    "/delegatorInfo",
    "/registeredOrchestrators",
    "/orchestratorEarningPoolsForRound",
    "/protocolParameters",
    "/rewardCaller",
    "/maxGasPrice",
    "/minGasPrice",
    "/senderInfo",
    "/ticketBrokerParams",
    "/signMessage",
];

/// The handler for the CLI port.
pub fn handler(node: Arc<Node>, state: Arc<State>) -> http::Handler {
    Arc::new(move |req: &Request| route(req, &node, &state))
}

fn route(req: &Request, node: &Node, state: &State) -> Response {
    let path = req.path.as_str();
    match path {
        "/status" => Response::json(&NodeStatus::now(node, state)),
        "/metrics" if node.monitor => {
            Response { content_type: Some(metrics::CONTENT_TYPE), ..Response::text(metrics::render(node, state)) }
        }
        "/IsOrchestrator" => Response::text(matches!(node.role, Role::Orchestrator { .. }).to_string()),
        "/IsRedeemer" => Response::text("false"),
        "/EthChainID" => Response::text("0"),
        "/manifestID" => Response::text(state.last_manifest()),
        "/localStreams" => Response::json(&Vec::<()>::new()),
        "/getLogLevel" => Response::text(node.log_level.clone()),
        "/getBroadcastConfig" => Response::json(&serde_json::json!({
            "MaxPrice": null,
            "TranscodingOptions": node.transcoding_options,
        })),
        "/ethAddr" if node.eth_addr.is_some() => Response::text(node.eth_addr.clone().unwrap_or_default()),
        "/signMessage" if node.eth_key.is_some() => sign_message(req, node),
        _ if CHAIN_ENDPOINTS.contains(&path) => {
            crate::error!("HTTP Response Error statusCode=500 err=missing ETH client");
            Response::error(500, "missing ETH client")
        }
        _ => Response::not_found(),
    }
}

/// `/signMessage`: the form's `message` signed as EIP-191 text, the 65 raw bytes as the body. The
/// `SigFormat: data/typed` variant (EIP-712) is not in the stand-in: it answers 400.
fn sign_message(req: &Request, node: &Node) -> Response {
    match req.header("SigFormat").unwrap_or("text/plain") {
        "text/plain" => {}
        other => return Response::error(400, &format!("the livepeer stand-in signs only text/plain, not {other}")),
    }
    let message = req.form_value("message").unwrap_or_default();
    let key = node.eth_key.as_ref().expect("routed only with a key");
    Response::text(lpbake_keystore::sign_text(key, message.as_bytes()).to_vec())
}

/// The gateway's HTTP (ingest/playback) port: the stand-in serves only `/healthz`, which always answers 200.
pub fn gateway_media_handler() -> http::Handler {
    Arc::new(|req: &Request| match req.path.as_str() {
        "/healthz" => Response::text(Vec::new()),
        _ => Response::not_found(),
    })
}
