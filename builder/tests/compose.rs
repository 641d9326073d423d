//! The compose testnet, end to end with the real parts: the committed compose.yaml (and its
//! arbitrum profile and config files) are what `lpbake render --compose` gives; images built
//! from the offline fixtures and loaded; `docker compose up --wait` reaches every service
//! healthy; Prometheus has every target up; the ffmpeg source streams into the gateway; the
//! standalone transcoder is attached; a killed orchestrator process is restarted and LivepeerDown
//! reaches the webhook receiver through Alertmanager, then resolves; nothing new listens off
//! loopback; `down -v` leaves nothing behind.

mod common;

use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Published ports bind here: loopback, and not the 127.0.0.1 a developer's `make up` uses.
const BIND: &str = "127.0.0.2";

#[test]
fn committed_compose_files_are_what_render_gives() {
    let spec = lpbake::spec::load(&common::repo().join("images")).unwrap();
    let files = lpbake::render::compose::render(&spec).unwrap();
    assert!(files.contains_key("compose.yaml") && files.contains_key("compose.arbitrum.yaml"), "{:?}", files.keys());
    for (name, text) in &files {
        let committed = std::fs::read_to_string(common::repo().join(name)).unwrap_or_default();
        if &committed != text {
            let line = committed.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "{name} is stale at line {}:\n  committed: {:?}\n  rendered:  {:?}\nfix: `lpbake render --compose .` and commit",
                line + 1,
                committed.lines().nth(line),
                text.lines().nth(line)
            );
        }
    }
    // No secret, and the CLI port is never published.
    let compose = &files["compose.yaml"];
    assert!(!compose.contains(":7935:") && !compose.contains("7935:7935"), "the CLI port is published");
    assert!(compose.contains("file: ./testnet/secrets/orch-secret"), "orch-secret is not a compose secret");
}

#[test]
fn a_sharing_orchestrator_shares_in_the_arbitrum_profile_with_its_state_on_the_watch_volume() {
    // The spec with [lpwatch.share] on, rendered into a project directory.
    let spec_dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(common::repo().join("images")).unwrap() {
        let e = e.unwrap();
        let mut text = std::fs::read_to_string(e.path()).unwrap();
        if e.file_name() == "appliance.toml" {
            let share = "[lpwatch.share]\nenable = true\nendpoint = \"https://collector.example.org/api/v1/write\"\n\n";
            text = text.replace("[journald]", &format!("{share}[journald]"));
        }
        std::fs::write(spec_dir.path().join(e.file_name()), text).unwrap();
    }
    let files = lpbake::render::compose::render(&lpbake::spec::load(spec_dir.path()).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in &files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    // The testnet's own nodes do not share; the appliance's orchestrator does, keeping its queue
    // and reporting key on its watch's volume.
    assert!(files.iter().filter(|(n, _)| !n.contains("arbitrum")).all(|(_, t)| !t.contains("[share]")));
    let arb_cfg = &files["compose/orchestrator-lpwatch-arbitrum.toml"];
    for want in [
        "[share]",
        "key_file = \"/var/lib/lpwatch/share-key\"",
        "queue_dir = \"/var/lib/lpwatch/share-queue\"",
        "mmdb = \"/var/lib/livepeer/geo/GeoLite2-City.mmdb\"",
        "endpoint = \"https://collector.example.org/api/v1/write\"",
    ] {
        assert!(arb_cfg.contains(want), "{want} missing:\n{arb_cfg}");
    }
    let config = |mmdb: Option<&str>| {
        let mut c = Command::new("docker");
        c.args(["compose", "-p", "lpbake-share-config", "-f", "compose.yaml", "-f", "compose.arbitrum.yaml", "config"])
            .current_dir(dir.path())
            .env("LPBAKE_KEYSTORE", dir.path())
            .env_remove("LPBAKE_GEO_MMDB");
        if let Some(m) = mmdb {
            c.env("LPBAKE_GEO_MMDB", m);
        }
        c.output().expect("docker compose: run `make deps`")
    };
    assert!(common::failed(&config(None)).contains("LPBAKE_GEO_MMDB"), "the profile names its geo database variable");
    let merged = common::ok(&config(Some("/srv/geo/City.mmdb")));
    let watch = merged.split("\n  orchestrator-watch:\n").nth(1).expect("orchestrator-watch in the merged project");
    let watch = &watch[..watch.find("\n  orchestrator:").unwrap_or(watch.len())];
    for want in ["source: /srv/geo/City.mmdb", "target: /var/lib/livepeer/geo/GeoLite2-City.mmdb", "read_only: true"] {
        assert!(watch.contains(want), "{want} missing from orchestrator-watch:\n{watch}");
    }
    assert!(watch.contains("source: orchestrator-watch-data") && watch.contains("target: /var/lib/lpwatch"), "{watch}");
}

/// The open-file limit `make up` passes to compose (scripts/nofile.sh against the real engine),
/// with its refusals checked.
fn make_up_nofile() -> u64 {
    let script = |value: Option<String>| {
        let mut c = Command::new("bash");
        c.arg(common::repo().join("scripts/nofile.sh")).env_remove("LPBAKE_NOFILE").env_remove("IMAGE");
        if let Some(v) = value {
            c.env("LPBAKE_NOFILE", v);
        }
        c.output().unwrap()
    };
    let o = script(None);
    let text = common::ok(&o);
    let nofile: u64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or_else(|_| panic!("{text}"));
    assert!((1024..=65536).contains(&nofile), "{text}");
    if nofile < 65536 {
        assert!(text.contains("warning:") && text.contains("LimitNOFILE="), "no warning for {nofile}: {text}");
        let refused = common::failed(&script(Some((nofile + 1).to_string())));
        assert!(refused.contains(&format!("at most {nofile}")) && refused.contains("fix:"), "{refused}");
    }
    assert!(common::failed(&script(Some("lots".into()))).contains("not a number"));
    assert_eq!(String::from_utf8_lossy(&script(Some("1024".into())).stdout).trim(), "1024");
    nofile
}

struct Project {
    dir: tempfile::TempDir,
    name: String,
    nofile: u64,
}

impl Project {
    fn compose(&self, files: &[&str], args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.arg("compose").arg("-p").arg(&self.name);
        for f in files {
            c.arg("-f").arg(f);
        }
        c.args(args)
            .current_dir(self.dir.path())
            .env("LPBAKE_BIND", BIND)
            .env("LPBAKE_NOFILE", self.nofile.to_string())
            .env_remove("LPBAKE_KEYSTORE");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.compose(&["compose.yaml", "compose.test.yaml"], args).output().unwrap()
    }

    fn container(&self, service: &str) -> String {
        format!("{}-{service}-1", self.name)
    }

    fn exec(&self, service: &str, argv: &[&str]) -> String {
        let o = Command::new("docker").arg("exec").arg(self.container(service)).args(argv).output().unwrap();
        common::ok(&o);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--timeout", "5"]);
    }
}

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// GET `url` on loopback: (HTTP status, body).
fn get(url: &str) -> (u16, String) {
    let o = Command::new("curl").args(["-s", "--max-time", "5", "-w", "\n%{http_code}", url]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Polls `f` every 500 ms until it gives Some, for at most `secs`.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// TCP sockets listening on this host (its network namespace) on a non-loopback address.
fn public_listeners() -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 || f[3] != "0A" {
                continue;
            }
            let (addr, port) = f[1].split_once(':').unwrap();
            let loopback = if v6 {
                addr == "00000000000000000000000001000000"
                    || addr.starts_with("0000000000000000FFFF00000") && addr.ends_with("7F")
            } else {
                addr.ends_with("7F")
            };
            if !loopback {
                out.insert(format!("{addr}:{}", u16::from_str_radix(port, 16).unwrap()));
            }
        }
    }
    out
}

/// The alerts named `name` with `status` the sink has received.
fn sink_has(name: &str, status: &str) -> bool {
    let (code, body) = get(&format!("http://{BIND}:9095/received"));
    if code != 200 {
        return false;
    }
    let messages: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
    messages
        .iter()
        .flat_map(|m| m["alerts"].as_array().cloned().unwrap_or_default())
        .any(|a| a["labels"]["alertname"] == name && a["labels"]["instance"] == "orchestrator" && a["status"] == status)
}

#[test]
fn testnet_comes_up_watched_alerts_and_goes_away() {
    let repo = common::repo();
    let f = common::fixtures();
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    common::ok(&common::build_offline_with(cache.path(), &out.path().join("out"), &["--load"]));
    let mirror: Vec<std::ffi::OsString> =
        vec!["--offline".into(), "--mirror".into(), f.join("mirror").into(), "--locked".into(), "--load".into()];
    let sink = common::build_spec(
        cache.path(),
        &repo.join("tests/compose/images"),
        &f.join("lpbake.lock"),
        &out.path().join("sink"),
        &mirror,
    );
    common::ok(&sink);

    // A copy of the project: the compose files, the test's override and its derived configs.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    let p = p.as_path();
    for name in ["compose.yaml", "compose.arbitrum.yaml"] {
        std::fs::copy(repo.join(name), p.join(name)).unwrap();
    }
    std::fs::create_dir_all(p.join("compose")).unwrap();
    for e in std::fs::read_dir(repo.join("compose")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), p.join("compose").join(e.file_name())).unwrap();
    }
    for name in ["compose.test.yaml", "alertmanager.test.yml"] {
        std::fs::copy(repo.join("tests/compose").join(name), p.join(name)).unwrap();
    }
    std::fs::create_dir_all(p.join("test")).unwrap();
    let prom = std::fs::read_to_string(repo.join("compose/prometheus.yml")).unwrap();
    assert!(prom.contains("scrape_interval: 15s") && prom.contains("evaluation_interval: 15s"), "{prom}");
    std::fs::write(p.join("test/prometheus.yml"), prom.replace(": 15s", ": 1s")).unwrap();
    let rules = std::fs::read_to_string(repo.join("compose/lpwatch.rules.yml")).unwrap();
    let fast: Vec<String> = rules
        .lines()
        .map(|l| match l.split_once("for:") {
            Some((indent, _)) => format!("{indent}for: 0s"),
            None => l.into(),
        })
        .collect();
    std::fs::write(p.join("test/lpwatch.rules.yml"), fast.join("\n") + "\n").unwrap();
    let secrets = p.join("testnet/secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let secret = format!("orch-{}", std::process::id() as u64 * 7919 + 104_729);
    std::fs::write(secrets.join("orch-secret"), &secret).unwrap();
    std::fs::set_permissions(secrets.join("orch-secret"), std::os::unix::fs::PermissionsExt::from_mode(0o444)).unwrap();

    // The open-file limit, as `make up` finds it: what the engine grants (this machine's engine
    // may grant less than 65536: then a warning says so and how to raise it, and asking for more
    // than it grants stops with that fix).
    let nofile = make_up_nofile();
    let project = Project { dir, name: format!("lpbake-test-{}", std::process::id()), nofile };

    // The files are valid as they are, with the test's override, and with the arbitrum profile.
    common::ok(&project.compose(&["compose.yaml"], &["config", "-q"]).output().unwrap());
    common::ok(&project.run(&["config", "-q"]));
    let arb = project.compose(&["compose.yaml", "compose.arbitrum.yaml"], &["config", "-q"]).output().unwrap();
    assert!(common::failed(&arb).contains("LPBAKE_KEYSTORE"), "the arbitrum profile names its keystore variable");
    let arb = project
        .compose(&["compose.yaml", "compose.arbitrum.yaml"], &["config"])
        .env("LPBAKE_KEYSTORE", p)
        .output()
        .unwrap();
    let merged = common::ok(&arb);
    assert!(
        merged.contains("arbitrum-one-mainnet") && merged.contains("/run/credentials/livepeer.service/eth-password")
    );

    let before = public_listeners();
    let started = Instant::now();
    let up = project.run(&["up", "-d", "--wait", "--wait-timeout", "300"]);
    if !up.status.success() {
        let ps = project.run(&["ps", "-a"]);
        let logs = project.run(&["logs", "--tail", "20"]);
        panic!(
            "docker compose up failed:\n{}\n{}\n{}",
            String::from_utf8_lossy(&up.stderr),
            String::from_utf8_lossy(&ps.stdout),
            String::from_utf8_lossy(&logs.stdout)
        );
    }
    eprintln!("compose up --wait: every service healthy after {:.1}s", started.elapsed().as_secs_f64());

    // Every service with a health check is healthy; every product service has one.
    let ps = common::ok(&project.run(&["ps", "--format", "{{.Service}}\t{{.Health}}"]));
    let mut services = 0;
    for line in ps.lines() {
        let (service, health) = line.split_once('\t').unwrap();
        if service != "alert-sink" {
            assert_eq!(health, "healthy", "{service}: {ps}");
            services += 1;
        }
    }
    assert_eq!(services, 10, "{ps}");

    // Non-root, read-only, no capabilities, the open-file limit, and no secret in any container's config.
    for line in ps.lines() {
        let service = line.split('\t').next().unwrap();
        let inspect = docker(&["inspect", &project.container(service)]);
        assert!(!inspect.contains(&secret), "{service}: the secret is in its container config");
        let v: Value = serde_json::from_str(&inspect).unwrap();
        let c = &v[0];
        let user = c["Config"]["User"].as_str().unwrap();
        assert!(!user.is_empty() && !user.starts_with("0:") && user != "root", "{service} runs as {user:?}");
        assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true, "{service}");
        assert_eq!(c["HostConfig"]["CapDrop"], serde_json::json!(["ALL"]), "{service}");
    }
    let limits = project.exec("orchestrator", &["cat", "/proc/1/limits"]);
    let open = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    assert!(open.split_whitespace().filter(|w| *w == nofile.to_string()).count() == 2, "{open}");
    let cmdline = project.exec("orchestrator", &["cat", "/proc/1/cmdline"]);
    assert!(cmdline.contains("/run/credentials/livepeer.service/orch-secret") && !cmdline.contains(&secret));

    // Prometheus scrapes every target; lpwatch's /healthz answers 200 on the host.
    let targets = wait_for(90, "every Prometheus target up", || {
        let (_, body) = get(&format!("http://{BIND}:9090/api/v1/targets"));
        let v: Value = serde_json::from_str(&body).ok()?;
        let t = v["data"]["activeTargets"].as_array()?.clone();
        (t.len() == 6 && t.iter().all(|t| t["health"] == "up")).then_some(t.len())
    });
    eprintln!("prometheus: {targets} targets up");
    assert_eq!(get(&format!("http://{BIND}:7936/healthz")).0, 200);
    let (code, rules) = get(&format!("http://{BIND}:9090/api/v1/rules"));
    assert!(code == 200 && rules.contains("LivepeerDown") && rules.contains("RewardNotCalled"), "{rules}");

    // The source streams into the gateway: an established connection to 1935, bytes growing.
    let tcp = project.exec("gateway-watch", &["cat", "/proc/net/tcp"]);
    let established = tcp.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1].ends_with(":078F") && f[3] == "01"
    });
    assert!(established, "no established connection to the gateway's 1935:\n{tcp}");
    let bytes = || -> u64 {
        let m = project.exec("gateway-watch", &["/usr/local/bin/lpwatch", "probe", "http://127.0.0.1:7935/metrics"]);
        let line = m.lines().find(|l| l.starts_with("livepeer_standin_rtmp_bytes_received_total")).unwrap();
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64
    };
    let b1 = bytes();
    std::thread::sleep(Duration::from_secs(3));
    let b2 = bytes();
    assert!(b2 > b1 && b1 > 0, "gateway bytes not growing: {b1} -> {b2}");
    eprintln!("gateway: {b1} -> {b2} bytes received in 3 s");

    // The standalone transcoder is counted in the orchestrator's /status.
    wait_for(60, "the transcoder in the orchestrator's /status", || {
        let s =
            project.exec("orchestrator-watch", &["/usr/local/bin/lpwatch", "probe", "http://127.0.0.1:7935/status"]);
        let v: Value = serde_json::from_str(&s).ok()?;
        (v["RegisteredTranscodersNumber"] == 1).then_some(())
    });

    // The orchestrator's process is killed (SIGKILL from the host: this engine treats
    // `docker kill` as an operator's stop and never restarts after it): restarted each time;
    // LivepeerDown reaches the sink, then resolves. The engine's restart delay doubles on each
    // quick exit, so kills repeat (bounded) until the outage is long enough to be seen.
    let container = project.container("orchestrator");
    let restarts =
        |c: &str| docker(&["inspect", "--format", "{{.RestartCount}}", c]).trim().parse::<u64>().unwrap_or(0);
    let mut kills = 0;
    while !sink_has("LivepeerDown", "firing") {
        assert!(kills < 10, "LivepeerDown never reached the sink after {kills} kills");
        wait_for(60, "the orchestrator running", || {
            (docker(&["inspect", "--format", "{{.State.Running}}", &container]).trim() == "true").then_some(())
        });
        let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &container]);
        common::ok(&Command::new("kill").args(["-KILL", pid.trim()]).output().unwrap());
        kills += 1;
        let deadline = Instant::now() + Duration::from_secs(6);
        while Instant::now() < deadline && !sink_has("LivepeerDown", "firing") {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    eprintln!("LivepeerDown fired after {kills} kill(s)");
    wait_for(120, "LivepeerDown resolved at the sink", || sink_has("LivepeerDown", "resolved").then_some(()));
    assert!(restarts(&container) >= kills as u64, "the engine did not restart the orchestrator each time");
    wait_for(120, "the orchestrator healthy again", || {
        (docker(&["inspect", "--format", "{{.State.Health.Status}}", &container]).trim() == "healthy").then_some(())
    });

    let after = public_listeners();
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty(), "listening off loopback since `up`: {new:?}");

    // down -v leaves nothing of the project behind.
    common::ok(&project.run(&["down", "-v", "--timeout", "10"]));
    let label = format!("label=com.docker.compose.project={}", project.name);
    for kind in [&["ps", "-a", "-q"][..], &["network", "ls", "-q"], &["volume", "ls", "-q"]] {
        let mut args = kind.to_vec();
        args.extend(["--filter", &label]);
        assert_eq!(docker(&args).trim(), "", "docker {kind:?} after down -v");
    }
}
