//! Who is an active orchestrator: the set read from the chain in the background, never per push.
//!
//! [`Registry::watch`] reads `RoundsManager.currentRound()`, walks the BondingManager's transcoder
//! pool (`getFirstTranscoderInPool()`, then `getNextTranscoderInPool(a)` until the zero address;
//! at most [`MAX_POOL`] members, stopping at an address seen before) and keeps the members that
//! are active this round as Livepeer's `isActiveTranscoder` decides it (`getTranscoder(a)`:
//! activation round <= current round < deactivation round). It reads the set again every
//! `refresh`, and at once when it sees `currentRound` change (polled every `refresh`, at most
//! every [`ROUND_POLL`]). [`Registry::is_active`] answers from the set alone; before the first
//! read, or when the last good read is older than 3 × `refresh`, it answers `Err` (the push gets
//! 503 and the node tries again). Every `eth_call` is counted ([`Registry::chain_calls`]), so
//! that anyone can see on `/metrics` that pushes cost the chain nothing.

use super::config::CollectCfg;
use lpbake_keystore::Address;
use lpbake_net::abi;
use lpbake_net::jsonrpc::{self, data_bytes};
use lpbake_net::network::Contracts;
use lpbake_net::secret::SecretUrl;
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// The most pool members walked (the real pool holds at most 100).
pub const MAX_POOL: usize = 1000;
/// `getTranscoder` calls in flight at once during a read.
const CONCURRENT_CALLS: usize = 8;
/// The longest wait between two looks at `currentRound`.
pub const ROUND_POLL: Duration = Duration::from_secs(60);
/// The first wait before trying again after a failed read (doubled after each failure in a row).
const RETRY: Duration = Duration::from_secs(5);

/// The orchestrators active in `round`, as read at `read_at`.
#[derive(Debug)]
pub struct ActiveSet {
    pub round: u64,
    pub members: HashSet<Address>,
    pub read_at: Instant,
}

/// The contract calls, each counted.
#[derive(Clone)]
struct Chain {
    client: reqwest::Client,
    rpc: SecretUrl,
    contracts: Contracts,
    ids: Arc<AtomicU64>,
    calls: Arc<AtomicU64>,
}

impl Chain {
    async fn call(&self, to: Address, data: String) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let params = json!([{"to": to.to_string(), "data": data}, "latest"]);
        let v = jsonrpc::call(&self.client, self.rpc.expose(), id, "eth_call", params, 64 << 10, RPC_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        data_bytes(&v).map_err(|e| e.to_string())
    }

    async fn round(&self) -> Result<u64, String> {
        let data = self.call(self.contracts.rounds_manager, abi::current_round_call()).await;
        abi::decode_round(&data.map_err(|e| format!("RoundsManager.currentRound(): {e}"))?)
    }

    /// The pool's members in order: at most [`MAX_POOL`], stopping at a repeated address.
    async fn pool(&self) -> Result<Vec<Address>, String> {
        let bonding = self.contracts.bonding_manager;
        let first = self.call(bonding, abi::first_transcoder_call()).await;
        let first = first.map_err(|e| format!("BondingManager.getFirstTranscoderInPool(): {e}"))?;
        let mut at =
            abi::decode_address(&first).map_err(|e| format!("BondingManager.getFirstTranscoderInPool() {e}"))?;
        let (mut members, mut seen) = (Vec::new(), HashSet::new());
        while at != Address([0; 20]) {
            if members.len() >= MAX_POOL {
                tracing::warn!(
                    "the transcoder pool holds more than {MAX_POOL} members: only the first {MAX_POOL} are read"
                );
                break;
            }
            if !seen.insert(at) {
                tracing::warn!("the transcoder pool lists {at} twice: read up to there");
                break;
            }
            members.push(at);
            let next = self.call(bonding, abi::next_transcoder_call(&at)).await;
            let next = next.map_err(|e| format!("BondingManager.getNextTranscoderInPool({at}): {e}"))?;
            at = abi::decode_address(&next).map_err(|e| format!("BondingManager.getNextTranscoderInPool() {e}"))?;
        }
        Ok(members)
    }

    async fn transcoder(self, who: Address) -> Result<(Address, abi::TranscoderInfo), String> {
        let data = self.call(self.contracts.bonding_manager, abi::get_transcoder_call(&who)).await;
        let data = data.map_err(|e| format!("BondingManager.getTranscoder({who}): {e}"))?;
        Ok((who, abi::decode_transcoder(&data)?))
    }

    /// The whole active set, now.
    async fn read(&self) -> Result<ActiveSet, String> {
        let round = self.round().await?;
        let mut pool = self.pool().await?.into_iter();
        let mut members = HashSet::new();
        let mut calls = tokio::task::JoinSet::new();
        loop {
            while calls.len() < CONCURRENT_CALLS {
                let Some(who) = pool.next() else { break };
                calls.spawn(self.clone().transcoder(who));
            }
            let Some(done) = calls.join_next().await else { break };
            let (who, info) = done.map_err(|e| format!("a getTranscoder call failed: {e}"))??;
            if info.activation_round <= round && round < info.deactivation_round {
                members.insert(who);
            }
        }
        Ok(ActiveSet { round, members, read_at: Instant::now() })
    }
}

/// The collector's view of the chain: the active set, read in the background.
pub struct Registry {
    chain: Chain,
    refresh: Duration,
    set: RwLock<Option<Arc<ActiveSet>>>,
    reads: AtomicU64,
}

impl Registry {
    /// Reads nothing yet: [`Registry::watch`] does, once spawned.
    pub fn new(cfg: &CollectCfg) -> Result<Registry, String> {
        let client =
            lpbake_net::client::builder(crate::USER_AGENT, [cfg.rpc.expose()]).build().map_err(|e| e.to_string())?;
        let chain = Chain {
            client,
            rpc: cfg.rpc.clone(),
            contracts: cfg.contracts,
            ids: Arc::new(AtomicU64::new(1)),
            calls: Arc::new(AtomicU64::new(0)),
        };
        Ok(Registry { chain, refresh: cfg.refresh, set: RwLock::new(None), reads: AtomicU64::new(0) })
    }

    /// Whether `who` is in the active set: no chain call. `Err` while the set is not known (not
    /// read yet, or not read for 3 × `refresh`).
    pub fn is_active(&self, who: &Address) -> Result<bool, String> {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        let Some(set) = set.as_ref() else {
            return Err("the active orchestrators have not been read from the chain yet".into());
        };
        let age = set.read_at.elapsed();
        if age > 3 * self.refresh {
            return Err(format!("the active orchestrators were last read from the chain {}s ago", age.as_secs()));
        }
        Ok(set.members.contains(who))
    }

    /// The set last read, if any.
    pub fn active(&self) -> Option<Arc<ActiveSet>> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `eth_call`s made so far.
    pub fn chain_calls(&self) -> u64 {
        self.chain.calls.load(Ordering::Relaxed)
    }

    /// Successful reads of the active set so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Reads the set now and keeps it.
    pub async fn refresh(&self) -> Result<Arc<ActiveSet>, String> {
        let set = Arc::new(self.chain.read().await?);
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
        self.reads.fetch_add(1, Ordering::Relaxed);
        Ok(set)
    }

    /// Keeps the set read, forever: every `refresh`, and at once when the round changes.
    pub async fn watch(self: Arc<Self>) {
        let poll = self.refresh.min(ROUND_POLL);
        let rpc = self.chain.rpc.redacted();
        // Failed reads in a row: the next try waits RETRY, doubled each time, at most `poll`, so
        // a failing RPC is not asked for a whole pool every few seconds.
        let mut failed: u32 = 0;
        loop {
            let due = match self.active() {
                None => true,
                Some(set) if set.read_at.elapsed() >= self.refresh => true,
                Some(set) => match self.chain.round().await {
                    Ok(round) => round != set.round,
                    Err(e) => {
                        tracing::warn!("cannot read the current round from {rpc}: {e}");
                        false
                    }
                },
            };
            let mut wait = poll;
            if due {
                match self.refresh().await {
                    Ok(set) => {
                        failed = 0;
                        tracing::info!(
                            "active orchestrators read from the chain: round {}, {} members",
                            set.round,
                            set.members.len()
                        )
                    }
                    Err(e) => {
                        tracing::warn!("cannot read the active orchestrators from {rpc}: {e}");
                        wait = poll.min(RETRY.saturating_mul(1 << failed.min(16)));
                        failed += 1;
                    }
                }
            }
            tokio::time::sleep(wait).await;
        }
    }
}
