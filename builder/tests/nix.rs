//! The Nix flake and NixOS modules, checked with Debian's Nix and nixpkgs' `lib` (vendored in
//! `../shared/vendor/nixpkgs-lib`; nixpkgs itself cannot be downloaded here): every `.nix` file
//! parses; the modules, evaluated with `lib.evalModules` against the NixOS option declarations
//! of `nix/tests/options.nix`, run the same node as `lpbake render --json` in four settings
//! (orchestrator+transcoder, split orchestrator and transcoder, gateway), and a changed
//! setting on either side makes the check fail with a readable difference; the modules refuse
//! unsafe settings, and bake the same URLs as lpbake (`urls::baked`); the lock reader gives the
//! pins of the committed and the fixture lock.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// nixpkgs' `lib`, read-only beside the repository.
fn nixpkgs_lib() -> PathBuf {
    let lib = common::repo().join("../shared/vendor/nixpkgs-lib/lib");
    assert!(lib.join("default.nix").is_file(), "nixpkgs' lib is missing at {}: it comes with shared/", lib.display());
    lib.canonicalize().unwrap()
}

/// `nix-instantiate` with no daemon, no build users and no channels: evaluation only. The
/// first call evaluates `1` alone: Nix creates its state directory on its first run, and two
/// first runs at once race on it (`creating symlink ... profiles: File exists`).
fn nix_instantiate() -> Command {
    static STATE: std::sync::Once = std::sync::Once::new();
    let bare = || {
        let mut c = Command::new(common::tool("nix-instantiate"));
        c.current_dir(common::repo())
            .env("NIX_CONFIG", "build-users-group =\nexperimental-features = nix-command")
            .env_remove("NIX_PATH");
        c
    };
    STATE.call_once(|| {
        let mut c = bare();
        c.args(["--eval", "-E", "1"]);
        common::ok(&run(c));
    });
    bare()
}

fn run(mut c: Command) -> Output {
    c.output().unwrap_or_else(|e| panic!("{c:?}: {e}: run `make deps`"))
}

/// A parity setting: its NixOS configuration and its appliance file.
struct Setting {
    name: &'static str,
    appliance: &'static str,
}

const SETTINGS: &[Setting] = &[
    Setting { name: "orchestrator-transcoder", appliance: "images/appliance.toml" },
    Setting { name: "orchestrator", appliance: "nix/tests/nodes/orchestrator.toml" },
    Setting { name: "transcoder", appliance: "nix/tests/nodes/transcoder.toml" },
    Setting { name: "gateway", appliance: "nix/tests/nodes/gateway.toml" },
];

/// `lpbake render --json` of the repository's images with `appliance` (edited by `edit`) as
/// the appliance, written into `dir`; returns the JSON file.
fn render(dir: &Path, appliance: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let spec = dir.join("images");
    std::fs::create_dir_all(&spec).unwrap();
    for e in std::fs::read_dir(common::repo().join("images")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), spec.join(e.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(common::repo().join(appliance)).unwrap();
    std::fs::write(spec.join("appliance.toml"), edit(&text)).unwrap();
    let out = run({
        let mut c = Command::new(env!("CARGO_BIN_EXE_lpbake"));
        c.arg("render").arg("--json").arg("--spec").arg(&spec);
        c
    });
    let json = dir.join("render.json");
    std::fs::write(&json, common::ok(&out)).unwrap();
    json
}

/// `nix/tests/eval.nix` for setting `node` against `render`, with `extra` modules (a Nix list).
fn eval(node: &str, render: &Path, extra: &str) -> Output {
    let mut c = nix_instantiate();
    c.args(["--eval", "--strict", "--json", "nix/tests/eval.nix", "--arg", "lib"])
        .arg(format!("import {}", nixpkgs_lib().display()))
        .args(["--arg", "node"])
        .arg(common::repo().join(format!("nix/tests/nodes/{node}.nix")))
        .args(["--arg", "render"])
        .arg(render)
        .args(["--arg", "extraModules", extra]);
    run(c)
}

/// The differences and warnings of an evaluation that must succeed.
fn differences(o: &Output) -> (Vec<String>, Vec<String>) {
    let v: Value = serde_json::from_str(&common::ok(o)).unwrap();
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    (strings("differences"), strings("warnings"))
}

#[test]
fn every_nix_file_parses_and_the_flake_is_locked() {
    let root = common::repo();
    let mut files = vec![root.join("flake.nix")];
    for dir in ["nix", "modules"] {
        files.extend(
            common::files_under(&root.join(dir)).into_iter().filter(|p| p.extension().is_some_and(|e| e == "nix")),
        );
    }
    for want in ["flake.nix", "modules/livepeer.nix", "modules/lpwatch.nix", "modules/appliance.nix", "nix/ami.nix"] {
        assert!(files.contains(&root.join(want)), "{want} is missing");
    }
    for f in &files {
        let mut c = nix_instantiate();
        c.arg("--parse").arg(f);
        common::ok(&run(c));
    }
    assert!(files.len() >= 20, "only {} .nix files found", files.len());

    let lock: Value = serde_json::from_str(&std::fs::read_to_string(root.join("flake.lock")).unwrap()).unwrap();
    let n = &lock["nodes"]["nixpkgs"];
    let rev = n["locked"]["rev"].as_str().unwrap();
    assert!(rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()), "{rev}");
    assert!(n["locked"]["narHash"].as_str().unwrap().starts_with("sha256-"), "{n}");
    assert!(n["locked"]["lastModified"].as_u64().is_some(), "{n}");
    assert_eq!(n["original"]["ref"], "nixos-25.11", "flake.nix and flake.lock follow one release");
    assert_eq!(lock["nodes"]["root"]["inputs"]["nixpkgs"], "nixpkgs");
}

#[test]
fn the_modules_run_the_node_lpbake_renders() {
    let mut failures = Vec::new();
    for s in SETTINGS {
        let dir = tempfile::tempdir().unwrap();
        let json = render(dir.path(), s.appliance, str::to_string);
        let (diff, warnings) = differences(&eval(s.name, &json, "[ ]"));
        if !diff.is_empty() || !warnings.is_empty() {
            failures.push(format!("{} ({}):\n  {}\n  warnings: {warnings:?}", s.name, s.appliance, diff.join("\n  ")));
        }
        // The comparison saw the node: the services and the whole command line are in the view.
        let rendered: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert!(rendered["services"]["livepeer.service"]["argv"].as_array().unwrap().len() > 5, "{}", s.name);
    }
    assert!(failures.is_empty(), "the NixOS modules differ from `lpbake render --json`:\n{}", failures.join("\n"));
}

#[test]
fn a_changed_setting_on_either_side_fails_the_parity_check() {
    let dir = tempfile::tempdir().unwrap();
    let json = render(dir.path(), "images/appliance.toml", str::to_string);
    let node = "orchestrator-transcoder";
    // (a module changed on its own, what the difference must name)
    let module_changes = [
        (
            "({ lib, ... }: { systemd.services.livepeer.serviceConfig.LimitNOFILE = lib.mkForce 1024; })",
            r#"services."livepeer.service".service.LimitNOFILE: lpbake renders ["65536"], the modules give ["1024"]"#,
        ),
        ("{ services.livepeer.openFirewall = false; }", "firewall.tcp: lpbake renders [8935], the modules give []"),
        (
            r#"({ lib, ... }: { systemd.services.lpwatch.serviceConfig.ProtectSystem = lib.mkForce "full"; })"#,
            r#"services."lpwatch.service".service.ProtectSystem: lpbake renders ["strict"], the modules give ["full"]"#,
        ),
        (r#"{ services.livepeer.extraArgs = [ "-v" "6" ]; }"#, r#"services."livepeer.service".argv"#),
        // A list definition adds to the node's own (the same networks again change nothing): forced.
        (r#"({ lib, ... }: { lpbake.appliance.ssh.allow = lib.mkForce [ "10.0.0.0/8" ]; })"#, "firewall.ssh_allow"),
        (r#"{ lpbake.appliance.volumes.data = "other"; }"#, r#"volumes."/var/lib/livepeer".label"#),
        (r#"{ services.lpwatch.interval = "30s"; }"#, "lpwatch.checks.interval"),
        (
            r#"({ lib, ... }: { security.pam.loginLimits = lib.mkForce [ ]; })"#,
            "login_limits: lpbake renders [{\"domain\":\"livepeer\",\"item\":\"nofile\",\"type\":\"soft\",\"value\":\"65536\"}",
        ),
    ];
    for (change, expected) in module_changes {
        let (diff, _) = differences(&eval(node, &json, &format!("[ {change} ]")));
        assert!(
            diff.iter().any(|d| d.contains(expected)),
            "{change}: expected a difference with {expected:?}, got {diff:#?}"
        );
    }
    // One key of a settings section overrides that key alone: the rest of the section stays.
    let (diff, _) =
        differences(&eval(node, &json, r#"[ { services.lpwatch.settings.listen.http = "127.0.0.1:7946"; } ]"#));
    assert_eq!(diff.len(), 1, "{diff:#?}");
    assert!(diff[0].starts_with("lpwatch.listen.http: lpbake renders"), "{diff:#?}");
    // The appliance changed and the module not: the check fails the other way round too.
    let changed = render(&dir.path().join("changed"), "images/appliance.toml", |t| {
        t.replace("max_sessions = \"10\"", "max_sessions = \"11\"")
    });
    let (diff, _) = differences(&eval(node, &changed, "[ ]"));
    assert_eq!(diff.len(), 1, "{diff:#?}");
    assert!(
        diff[0].starts_with(r#"services."livepeer.service".argv: lpbake renders ["#) && diff[0].contains("\"11\""),
        "{diff:#?}"
    );
}

#[test]
fn the_modules_refuse_unsafe_settings() {
    let dir = tempfile::tempdir().unwrap();
    let json = render(dir.path(), "nix/tests/nodes/gateway.toml", str::to_string);
    let refused = [
        (r#"{ services.livepeer.cliAddr = "0.0.0.0:7935"; }"#, "services.livepeer.cliAddr = \"0.0.0.0:7935\""),
        (r#"{ services.livepeer.cliAddr = "127.0.0.1.example.org:7935"; }"#, "use a loopback address"),
        (r#"{ services.livepeer.extraArgs = [ "-orchSecret=hunter2" ]; }"#, "extraArgs sets -orchSecret=hunter2"),
        (
            r#"{ services.lpwatch.upstreams = [ { name = "keyed"; url = "https://arb.example.org/rpc?key=abc"; } ]; }"#,
            "`keyed`'s url is not one that may be baked into the store",
        ),
        (
            r#"({ lib, ... }: { services.livepeer.role = lib.mkForce "orchestrator"; })"#,
            "must set services.livepeer.pricePerUnit",
        ),
        ("{ services.lpwatch.share.enable = true; }", "a gateway has no service port"),
        (
            r#"({ lib, ... }: { services.livepeer.role = lib.mkForce "orchestrator"; services.livepeer.pricePerUnit = 1; services.lpwatch.share = { enable = true; endpoint = "https://c.example.org/w?token=abc"; }; })"#,
            "share.endpoint: the URL is not one that may be baked into the store",
        ),
        (
            r#"({ lib, ... }: { services.livepeer.role = lib.mkForce "orchestrator"; services.livepeer.pricePerUnit = 1; services.lpwatch.share = { enable = true; minGateways = 1; }; })"#,
            "must be at least 3 (the floor no configuration lowers",
        ),
    ];
    for (change, expected) in refused {
        let o = eval("gateway", &json, &format!("[ {change} ]"));
        let err = common::failed(&o);
        assert!(err.contains("Failed assertions") && err.contains(expected), "{change}: {err}");
    }
}

/// URLs that may be baked (true) or not (false), by lpbake's `urls::baked` and the modules'
/// assertions alike: real key-less endpoints, and the real shapes of hosted providers' keys.
const BAKED_URLS: [(&str, bool); 16] = [
    ("https://arb1.arbitrum.io/rpc", true),
    ("https://arbitrum-one.publicnode.com", true),
    ("https://rpc.ankr.com/arbitrum", true),
    ("https://1rpc.io/arb", true),
    ("http://127.0.0.1:8545/", true),
    ("https://collector.example.org/api/v1/write", true),
    ("https://arb-mainnet.g.alchemy.com/v2/aBcD3fGh1jKlMn0pQrStUvWxYz012345", false),
    ("https://arbitrum-mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", false),
    ("https://a-b.arbitrum-mainnet.quiknode.pro/0123456789abcdef0123456789abcdef01234567/", false),
    ("https://rpc.example.org/123e4567-e89b-12d3-a456-426614174000", false),
    ("https://rpc.example.org/arb/abcdefghijklmnopqrstuvwx", false),
    ("https://k3yk3yk3yk3yk3yk3yk3yk.rpc.example.org/", false),
    ("https://me:s3cret@rpc.example.org/", false),
    ("https://rpc.example.org/?apikey=s3cret", false),
    ("https://rpc.example.org/#s3cret", false),
    ("http://rpc.example.org/", false),
];

#[test]
fn lpbake_and_the_modules_bake_the_same_urls() {
    let dir = tempfile::tempdir().unwrap();
    let json = render(dir.path(), "nix/tests/nodes/gateway.toml", str::to_string);
    for (url, baked) in BAKED_URLS {
        assert_eq!(lpbake::urls::baked(url, "fix").is_ok(), baked, "lpbake: {url}");
        // The URL as an upstream and as the share's endpoint (of an orchestrator, which may share).
        let change = format!(
            r#"({{ lib, ... }}: {{ services.livepeer.role = lib.mkForce "orchestrator"; services.livepeer.pricePerUnit = 1; services.lpwatch.upstreams = [ {{ name = "x"; url = "{url}"; }} ]; services.lpwatch.share = {{ enable = true; endpoint = "{url}"; }}; }})"#
        );
        let o = eval("gateway", &json, &format!("[ {change} ]"));
        if baked {
            common::ok(&o);
        } else {
            let err = common::failed(&o);
            for expected in
                ["`x`'s url is not one that may be baked", "share.endpoint: the URL is not one that may be baked"]
            {
                assert!(err.contains(expected), "the modules: {url}: {expected} missing from {err}");
            }
        }
    }
}

#[test]
fn the_lock_reader_gives_the_pins_of_the_committed_and_the_fixture_lock() {
    let spec: toml::Value =
        toml::from_str(&std::fs::read_to_string(common::repo().join("images/livepeer.toml")).unwrap()).unwrap();
    let url = spec["component"]["source"]["url"].as_str().unwrap().to_string();
    let committed = common::repo().join("lpbake.lock");
    let fixture = common::fixtures().join("lpbake.lock");
    for lock in [&committed, &fixture] {
        let mut c = nix_instantiate();
        c.args(["--eval", "--strict", "--json", "nix/lock.nix", "--arg", "lock"]).arg(lock);
        let got: Value = serde_json::from_str(&common::ok(&run(c))).unwrap();
        let expected = match lpbake::lock::Lock::load(lock).unwrap().files.get(&url) {
            Some(pin) => serde_json::json!({ "url": url, "sha256": pin.sha256.hex() }),
            None => Value::Null,
        };
        assert_eq!(got, expected, "{}", lock.display());
    }
    // The fixture lock pins the stand-in's tarball: the reader found a pin, not only null twice.
    assert!(lpbake::lock::Lock::load(&fixture).unwrap().files.contains_key(&url));

    let dir = tempfile::tempdir().unwrap();
    let future = dir.path().join("lpbake.lock");
    std::fs::write(&future, "version = 2\nepoch = 0\n").unwrap();
    let mut c = nix_instantiate();
    c.args(["--eval", "--strict", "--json", "nix/lock.nix", "--arg", "lock"]).arg(&future);
    let err = common::failed(&run(c));
    assert!(err.contains(&future.display().to_string()) && err.contains("lpbake lock"), "{err}");
}
