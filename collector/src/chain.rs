//! Is an account an active orchestrator? Read on chain as Livepeer's `isActiveTranscoder` decides
//! it (activation round <= current round < deactivation round), through the collector's RPC,
//! and remembered for a while so that a busy collector does not call the chain for every push.

use super::config::CollectCfg;
use crate::abi::{self, Address};
use crate::jsonrpc::{self, data_bytes};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// The most accounts remembered; past it the memory starts again.
const REMEMBERED: usize = 100_000;

/// The collector's view of the chain.
pub struct Registry {
    cfg: CollectCfg,
    client: reqwest::Client,
    ids: AtomicU64,
    known: Mutex<HashMap<Address, (bool, Instant)>>,
}

impl Registry {
    pub fn new(cfg: &CollectCfg) -> Result<Registry, String> {
        let client = crate::client::builder([cfg.rpc.expose()]).build().map_err(|e| e.to_string())?;
        Ok(Registry { cfg: cfg.clone(), client, ids: AtomicU64::new(1), known: Mutex::new(HashMap::new()) })
    }

    /// Whether `who` is an active orchestrator now; `Err` when the chain cannot be read.
    pub async fn is_active(&self, who: &Address) -> Result<bool, String> {
        if let Some((active, at)) = self.known.lock().unwrap_or_else(|p| p.into_inner()).get(who) {
            if at.elapsed() < self.cfg.registered_for {
                return Ok(*active);
            }
        }
        let c = self.cfg.contracts;
        let (round, info) = tokio::join!(
            self.call(c.rounds_manager, abi::current_round_call()),
            self.call(c.bonding_manager, abi::get_transcoder_call(who))
        );
        let round = abi::decode_round(&round.map_err(|e| format!("RoundsManager.currentRound(): {e}"))?)?;
        let info = abi::decode_transcoder(&info.map_err(|e| format!("BondingManager.getTranscoder(): {e}"))?)?;
        let active = info.activation_round <= round && round < info.deactivation_round;
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= REMEMBERED {
            known.clear();
        }
        known.insert(*who, (active, Instant::now()));
        Ok(active)
    }

    async fn call(&self, to: Address, data: String) -> Result<Vec<u8>, String> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let params = json!([{"to": to.to_string(), "data": data}, "latest"]);
        let v = jsonrpc::call(&self.client, self.cfg.rpc.expose(), id, "eth_call", params, 64 << 10, RPC_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        data_bytes(&v).map_err(|e| e.to_string())
    }
}
