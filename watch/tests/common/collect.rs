//! A running collector (`lpshare-collector`'s library, in the test's process) in front of a real
//! Prometheus and a real `geth --dev` with the stub Livepeer contracts; signed pushes made by hand,
//! and orchestrators joining the stub's transcoder pool or retired on it. The collector reads the
//! active set in the background: [`Collect::join`] and [`Collect::retire`] return once it has
//! read the change.

use super::prometheus::start_prometheus;
use super::{evm, free_port, rpc, wait_for, within, Geth, Proc, DEV};
use lpshare::proof::{delegation_text, Delegation, Reporter};
use lpshare::remote_write;
use serde_json::json;
use std::time::Duration;

/// A running collector and the chain and Prometheus behind it.
pub struct Collect {
    pub url: String,
    pub prometheus: Proc,
    pub prom_port: u16,
    pub geth: Geth,
    pub bonding: String,
    _dir: tempfile::TempDir,
}

impl Collect {
    /// Starts it all; the collector reads the active set again every `refresh`.
    pub async fn start(refresh: &str) -> Collect {
        Collect::start_with(refresh, &[], "").await
    }

    /// Starts it all with the accounts `pool` (0x addresses) in the transcoder pool before the
    /// collector first reads it, and the config lines `more`; returns once the collector has read
    /// the active set.
    pub async fn start_with(refresh: &str, pool: &[String], more: &str) -> Collect {
        let client = reqwest::Client::new();
        let geth = Geth::start(1).await;
        let rounds = geth.deploy(&client, &evm::init_code()).await;
        let bonding = geth.deploy(&client, &evm::init_code()).await;
        geth.transact(&client, json!({"from": DEV, "to": rounds, "data": evm::set_round(5), "gas": "0x30000"})).await;
        add_to_pool(&geth, &bonding, pool).await;
        let dir = tempfile::tempdir().unwrap();
        let prom_port = free_port();
        let prometheus = start_prometheus(dir.path(), prom_port, &[]);
        let port = free_port();
        let config = dir.path().join("collect.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\nforward = \"http://127.0.0.1:{prom_port}/api/v1/write\"\n\
                 chain_id = 1337\nrpc_url = \"{}\"\nrounds_manager = \"{rounds}\"\nbonding_manager = \"{bonding}\"\n\
                 window = \"1m\"\nmax_body_bytes = 65536\nrefresh = \"{refresh}\"\npublish_every = \"1s\"\n{more}",
                geth.url
            ),
        )
        .unwrap();
        lpshare_collector::start(lpshare_collector::config::load(&config).unwrap()).await.unwrap();
        let url = format!("http://127.0.0.1:{port}");
        within(20, "the collector serving /metrics", || async {
            reqwest::get(format!("{url}/metrics")).await.ok().filter(|r| r.status().is_success())
        })
        .await;
        within(30, "Prometheus ready", || async {
            reqwest::get(format!("http://127.0.0.1:{prom_port}/-/ready")).await.ok().filter(|r| r.status().is_success())
        })
        .await;
        let c = Collect { url, prometheus, prom_port, geth, bonding, _dir: dir };
        within(20, "the collector's first read of the active set", || async {
            (c.metric("lpcollect_active_set_reads_total").await >= 1.0).then_some(())
        })
        .await;
        c
    }

    /// A series' value on the collector's `/metrics` (-1 if absent).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url)).await.unwrap().text().await.unwrap();
        super::metric(&text, series).unwrap_or(-1.0)
    }

    /// `lpcollect_chain_calls_total`: every eth_call the collector made.
    pub async fn chain_calls(&self) -> f64 {
        self.metric("lpcollect_chain_calls_total").await
    }

    /// Waits (bounded) until the collector has completed a read of the active set begun after
    /// this call: two more complete reads.
    pub async fn reread(&self) {
        let reads = self.metric("lpcollect_active_set_reads_total").await;
        within(30, "the collector reading the active set again", || async {
            (self.metric("lpcollect_active_set_reads_total").await >= reads + 2.0).then_some(())
        })
        .await;
    }

    /// Adds the orchestrator `key`'s account to the transcoder pool; returns once the collector
    /// has read it (with a short `refresh`).
    pub async fn join(&self, key: &lpbake_keystore::SecretKey) {
        self.join_all(&[address_of(key)]).await;
    }

    /// Adds the accounts (0x addresses) to the transcoder pool; returns once the collector has
    /// read them (with a short `refresh`).
    pub async fn join_all(&self, accounts: &[String]) {
        add_to_pool(&self.geth, &self.bonding, accounts).await;
        self.reread().await;
    }

    /// `lpcollect_pushes_total{result}`.
    pub async fn count(&self, result: &str) -> f64 {
        self.metric(&format!("lpcollect_pushes_total{{result=\"{result}\"}}")).await
    }

    /// Retires the orchestrator `key` on the stub BondingManager: its deactivation round (3) is
    /// before the current round (5). Returns once the collector has read the active set again.
    pub async fn retire(&self, key: &lpbake_keystore::SecretKey) {
        let data = evm::set_deactivation(&address_of(key), 3);
        self.geth
            .transact(&reqwest::Client::new(), json!({"from": DEV, "to": self.bonding, "data": data, "gas": "0x30000"}))
            .await;
        self.reread().await;
    }

    /// POSTs a body with headers; the status.
    pub async fn push(&self, body: Vec<u8>, headers: &[(&str, String)]) -> u16 {
        self.send(body, headers).await.status().as_u16()
    }

    /// POSTs a body with headers; the whole answer.
    pub async fn send(&self, body: Vec<u8>, headers: &[(&str, String)]) -> reqwest::Response {
        let mut req = reqwest::Client::new().post(format!("{}/api/v1/write", self.url)).body(body);
        for (k, v) in remote_write::HEADERS {
            req = req.header(k, v);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send().await.unwrap()
    }
}

/// The account of `key`, as 0x hex.
pub fn address_of(key: &lpbake_keystore::SecretKey) -> String {
    format!("0x{}", hex::encode(lpbake_keystore::address(key)))
}

/// Adds `accounts` to the stub BondingManager's transcoder pool: every transaction sent, then
/// every receipt awaited (one block for all of them).
async fn add_to_pool(geth: &Geth, bonding: &str, accounts: &[String]) {
    let client = reqwest::Client::new();
    let mut hashes = Vec::new();
    for account in accounts {
        let tx = json!({"from": DEV, "to": bonding, "data": evm::add_to_pool(account), "gas": "0x30000"});
        hashes.push(rpc(&client, &geth.url, "eth_sendTransaction", json!([tx])).await);
    }
    for hash in hashes {
        let receipt = wait_for("an addToPool receipt", Duration::from_secs(30), Duration::from_millis(100), || {
            let (client, hash) = (client.clone(), hash.clone());
            async move {
                let r = super::rpc_raw(&client, &geth.url, "eth_getTransactionReceipt", json!([hash])).await;
                r.get("result").filter(|r| !r.is_null()).cloned()
            }
        })
        .await;
        assert_eq!(receipt["status"], json!("0x1"), "addToPool failed: {receipt}");
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A delegation of `reporter` signed by the account `orchestrator` on the test chain.
pub fn delegated(orchestrator: &lpbake_keystore::SecretKey, reporter: &Reporter) -> Delegation {
    let account = lpwatch::abi::Address(lpbake_keystore::address(orchestrator));
    let text = delegation_text(&account, &reporter.address, 1337);
    Delegation { signature: lpbake_keystore::sign_text(orchestrator, text.as_bytes()).to_vec(), text }
}
