//! End to end against a real `geth --dev`, stub Livepeer contracts deployed by the test and the
//! livepeer stand-in: a missed reward flips `/healthz` and `lpwatch_reward_rounds_behind`,
//! stopping geth makes the head stale within the configured window, draining the account flips
//! the balance check, and stopping livepeer flips the livepeer check.

mod common;

use common::{evm, metric, rpc, start_standin, Geth, Lpwatch, DEV};
use serde_json::json;
use std::time::{Duration, Instant};

const MAX_HEAD_AGE_S: u64 = 4;

/// balance (hex, up to 256 bits) minus `sub` (u128), as hex.
fn hex_sub(balance_hex: &str, sub: u128) -> String {
    let h = balance_hex.trim_start_matches("0x");
    let h = format!("{h:0>64}");
    let hi = u128::from_str_radix(&h[..32], 16).expect("hex");
    let lo = u128::from_str_radix(&h[32..], 16).expect("hex");
    let (lo2, borrow) = lo.overflowing_sub(sub);
    let hi2 = hi - u128::from(borrow);
    if hi2 == 0 {
        format!("0x{lo2:x}")
    } else {
        format!("0x{hi2:x}{lo2:032x}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reward_balance_head_and_livepeer_checks_follow_the_chain() {
    let client = reqwest::Client::new();
    let geth = Geth::start(1).await;
    let rounds = geth.deploy(&client, &evm::init_code()).await;
    let bonding = geth.deploy(&client, &evm::init_code()).await;
    let set = |to: &str, data: String| json!({"from": DEV, "to": to, "data": data, "gas": "0x30000"});
    geth.transact(&client, set(&rounds, evm::set_round(100))).await;
    geth.transact(&client, set(&bonding, evm::set_reward(DEV, 100))).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let (mut livepeer, cli_url, _) = start_standin(dir.path(), "offchain");

    let config = format!(
        r#"
network = "devnet"
chain_id = 1337

[livepeer]
cli_url = "{cli_url}"
orchestrator_address = "{DEV}"

[contracts]
rounds_manager = "{rounds}"
bonding_manager = "{bonding}"

[[rpc.upstream]]
name = "geth"
url = "{geth_url}"

[rpc]
probe_interval = "300ms"
probe_timeout = "1s"

[checks]
interval = "300ms"
timeout = "1s"
reward_grace = "0s"
min_eth_balance = "1"
max_head_age = "{MAX_HEAD_AGE_S}s"
"#,
        geth_url = geth.url
    );
    let w = Lpwatch::start(&config, false, &[]).await;

    // Everything healthy: reward called for round 100.
    let (code, body) = w.wait_healthy(&client, Duration::from_secs(30)).await;
    assert_eq!(code, 200);
    assert_eq!(body["reward"]["current_round"], json!(100));
    assert_eq!(body["reward"]["source"], json!("chain"));
    let m = w.metrics(&client).await;
    assert_eq!(metric(&m, "lpwatch_reward_rounds_behind"), Some(0.0), "{m}");
    assert_eq!(metric(&m, "lpwatch_current_round"), Some(100.0));
    assert_eq!(metric(&m, "lpwatch_livepeer_up"), Some(1.0));
    assert_eq!(metric(&m, "lpwatch_healthy"), Some(1.0));
    assert_eq!(metric(&m, "lpwatch_livepeer_metrics_relay_ok"), Some(1.0), "{m}");
    assert!(m.lines().any(|l| l.starts_with("livepeer_")), "livepeer's metrics relayed:\n{m}");

    // The round advances, reward() is not called: /healthz flips, the gauge says 1 behind.
    geth.transact(&client, set(&rounds, evm::set_round(101))).await;
    let (code, body) = w.wait_check(&client, "reward", "failing", Duration::from_secs(10)).await;
    assert_eq!(code, 503);
    assert!(body["checks"]["reward"]["reason"].as_str().unwrap_or("").contains("round 101"), "{body:#}");
    let m = w.metrics(&client).await;
    assert_eq!(metric(&m, "lpwatch_reward_rounds_behind"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "lpwatch_last_reward_round"), Some(100.0));
    assert_eq!(metric(&m, "lpwatch_healthy"), Some(0.0));
    assert_eq!(metric(&m, r#"lpwatch_check_status{check="reward"}"#), Some(2.0));

    // reward() called: healthy again.
    geth.transact(&client, set(&bonding, evm::set_reward(DEV, 101))).await;
    let (code, _) = w.wait_check(&client, "reward", "ok", Duration::from_secs(10)).await;
    assert!(code == 200 || code == 503);
    let m = w.metrics(&client).await;
    assert_eq!(metric(&m, "lpwatch_reward_rounds_behind"), Some(0.0), "{m}");

    // geth stops (SIGSTOP: it hangs, the harder case): the head goes stale within the window.
    w.wait_check(&client, "chain_head", "ok", Duration::from_secs(10)).await;
    geth.proc.signal("STOP");
    let stopped = Instant::now();
    // Window: max age + (up to) one block period + one pass + the call timeout + slack.
    let window = Duration::from_secs(MAX_HEAD_AGE_S + 1) + Duration::from_millis(300 + 1000) + Duration::from_secs(2);
    let (code, body) = w.wait_check(&client, "chain_head", "failing", window).await;
    let took = stopped.elapsed();
    // Block timestamps are whole seconds and a block is up to one period old when geth stops.
    assert!(took >= Duration::from_secs(MAX_HEAD_AGE_S - 2), "stale too early ({took:?}): {body:#}");
    assert_eq!(code, 503);
    let m = w.metrics(&client).await;
    let age = metric(&m, "lpwatch_chain_head_age_seconds").expect("head age gauge");
    assert!(age > MAX_HEAD_AGE_S as f64, "head age {age} not above {MAX_HEAD_AGE_S}: {m}");
    assert_eq!(metric(&m, "lpwatch_chain_head_max_age_seconds"), Some(MAX_HEAD_AGE_S as f64));
    geth.proc.signal("CONT");
    w.wait_check(&client, "chain_head", "ok", Duration::from_secs(15)).await;

    // Drain the account below checks.min_eth_balance (1 ETH), leaving 0.5 ETH (plus unused gas).
    w.wait_check(&client, "eth_balance", "ok", Duration::from_secs(10)).await;
    let balance = rpc(&client, &geth.url, "eth_getBalance", json!([DEV, "latest"])).await;
    let gas_price_hex = rpc(&client, &geth.url, "eth_gasPrice", json!([])).await;
    let gas_price =
        u128::from_str_radix(gas_price_hex.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap_or(1) * 2;
    let keep: u128 = 500_000_000_000_000_000;
    let value = hex_sub(balance.as_str().expect("balance"), keep + 21_000 * gas_price);
    let receipt = geth
        .transact(
            &client,
            json!({"from": DEV, "to": "0x000000000000000000000000000000000000dEaD", "value": value,
                   "gas": "0x5208", "gasPrice": format!("0x{gas_price:x}")}),
        )
        .await;
    assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
    let (code, body) = w.wait_check(&client, "eth_balance", "failing", Duration::from_secs(10)).await;
    assert_eq!(code, 503);
    assert!(body["checks"]["eth_balance"]["reason"].as_str().unwrap_or("").contains("0.5"), "{body:#}");
    let m = w.metrics(&client).await;
    let eth = metric(&m, "lpwatch_eth_balance_eth").expect("balance gauge");
    // 0.5 ETH plus whatever part of the gas allowance was not charged.
    assert!((0.5..0.51).contains(&eth), "balance {eth}");
    assert_eq!(metric(&m, "lpwatch_eth_balance_min_eth"), Some(1.0));

    // livepeer stops: the livepeer check fails.
    livepeer.kill();
    let (_, body) = w.wait_check(&client, "livepeer", "failing", Duration::from_secs(10)).await;
    assert!(body["checks"]["livepeer"]["reason"].as_str().unwrap_or("").contains("down"));
    let m = w.metrics(&client).await;
    assert_eq!(metric(&m, "lpwatch_livepeer_up"), Some(0.0));
    assert_eq!(metric(&m, "lpwatch_livepeer_metrics_relay_ok"), Some(0.0));
    assert!(w.log().contains("livepeer"), "state change logged");
}
