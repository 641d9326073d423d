//! The check loop: every `checks.interval`, run every check concurrently (each bounded in
//! time), publish the snapshot, log state changes and beat the heartbeat the watchdog reads.

use crate::abi::Address;
use crate::checks::{balance, chain, livepeer::LivepeerCheck, reward::RewardCheck, rpc, CheckName, Ctx};
use crate::clock::unix_now;
use crate::notify::Heartbeat;
use crate::snapshot::{Board, CheckResult, Snapshot};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The loop's state between passes.
#[derive(Debug)]
pub struct Monitor {
    ctx: Ctx,
    board: Arc<Board>,
    heartbeat: Arc<Heartbeat>,
    livepeer: LivepeerCheck,
    reward: RewardCheck,
    head: chain::HeadCheck,
    orchestrator: Option<Address>,
    iteration: u64,
    last: Snapshot,
}

/// Runs `fut`, or reports the check as failing after `bound`.
async fn bounded<T: Default>(bound: Duration, fut: impl Future<Output = (CheckResult, T)>) -> (CheckResult, T) {
    tokio::time::timeout(bound, fut).await.unwrap_or_else(|_| {
        (CheckResult::failing(format!("check did not finish within {}s", bound.as_secs_f64())), T::default())
    })
}

impl Monitor {
    pub fn new(ctx: Ctx, board: Arc<Board>, heartbeat: Arc<Heartbeat>) -> Self {
        let orchestrator = ctx.cfg.livepeer.orchestrator;
        Monitor {
            ctx,
            board,
            heartbeat,
            livepeer: LivepeerCheck::default(),
            reward: RewardCheck::default(),
            head: chain::HeadCheck::default(),
            orchestrator,
            iteration: 0,
            last: Snapshot::default(),
        }
    }

    /// The longest a single check may take: two sequential reads (chain, then CLI fallback).
    pub fn check_bound(&self) -> Duration {
        self.ctx.cfg.checks.timeout * 2 + Duration::from_secs(1)
    }

    /// The orchestrator address: configured, or learnt once from the CLI's `/ethAddr`.
    async fn orchestrator(&mut self) -> Option<Address> {
        if self.orchestrator.is_none() {
            match self.ctx.cli.eth_addr(self.ctx.cfg.checks.timeout).await {
                Ok(a) => {
                    tracing::info!("orchestrator address {a} (from livepeer's /ethAddr)");
                    self.orchestrator = Some(a);
                }
                Err(e) => tracing::debug!("orchestrator address not known yet: {e}"),
            }
        }
        self.orchestrator
    }

    /// One pass over every check.
    pub async fn run_once(&mut self) -> Snapshot {
        let start = Instant::now();
        let addr = if self.ctx.cfg.on_chain() { self.orchestrator().await } else { None };
        let bound = self.check_bound();
        let t = self.ctx.cfg.checks.timeout;
        let max_age = self.ctx.cfg.checks.max_head_age;
        let Monitor { ctx, livepeer, reward, head, .. } = self;
        let ctx = &*ctx;
        let pool = ctx.pool.clone();
        let mut snap = Snapshot::default();

        let lp_fut = bounded(bound, livepeer.run(&ctx.cli, &ctx.cfg.livepeer, t));
        if let Some(pool) = pool {
            let (lp, rw, bal, hd) = tokio::join!(
                lp_fut,
                bounded(bound, reward.run(ctx, addr)),
                bounded(bound, balance::run(ctx, addr)),
                bounded(bound, head.run(&pool, max_age, t)),
            );
            let (id_verdict, chain_id) = chain::chain_id(&pool, ctx.cfg.chain_id.unwrap_or(0));
            snap.checks.insert(CheckName::Livepeer, lp.0);
            snap.livepeer = lp.1;
            snap.checks.insert(CheckName::Reward, rw.0);
            snap.reward = rw.1;
            snap.checks.insert(CheckName::EthBalance, bal.0);
            snap.balance = bal.1;
            snap.checks.insert(CheckName::ChainHead, hd.0);
            snap.chain = hd.1;
            snap.chain.chain_id = chain_id;
            snap.checks.insert(CheckName::ChainId, id_verdict);
            snap.checks.insert(CheckName::Rpc, rpc::check(&pool));
        } else {
            let lp = lp_fut.await;
            snap.checks.insert(CheckName::Livepeer, lp.0);
            snap.livepeer = lp.1;
        }
        self.iteration += 1;
        snap.iteration = self.iteration;
        snap.loop_seconds = start.elapsed().as_secs_f64();
        snap.completed_at = unix_now();
        self.log_changes(&snap);
        snap
    }

    fn log_changes(&self, snap: &Snapshot) {
        for (name, r) in &snap.checks {
            let before = self.last.checks.get(name).map(|p| p.state);
            if before != Some(r.state) {
                match r.state {
                    crate::snapshot::State::Ok => tracing::info!(check = name.as_str(), "ok: {}", r.reason),
                    s => tracing::warn!(check = name.as_str(), "{}: {}", s.as_str(), r.reason),
                }
            }
        }
    }

    /// Runs a pass now and then every `checks.interval`, forever.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.ctx.cfg.checks.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let snap = self.run_once().await;
            self.board.publish(snap.clone());
            self.last = snap;
            self.heartbeat.beat();
        }
    }
}
