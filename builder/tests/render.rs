//! The rendered appliance, checked with the real tools: every unit passes
//! `systemd-analyze verify` and scores exposure <= 2.0 with `systemd-analyze security`; lpwatch
//! parses its rendered config; the firewall opens only what the node serves; `render --json` is
//! stable, sorted and free of secret values; bad appliance files are refused with file, line,
//! key and fix; `lpbake render DIR` replaces only its own output.

mod common;

use lpbake::render::{self, Item, Node};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of the repository's spec directory with `appliance.toml` edited by `edit`.
fn spec_copy(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(common::repo().join("images")).unwrap() {
        let e = e.unwrap();
        let text = std::fs::read_to_string(e.path()).unwrap();
        let text = if e.file_name() == "appliance.toml" { edit(&text) } else { text };
        std::fs::write(dir.path().join(e.file_name()), text).unwrap();
    }
    dir
}

/// `[lpwatch.share]` on, pushing to a collector, added at the end of the `[lpwatch]` table.
fn with_share(t: &str) -> String {
    let share = "[lpwatch.share]\nenable = true\nendpoint = \"https://collector.example.org/api/v1/write\"\nextras = [\"transcoders\"]\n\n";
    assert!(t.contains("[journald]"));
    t.replace("[journald]", &format!("{share}[journald]"))
}

/// A local geth beside the node, which only an offchain node accepts: geth joins Ethereum
/// mainnet, no chain an on-chain node's livepeer can use.
fn with_geth(t: &str) -> String {
    t.replace("[geth]\nenable = false", "[geth]\nenable = true")
        .replace("network = \"arbitrum-one-mainnet\"", "network = \"offchain\"")
}

fn node_of(spec: &Path) -> Node {
    render::node(&lpbake::spec::load(spec).unwrap()).unwrap()
}

/// `systemd-analyze verify` and `security` of every unit of `node`: (unit, exposure).
fn verify_and_score(node: &Node) -> Vec<(String, f64)> {
    let analyze = common::tool("systemd-analyze");
    let dir = common::unit_root(node);
    let root = dir.path().join("root");
    let units: Vec<&String> = node.services.keys().collect();
    let out =
        Command::new(&analyze).arg("verify").arg(format!("--root={}", root.display())).args(&units).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
    // The users the units name, created by sysusers.d with their fixed ids.
    let etc = root.join("etc");
    std::fs::write(etc.join("passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(etc.join("group"), "root:x:0:\n").unwrap();
    let sysusers =
        Command::new(common::tool("systemd-sysusers")).arg(format!("--root={}", root.display())).output().unwrap();
    assert!(sysusers.status.success(), "systemd-sysusers: {}", String::from_utf8_lossy(&sysusers.stderr));
    let passwd = std::fs::read_to_string(etc.join("passwd")).unwrap();
    for u in node.services.values() {
        let line = format!("{}:x:{}:{}:", u.user, u.service.user.uid, u.service.user.gid);
        assert!(passwd.contains(&line), "{line} missing from\n{passwd}");
    }
    let mut scores = Vec::new();
    for u in units {
        let out = Command::new(&analyze)
            .args(["security", "--offline=true", "--no-pager"])
            .arg(format!("--root={}", root.display()))
            .arg(u)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{u}: {text}"));
        let score: f64 = line.split(':').nth(1).and_then(|s| s.split_whitespace().next()).unwrap().parse().unwrap();
        scores.push((u.clone(), score));
    }
    scores
}

#[test]
fn the_repository_appliance_renders_the_expected_files() {
    let node = node_of(&common::repo().join("images"));
    let tree = render::files(&node).unwrap();
    let paths: Vec<&str> = tree.items.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "/etc/chrony/chrony.conf",
            "/etc/fstab",
            "/etc/lpwatch/lpwatch.toml",
            "/etc/nftables.conf",
            "/etc/security/limits.d/lpbake.conf",
            "/etc/sysctl.d/60-lpbake.conf",
            "/etc/systemd/journald.conf.d/60-lpbake.conf",
            "/etc/systemd/network/80-lpbake-dhcp.network",
            "/etc/systemd/system/livepeer.service",
            "/etc/systemd/system/lpwatch.service",
            "/etc/systemd/system/multi-user.target.wants/chrony.service",
            "/etc/systemd/system/multi-user.target.wants/livepeer.service",
            "/etc/systemd/system/multi-user.target.wants/lpwatch.service",
            "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
            "/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service",
            "/etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
            "/etc/systemd/system/sysinit.target.wants/nftables.service",
            "/usr/lib/sysusers.d/lpbake.conf",
            "/usr/share/lpwatch/lpwatch.rules.yml",
            "/var/lib/livepeer",
        ]
    );
    assert_eq!(tree.items["/var/lib/livepeer"], Item::Dir { mode: 0o755 }, "the mount point stays empty");
    let unit = tree.text("/etc/systemd/system/livepeer.service").unwrap();
    for want in [
        "User=livepeer\n",
        "Restart=always\n",
        "RestartSec=1\n",
        "LimitNOFILE=65536\n",
        "RequiresMountsFor=/var/lib/livepeer\n",
        "AssertPathIsMountPoint=/var/lib/livepeer\n",
        "StateDirectory=livepeer/data\n",
        "LoadCredential=eth-password:/var/lib/livepeer/credentials/eth-password\n",
        " -cliAddr 127.0.0.1:7935 ",
        " -ethUrl http://127.0.0.1:7937 ",
        "ExecStartPre=/usr/local/bin/lpwatch keystore-init --keystore /var/lib/livepeer/data/keystore --password-file /run/credentials/livepeer.service/eth-password\n",
        " -dataDir /var/lib/livepeer/data ",
        " -ethPassword /run/credentials/livepeer.service/eth-password ",
    ] {
        assert!(unit.contains(want), "livepeer.service lacks {want:?}:\n{unit}");
    }
    let lpwatch = tree.text("/etc/systemd/system/lpwatch.service").unwrap();
    for want in
        ["Type=notify\n", "WatchdogSec=", "LoadCredential=rpc-primary:/var/lib/livepeer/credentials/rpc-primary\n"]
    {
        assert!(lpwatch.contains(want), "lpwatch.service lacks {want:?}:\n{lpwatch}");
    }
    let fstab = tree.text("/etc/fstab").unwrap();
    assert!(fstab.contains("LABEL=lpbake-root / ext4 defaults 0 1\n"), "{fstab}");
    assert!(fstab.contains("LABEL=lp-data /var/lib/livepeer ext4 nofail,x-systemd.device-timeout=90s,"), "{fstab}");
    assert!(!fstab.contains("lp-geth"), "no geth volume while geth is off: {fstab}");
    let chrony = tree.text("/etc/chrony/chrony.conf").unwrap();
    assert!(
        chrony.contains("makestep 1 3\n")
            && chrony.contains("rtcsync\n")
            && chrony.contains("server 169.254.169.123 iburst\n")
    );
    let sysusers = tree.text("/usr/lib/sysusers.d/lpbake.conf").unwrap();
    assert!(sysusers.contains("u livepeer 935:935 ") && sysusers.contains("u lpwatch 936:936 "), "{sysusers}");
    assert!(tree.text("/etc/security/limits.d/lpbake.conf").unwrap().contains("livepeer hard nofile 65536"));
    assert!(tree.text("/etc/sysctl.d/60-lpbake.conf").unwrap().contains("net.core.rmem_max = 16777216"));
    assert!(tree.text("/etc/systemd/journald.conf.d/60-lpbake.conf").unwrap().contains("SystemMaxUse=1G"));
    assert!(tree.items.keys().all(|p| !p.contains("credentials")), "no credential file is ever in the tree");
}

#[test]
fn the_firewall_opens_only_what_the_node_serves() {
    let off = node_of(&common::repo().join("images"));
    let on = node_of(spec_copy(with_geth).path());
    for (node, geth) in [(&off, false), (&on, true)] {
        let tree = render::files(node).unwrap();
        let rules = tree.text("/etc/nftables.conf").unwrap();
        assert!(rules.contains("type filter hook input priority filter; policy drop;"), "{rules}");
        assert!(rules.contains("\t\ttcp dport 8935 accept\n"), "{rules}");
        assert!(rules.contains("tcp dport 22 ip saddr @ssh_v4 accept") && rules.contains("10.0.0.0/8"), "{rules}");
        for never in ["7935", "7936", "7937", "8545", "8551"] {
            assert!(!rules.contains(never), "{never} must never be opened:\n{rules}");
        }
        assert_eq!(rules.contains("dport 30303 accept"), geth, "{rules}");
        assert_eq!(
            tree.items.get("/etc/systemd/system/sysinit.target.wants/nftables.service"),
            Some(&Item::Symlink { target: "/usr/lib/systemd/system/nftables.service".into() })
        );
    }
    let tree = render::files(&on).unwrap();
    assert!(tree.text("/etc/fstab").unwrap().contains("LABEL=lp-geth /var/lib/geth ext4 nofail,"));
    assert!(!tree.text("/etc/lpwatch/lpwatch.toml").unwrap().contains("8545"), "offchain, geth is no upstream");
}

#[test]
fn the_ruleset_loads_in_nft() {
    let nft = common::tool("nft");
    let geth = spec_copy(with_geth);
    for spec in [common::repo().join("images"), geth.path().to_path_buf()] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nftables.conf");
        std::fs::write(&file, render::files(&node_of(&spec)).unwrap().text("/etc/nftables.conf").unwrap()).unwrap();
        let out = Command::new(&nft).arg("-c").arg("-f").arg(&file).output().unwrap();
        assert!(out.status.success(), "nft -c: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn every_unit_verifies_and_scores_at_most_2() {
    type Edit = Box<dyn Fn(&str) -> String>;
    let variants: [(&str, Edit); 6] = [
        ("offchain", Box::new(|t: &str| t.replace("network = \"arbitrum-one-mainnet\"", "network = \"offchain\""))),
        ("orchestrator-transcoder + geth", Box::new(with_geth)),
        ("orchestrator-transcoder + share", Box::new(with_share)),
        (
            "orchestrator",
            Box::new(|t: &str| t.replace("role = \"orchestrator-transcoder\"", "role = \"orchestrator\"")),
        ),
        (
            "transcoder",
            Box::new(|t: &str| {
                t.replace("role = \"orchestrator-transcoder\"", "role = \"transcoder\"")
                    .replace("price_per_unit = \"1000\"\n", "orch_addr = \"orch.example.org:8935\"\n")
                    .replace("pixels_per_unit = \"1\"\n", "")
            }),
        ),
        (
            "gateway",
            Box::new(|t: &str| {
                t.replace("role = \"orchestrator-transcoder\"", "role = \"gateway\"")
                    .replace("price_per_unit = \"1000\"\n", "orch_addr = \"orch.example.org:8935\"\n")
                    .replace("pixels_per_unit = \"1\"\n", "max_price_per_unit = \"1200\"\n")
            }),
        ),
    ];
    let mut table =
        vec![("shipped appliance.toml".to_string(), verify_and_score(&node_of(&common::repo().join("images"))))];
    for (name, edit) in variants {
        let spec = spec_copy(edit);
        table.push((name.to_string(), verify_and_score(&node_of(spec.path()))));
    }
    println!("systemd-analyze security --offline=true (exposure):");
    for (variant, scores) in &table {
        for (unit, score) in scores {
            println!("  {variant:32} {unit:18} {score:.1}");
        }
    }
    for (variant, scores) in &table {
        for (unit, score) in scores {
            assert!(*score <= 2.0, "{variant}: {unit} scores {score} > 2.0");
        }
    }
    assert!(table[2].1.iter().any(|(u, _)| u == "geth.service"));
}

#[test]
fn an_offchain_node_has_no_chain_and_no_secret() {
    let spec = spec_copy(|t| t.replace("network = \"arbitrum-one-mainnet\"", "network = \"offchain\""));
    let node = node_of(spec.path());
    let lp = &node.services["livepeer.service"];
    assert!(!lp.argv.iter().any(|a| a == "-ethUrl" || a == "-ethPassword"), "{:?}", lp.argv);
    assert!(lp.credentials.is_empty() && node.services["lpwatch.service"].credentials.is_empty());
    let text = render::files(&node).unwrap().text("/etc/lpwatch/lpwatch.toml").unwrap().to_string();
    let cfg = lpwatch::config::Config::from_toml(&text, &Default::default()).unwrap();
    assert!(!cfg.on_chain() && cfg.rpc.upstreams.is_empty());
    assert_eq!(node.services["lpwatch.service"].hardening["IPAddressDeny"], ["any"]);
}

#[test]
fn lpwatch_parses_its_rendered_config() {
    let tree = render::files(&node_of(&common::repo().join("images"))).unwrap();
    let text = tree.text("/etc/lpwatch/lpwatch.toml").unwrap();
    // The credential files systemd would provide: a stand-in with a URL in it.
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("rpc-primary"), "https://rpc.example.org/v2/KEY\n").unwrap();
    let text = text.replace("/run/credentials/lpwatch.service", creds.path().to_str().unwrap());
    let cfg = lpwatch::config::Config::from_toml(&text, &Default::default()).unwrap();
    assert_eq!(cfg.network, "arbitrum-one-mainnet");
    assert_eq!(cfg.checks.interval, std::time::Duration::from_secs(5));
    assert_eq!(cfg.http_listen.to_string(), "127.0.0.1:7936");
    assert_eq!(cfg.rpc_listen.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:7937"));
    assert!(cfg.rpc.upstreams.len() >= 2);
}

#[test]
fn sharing_keeps_lpwatchs_state_on_the_data_volume_and_opens_the_network_only_to_push() {
    let shipped = node_of(&common::repo().join("images"));
    assert!(shipped.lpwatch_config.share.is_none(), "sharing is off unless the appliance enables it");
    let spec = spec_copy(with_share);
    let node = node_of(spec.path());
    let w = &node.services["lpwatch.service"];
    assert!(w.requires_mounts.contains("/var/lib/livepeer"), "{:?}", w.requires_mounts);
    assert_eq!(w.settings["StateDirectory"], ["livepeer/lpwatch"]);
    assert_eq!(w.settings["StateDirectoryMode"], ["0700"]);
    assert_eq!(w.settings["InaccessiblePaths"], ["-/var/lib/livepeer/credentials", "-/var/lib/livepeer/data"]);
    assert_eq!(w.hardening["RestrictAddressFamilies"], ["AF_INET AF_INET6 AF_NETLINK AF_UNIX"]);
    assert_eq!(w.hardening["ProcSubset"], ["pid"], "the share reads /proc/self/net, which ProcSubset=pid keeps");
    // lpwatch reads the rendered [share] as it is.
    let text = render::files(&node).unwrap().text("/etc/lpwatch/lpwatch.toml").unwrap().to_string();
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("rpc-primary"), "https://rpc.example.org/v2/KEY\n").unwrap();
    let text = text.replace("/run/credentials/lpwatch.service", creds.path().to_str().unwrap());
    let cfg = lpwatch::config::Config::from_toml(&text, &Default::default()).unwrap();
    let share = cfg.share.expect("[share] in the rendered config");
    assert_eq!(share.mmdb, Path::new("/var/lib/livepeer/geo/GeoLite2-City.mmdb"));
    assert_eq!(share.queue_dir, Path::new("/var/lib/livepeer/lpwatch/share-queue"));
    assert_eq!(share.key_file, Path::new("/var/lib/livepeer/lpwatch/share-key"));
    assert_eq!((share.service_port, share.min_gateways, share.cell.to_string()), (8935, 3, "5deg".to_string()));
    assert_eq!(share.interval, std::time::Duration::from_secs(120));
    assert_eq!(share.extras.iter().map(|e| e.as_str()).collect::<Vec<_>>(), ["transcoders"]);
    assert_eq!(
        share.endpoint.map(|e| e.expose().to_string()).as_deref(),
        Some("https://collector.example.org/api/v1/write")
    );
    // Off chain, sharing without an endpoint keeps lpwatch on this machine only.
    let offchain = spec_copy(|t| {
        with_share(t)
            .replace("network = \"arbitrum-one-mainnet\"", "network = \"offchain\"")
            .replace("endpoint = \"https://collector.example.org/api/v1/write\"\n", "")
    });
    let node = node_of(offchain.path());
    let w = &node.services["lpwatch.service"];
    assert_eq!(w.hardening["IPAddressDeny"], ["any"]);
    assert!(node.lpwatch_config.share.as_ref().is_some_and(|s| s.endpoint.is_none()));
}

#[test]
fn render_json_is_stable_sorted_and_secret_free() {
    let json = |spec: &Path| render::json(&node_of(spec));
    let images = common::repo().join("images");
    let (a, b) = (json(&images), json(&images));
    assert_eq!(a, b, "two renders give the same bytes");
    assert!(a.ends_with("}\n"));
    let value: serde_json::Value = serde_json::from_str(&a).unwrap();
    let mut again = serde_json::to_string_pretty(&value).unwrap();
    again.push('\n');
    assert_eq!(a, again, "keys are sorted");
    let lp = &value["services"]["livepeer.service"];
    let argv: Vec<&str> = lp["argv"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(argv[0], "/usr/local/bin/livepeer");
    let after = |flag: &str| argv.iter().position(|a| *a == flag).map(|i| argv[i + 1]);
    assert_eq!(after("-cliAddr"), Some("127.0.0.1:7935"));
    assert_eq!(after("-ethPassword"), Some("/run/credentials/livepeer.service/eth-password"));
    assert_eq!(lp["limits"]["LimitNOFILE"], "65536");
    assert_eq!(lp["service"]["ports"][0]["number"], 8935);
    assert_eq!(lp["hardening"]["ProtectSystem"][0], "strict");
    for (unit, u) in value["services"].as_object().unwrap() {
        for (name, c) in u["credentials"].as_object().unwrap() {
            assert_eq!(c["path"], format!("/run/credentials/{unit}/{name}"));
            assert!(c["source"].as_str().unwrap().starts_with("/var/lib/livepeer/credentials/"));
        }
    }
    // No secret value anywhere: only names and paths (the key-less public URL is the one URL).
    assert!(!a.contains("password\": \"") && !a.contains("apikey"), "{a}");
    let cli =
        Command::new(env!("CARGO_BIN_EXE_lpbake")).args(["render", "--json", "--spec"]).arg(&images).output().unwrap();
    assert_eq!(common::ok(&cli), a, "the command prints the same bytes");
}

#[test]
fn bad_appliance_files_are_refused_with_file_line_key_and_fix() {
    for (edit, key) in [
        (("[geth]\nenable = false", "[geth]\nenable = false\nsnap = true"), "unknown field `snap`"),
        (("role = \"orchestrator-transcoder\"", "role = \"miner\""), "role: `miner` is not a role"),
        (("\"172.16.0.0/12\"", "\"172.16.0.0/40\""), "ssh.allow: `172.16.0.0/40` is not a CIDR"),
        (
            ("url = \"https://arb1.arbitrum.io/rpc\"", "url = \"https://arb1.example.org/rpc?key=0123456789abcdef\""),
            "rpc.upstream.url: the URL has a query",
        ),
    ] {
        let spec = spec_copy(|t| {
            assert!(t.contains(edit.0), "{edit:?}");
            t.replace(edit.0, edit.1)
        });
        let err = lpbake::spec::load(spec.path()).unwrap_err().to_string();
        let file = spec.path().join("appliance.toml");
        assert!(err.starts_with(&format!("{}:", file.display())), "{err}");
        assert!(err.contains(key) && err.contains("fix: "), "{key}: {err}");
        let at = err.split(':').nth(1).and_then(|l| l.parse::<usize>().ok());
        let real = spec_line(&file, edit.1);
        assert_eq!(at, Some(real), "{key}: {err}");
        assert!(!err.contains("0123456789abcdef"), "the refusal must not repeat the key: {err}");
    }
}

/// The line of `file` holding the last line of `needle`.
fn spec_line(file: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    let at = text.find(needle).unwrap() + needle.rfind('\n').map_or(0, |i| i + 1);
    text[..at].matches('\n').count() + 1
}

#[test]
fn render_dir_replaces_only_its_own_output() {
    let dir = tempfile::tempdir().unwrap();
    let images = common::repo().join("images");
    let run = |out: &PathBuf| {
        Command::new(env!("CARGO_BIN_EXE_lpbake")).args(["render", "--spec"]).arg(&images).arg(out).output().unwrap()
    };
    let out = dir.path().join("tree");
    common::ok(&run(&out));
    let mode = |p: &str| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(out.join(p)).unwrap().permissions()) & 0o7777
    };
    assert_eq!(mode("etc/systemd/system/livepeer.service"), 0o644);
    assert_eq!(mode("etc/systemd/system"), 0o755);
    common::ok(&run(&out));
    // A file lpbake did not write, anywhere inside a previous render: refused, and kept.
    for stray in ["stray", "etc/systemd/system/multi-user.target.wants/mine.service"] {
        std::fs::write(out.join(stray), "x").unwrap();
        let text = common::failed(&run(&out));
        assert!(text.contains(stray) && text.contains("did not write") && text.contains("fix:"), "{text}");
        assert_eq!(std::fs::read_to_string(out.join(stray)).unwrap(), "x");
        std::fs::remove_file(out.join(stray)).unwrap();
    }
    common::ok(&run(&out));
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("keep"), "x").unwrap();
    let text = common::failed(&run(&foreign));
    assert!(text.contains("not written by `lpbake render`") && text.contains("fix:"), "{text}");
    assert!(foreign.join("keep").exists());
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(common::failed(&run(&file)).contains("is not a directory"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn the_tree_stages_root_owned_for_the_disk() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = lpbake::store::BlobStore::create(store_dir.path()).unwrap();
    let tree = render::files(&node_of(&common::repo().join("images"))).unwrap();
    let staged = tree.to_stage(&store).unwrap();
    let unit = &staged.entries["etc/systemd/system/livepeer.service"];
    assert_eq!((unit.uid, unit.gid, unit.mode), (0, 0, 0o644));
    let lpbake::stage::Content::File { blob, .. } = &unit.content else { panic!("{unit:?}") };
    assert_eq!(store.read_small(blob).unwrap(), tree.text("/etc/systemd/system/livepeer.service").unwrap().as_bytes());
    assert!(staged.entries.values().all(|e| e.uid == 0 && e.gid == 0));
    assert!(staged.entries.keys().all(|p| !p.starts_with("var/lib/livepeer/")), "nothing under the mount point");
}

#[test]
fn livepeer_gets_only_real_flags_in_every_role() {
    let tsv = std::fs::read_to_string(common::repo().join("tests/standin/flags.tsv")).unwrap();
    let known: Vec<&str> = tsv.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('\t').next()).collect();
    assert!(known.len() > 100, "livepeer v0.9.1 has 124 flags");
    let roles = [
        ("orchestrator-transcoder", ""),
        ("orchestrator", ""),
        ("transcoder", "orch_addr = \"orch.example.org:8935\"\n"),
        ("gateway", "orch_addr = \"orch.example.org:8935\"\nmax_price_per_unit = \"1200\"\nreward = false\n"),
    ];
    for (role, extra) in roles {
        let spec = spec_copy(|t| {
            let t = t.replace("role = \"orchestrator-transcoder\"", &format!("role = \"{role}\""));
            if role.starts_with("orchestrator") {
                t
            } else {
                t.replace("price_per_unit = \"1000\"\n", extra).replace("pixels_per_unit = \"1\"\n", "")
            }
        });
        let node = node_of(spec.path());
        let argv = &node.services["livepeer.service"].argv;
        for word in argv.iter().skip(1).filter(|w| w.starts_with('-')) {
            let name = word.trim_start_matches('-').split('=').next().unwrap();
            assert!(known.contains(&name), "{role}: livepeer v0.9.1 has no flag {word}");
        }
        assert!(argv.windows(2).any(|w| w[0] == "-cliAddr" && w[1] == "127.0.0.1:7935"), "{role}: {argv:?}");
        let secret = argv.windows(2).find(|w| w[0] == "-orchSecret").map(|w| w[1].as_str());
        let wants_secret = matches!(role, "orchestrator" | "transcoder");
        assert_eq!(secret.is_some(), wants_secret, "{role}: {argv:?}");
        if let Some(path) = secret {
            assert_eq!(path, "/run/credentials/livepeer.service/orch-secret");
        }
    }
}
