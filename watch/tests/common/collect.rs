//! A running `lpwatch collect` in front of a real Prometheus (with the share recording rules)
//! and a real `geth --dev` with the stub Livepeer contracts; signed pushes made by hand, and
//! orchestrators retired on the stub.

use super::prometheus::start_prometheus;
use super::{evm, free_port, within, Geth, Proc, DEV};
use lpwatch::share::proof::{delegation_text, Delegation, Reporter};
use lpwatch::share::remote_write;
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// A running `lpwatch collect` and the chain and Prometheus behind it.
pub struct Collect {
    pub url: String,
    pub proc: Proc,
    pub prometheus: Proc,
    pub prom_port: u16,
    pub geth: Geth,
    pub bonding: String,
    _dir: tempfile::TempDir,
}

impl Collect {
    /// Starts it all; the collector trusts an orchestrator's standing for `registered_for`.
    pub async fn start(registered_for: &str) -> Collect {
        let client = reqwest::Client::new();
        let geth = Geth::start(1).await;
        let rounds = geth.deploy(&client, &evm::init_code()).await;
        let bonding = geth.deploy(&client, &evm::init_code()).await;
        geth.transact(&client, json!({"from": DEV, "to": rounds, "data": evm::set_round(5), "gas": "0x30000"})).await;
        let dir = tempfile::tempdir().unwrap();
        let prom_port = free_port();
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/lpshare.rules.yml");
        let prometheus = start_prometheus(dir.path(), prom_port, &[&rules]);
        let port = free_port();
        let config = dir.path().join("collect.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\nforward = \"http://127.0.0.1:{prom_port}/api/v1/write\"\n\
                 chain_id = 1337\nrpc_url = \"{}\"\nrounds_manager = \"{rounds}\"\nbonding_manager = \"{bonding}\"\n\
                 window = \"1m\"\nmax_body_bytes = 65536\nregistered_for = \"{registered_for}\"\n",
                geth.url
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_lpwatch"))
            .arg("collect")
            .arg(&config)
            .stderr(std::fs::File::create(dir.path().join("collect.log")).unwrap())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        within(20, "the collector serving /metrics", || async {
            reqwest::get(format!("{url}/metrics")).await.ok().filter(|r| r.status().is_success())
        })
        .await;
        within(30, "Prometheus ready", || async {
            reqwest::get(format!("http://127.0.0.1:{prom_port}/-/ready")).await.ok().filter(|r| r.status().is_success())
        })
        .await;
        Collect { url, proc: Proc::new(child, "lpwatch collect"), prometheus, prom_port, geth, bonding, _dir: dir }
    }

    /// `lpcollect_pushes_total{result}`.
    pub async fn count(&self, result: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url)).await.unwrap().text().await.unwrap();
        super::metric(&text, &format!("lpcollect_pushes_total{{result=\"{result}\"}}")).unwrap_or(-1.0)
    }

    /// Retires the orchestrator `key` on the stub BondingManager: its deactivation round (3) is
    /// before the current round (5).
    pub async fn retire(&self, key: &lpbake_keystore::SecretKey) {
        let address = format!("0x{}", hex::encode(lpbake_keystore::address(key)));
        let data = evm::set_deactivation(&address, 3);
        self.geth
            .transact(&reqwest::Client::new(), json!({"from": DEV, "to": self.bonding, "data": data, "gas": "0x30000"}))
            .await;
    }

    /// POSTs a body with headers; the status.
    pub async fn push(&self, body: Vec<u8>, headers: &[(&str, String)]) -> u16 {
        let mut req = reqwest::Client::new().post(format!("{}/api/v1/write", self.url)).body(body);
        for (k, v) in remote_write::HEADERS {
            req = req.header(k, v);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send().await.unwrap().status().as_u16()
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
