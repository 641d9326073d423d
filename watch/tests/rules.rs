//! The shipped Prometheus rules: `promtool check rules` and `promtool test rules` (a test for
//! every alert) must pass. A missing promtool fails the test with the command that installs it.

use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let out = Command::new("promtool").args(args).current_dir(&dir).output().unwrap_or_else(|e| {
        panic!("cannot run promtool ({e}): install it with `apt-get install prometheus` (or run `make deps`)")
    });
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn rules_are_valid() {
    let text = promtool(&["check", "rules", "lpwatch.rules.yml"]);
    assert!(text.contains("SUCCESS: 6 rules found"), "{text}");
}

#[test]
fn every_alert_has_a_passing_unit_test() {
    let rules = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/lpwatch.rules.yml"))
        .expect("rules file");
    let tests = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/lpwatch.rules.test.yml"))
        .expect("rules test file");
    let alerts: Vec<&str> = rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).collect();
    for want in
        ["LivepeerDown", "RewardNotCalled", "EthBalanceLow", "ChainHeadStale", "AllRpcUpstreamsDown", "RestartLoop"]
    {
        assert!(alerts.contains(&want), "alert {want} missing from the rules");
    }
    for a in &alerts {
        let fires = tests
            .split("alertname: ")
            .skip(1)
            .filter(|chunk| chunk.starts_with(a) && chunk.contains("exp_labels"))
            .count();
        assert!(fires > 0, "no promtool test expects {a} to fire");
    }
    let text = promtool(&["test", "rules", "lpwatch.rules.test.yml"]);
    assert!(text.contains("SUCCESS"), "{text}");
}
