//! From the spec to the [`Node`]: the appliance decides what runs and with which flags; the
//! images' [`Service`]s say which program each service is. Secrets appear only as credential
//! names and `/run/credentials/` paths; every service is checked by [`Service::check`] (no
//! secret in argv or env, the CLI API on loopback and never opened).

use super::{
    hardening, lpwatch, Chrony, Firewall, LoadedCredential, LoginLimit, Node, SysUser, Unit, Volume, CREDENTIALS_DIR,
    DATA_MOUNT, GETH_MOUNT, LIVEPEER_DATA, LPWATCH_CONFIG, LPWATCH_STATE,
};
use crate::error::{Error, Result};
use crate::quote;
use crate::spec::appliance::UpstreamSource;
use crate::spec::{Appliance, Credential, Port, Protocol, Role, Service, Spec, User};
use std::collections::{BTreeMap, BTreeSet};

/// Fixed ids of the service users (sysusers.d), so files on a volume moved to another instance
/// keep their owner. Chosen from the system range (below 1000), high enough to stay clear of the
/// ids a base allocates from 999 downwards at build time for its own few system users, and
/// named after the ports (8935, 7936, 30303 -> 937 for geth's 8545/30303 pair).
pub const LIVEPEER_UID: u32 = 935;
pub const LPWATCH_UID: u32 = 936;
pub const GETH_UID: u32 = 937;

/// livepeer's CLI API: always on loopback.
pub const CLI_ADDR: &str = "127.0.0.1:7935";
/// lpwatch's /healthz and /metrics.
pub const LPWATCH_HTTP: &str = "127.0.0.1:7936";
/// lpwatch's JSON-RPC failover proxy: livepeer's -ethUrl.
pub const LPWATCH_RPC: &str = "127.0.0.1:7937";
/// geth's JSON-RPC on loopback (geth runs Ethereum mainnet: never an upstream of lpwatch).
pub const GETH_RPC: &str = "127.0.0.1:8545";
/// The orchestrator's public port.
pub const ORCHESTRATOR_PORT: u16 = 8935;
const GETH_P2P: u16 = 30303;
const NOFILE: &str = "65536";

/// The node `spec.appliance` describes.
pub fn node(spec: &Spec) -> Result<Node> {
    node_of(spec, appliance(spec)?)
}

/// The spec's appliance, or an error saying how to add one.
pub fn appliance(spec: &Spec) -> Result<&Appliance> {
    spec.appliance.as_ref().ok_or_else(|| {
        Error::config(
            spec.dir.join(crate::spec::appliance::FILE),
            None,
            "the spec has no appliance.toml",
            "add images/appliance.toml describing the node (see the one in the lpbake repository)",
        )
    })
}

/// The node `a` describes, its programs from the images of `spec` (the compose testnet renders
/// several appliances derived from the spec's one).
pub fn node_of(spec: &Spec, a: &Appliance) -> Result<Node> {
    let offchain = a.network == "offchain";
    let mut services = BTreeMap::new();
    services.insert("livepeer.service".to_string(), livepeer(spec, a, offchain)?);
    services.insert("lpwatch.service".to_string(), lpwatch_unit(spec, a)?);
    let mut users = BTreeMap::from([
        ("livepeer".to_string(), sys_user(LIVEPEER_UID, "Livepeer node", LIVEPEER_DATA)),
        ("lpwatch".to_string(), sys_user(LPWATCH_UID, "lpwatch, the Livepeer node watchdog", "/nonexistent")),
    ]);
    let mut volumes = BTreeMap::from([(DATA_MOUNT.to_string(), volume(&a.volumes.data))]);
    if a.geth {
        services.insert("geth.service".to_string(), geth(spec, a)?);
        users.insert("geth".to_string(), sys_user(GETH_UID, "go-ethereum", &format!("{GETH_MOUNT}/data")));
        volumes.insert(GETH_MOUNT.to_string(), volume(&a.volumes.geth));
    }
    let mut firewall = Firewall {
        tcp: BTreeSet::new(),
        udp: BTreeSet::new(),
        ssh_allow: a.ssh_allow.iter().map(|n| n.to_string()).collect(),
    };
    for u in services.values() {
        for p in &u.service.ports {
            match p.protocol {
                Protocol::Tcp => firewall.tcp.insert(p.number),
                Protocol::Udp => firewall.udp.insert(p.number),
            };
        }
    }
    let journald = BTreeMap::from([
        ("Compress".to_string(), "yes".to_string()),
        ("ForwardToSyslog".to_string(), "no".to_string()),
        ("MaxRetentionSec".to_string(), a.journald.max_retention.clone()),
        ("Storage".to_string(), "persistent".to_string()),
        ("SystemKeepFree".to_string(), a.journald.system_keep_free.clone()),
        ("SystemMaxUse".to_string(), a.journald.system_max_use.clone()),
    ]);
    Ok(Node {
        role: a.role,
        network: a.network.clone(),
        services,
        users,
        firewall,
        volumes,
        chrony: Chrony { servers: a.chrony_servers.clone() },
        journald,
        sysctl: sysctl(),
        // The units set LimitNOFILE= themselves; these cover login sessions of the user (livepeer_cli).
        login_limits: ["soft", "hard"]
            .map(|kind| LoginLimit {
                domain: "livepeer".into(),
                kind: kind.into(),
                item: "nofile".into(),
                value: NOFILE.into(),
            })
            .to_vec(),
        lpwatch_config: lpwatch::config(a),
    })
}

/// Socket buffers and queues for video segments: large receive and send buffers, deeper
/// accept and device backlogs, and MTU probing for paths that drop big packets.
fn sysctl() -> BTreeMap<String, String> {
    [
        ("net.core.netdev_max_backlog", "16384"),
        ("net.core.rmem_default", "1048576"),
        ("net.core.rmem_max", "16777216"),
        ("net.core.somaxconn", "4096"),
        ("net.core.wmem_default", "1048576"),
        ("net.core.wmem_max", "16777216"),
        ("net.ipv4.tcp_max_syn_backlog", "8192"),
        ("net.ipv4.tcp_mtu_probing", "1"),
        ("net.ipv4.tcp_rmem", "4096 1048576 16777216"),
        ("net.ipv4.tcp_slow_start_after_idle", "0"),
        ("net.ipv4.tcp_wmem", "4096 1048576 16777216"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn sys_user(id: u32, description: &str, home: &str) -> SysUser {
    SysUser { uid: id, gid: id, description: description.to_string(), home: home.to_string() }
}

/// A volume mounted by label. `nofail`: the boot goes on without it; its device is awaited as
/// long as systemd's default (90 s: an attached EBS volume can show up late).
fn volume(label: &str) -> Volume {
    let options = ["nofail", "x-systemd.device-timeout=90s", "noatime", "nodev", "nosuid", "noexec"];
    Volume { label: label.to_string(), options: options.iter().map(|s| s.to_string()).collect() }
}

/// The program of image `name`: its entrypoint's first word.
fn program(spec: &Spec, a: &Appliance, name: &str) -> Result<String> {
    spec.images.get(name).and_then(|i| i.service.entrypoint.first()).cloned().ok_or_else(|| {
        Error::config(
            &a.file,
            None,
            format!("the appliance runs {name}, but no image `{name}` with an entrypoint is in the spec"),
            format!("add images/{name}.toml with an [image] whose entrypoint is the program"),
        )
    })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn credential_path(unit: &str, name: &str) -> String {
    format!("/run/credentials/{unit}/{name}")
}

/// The parts every baked unit shares: restart policy, open-file limit, hardening, and, for a
/// unit with state on a volume, the mount it requires (asserted mounted: without its volume
/// the unit fails before anything is created, and its status says so).
#[allow(clippy::too_many_arguments)]
fn unit(
    description: String,
    service: Service,
    user: &str,
    credentials: BTreeMap<String, LoadedCredential>,
    mounts: &[&str],
    mut unit: BTreeMap<String, Vec<String>>,
    mut settings: BTreeMap<String, Vec<String>>,
    listen: &[&str],
    needs: hardening::Needs,
) -> Result<Unit> {
    service.check().map_err(|v| Error::Output(format!("rendering {user}: {}: {} (fix: {})", v.key, v.msg, v.fix)))?;
    settings.insert("Restart".into(), strings(&["always"]));
    settings.insert("RestartSec".into(), strings(&["1"]));
    unit.insert("StartLimitIntervalSec".into(), strings(&["0"]));
    for m in mounts {
        unit.entry("AssertPathIsMountPoint".into()).or_default().push(m.to_string());
    }
    Ok(Unit {
        description,
        argv: service.argv().cloned().collect(),
        service,
        user: user.to_string(),
        group: user.to_string(),
        credentials,
        limits: BTreeMap::from([("LimitNOFILE".to_string(), NOFILE.to_string())]),
        hardening: hardening::directives(needs),
        unit,
        settings,
        listen: listen.iter().map(|s| s.to_string()).collect(),
        requires_mounts: mounts.iter().map(|s| s.to_string()).collect(),
    })
}

fn livepeer(spec: &Spec, a: &Appliance, offchain: bool) -> Result<Unit> {
    const UNIT: &str = "livepeer.service";
    let l = &a.livepeer;
    // A standalone transcoder has no chain: it only talks to its orchestrator (-network unset).
    let mut args: Vec<String> =
        if a.role.uses_chain() { vec!["-network".into(), a.network.clone()] } else { Vec::new() };
    args.extend(strings(&["-cliAddr", CLI_ADDR, "-dataDir", LIVEPEER_DATA]));
    let mut credentials = BTreeMap::new();
    let mut secret = |name: &str, f: &str, args: &mut Vec<String>| {
        let path = credential_path(UNIT, name);
        args.push(f.to_string());
        args.push(path.clone());
        credentials.insert(
            name.to_string(),
            LoadedCredential { source: format!("{CREDENTIALS_DIR}/{name}"), path, flag: Some(f.to_string()) },
        );
    };
    let mut ports = BTreeSet::new();
    let on_chain = !offchain && a.role.uses_chain();
    if on_chain {
        args.extend(strings(&["-ethUrl", &format!("http://{LPWATCH_RPC}")]));
        secret("eth-password", "-ethPassword", &mut args);
        if let Some(acct) = &l.eth_acct_addr {
            args.extend([String::from("-ethAcctAddr"), acct.clone()]);
        }
    }
    if a.role.needs_orch_secret() {
        secret("orch-secret", "-orchSecret", &mut args);
    }
    fn opt(args: &mut Vec<String>, f: &str, v: &Option<String>) {
        if let Some(v) = v {
            args.extend([f.to_string(), v.clone()]);
        }
    }
    match a.role {
        Role::OrchestratorTranscoder | Role::Orchestrator => {
            opt(&mut args, "-serviceAddr", &l.service_addr);
            opt(&mut args, "-pricePerUnit", &l.price_per_unit);
            opt(&mut args, "-pixelsPerUnit", &l.pixels_per_unit);
            ports.insert(Port { number: ORCHESTRATOR_PORT, protocol: Protocol::Tcp });
        }
        Role::Transcoder => opt(&mut args, "-orchAddr", &l.orch_addr),
        Role::Gateway => {
            opt(&mut args, "-orchAddr", &l.orch_addr);
            opt(&mut args, "-maxPricePerUnit", &l.max_price_per_unit);
            args.extend(strings(&["-httpAddr", "0.0.0.0:9935", "-rtmpAddr", "0.0.0.0:1935"]));
            ports.insert(Port { number: 9935, protocol: Protocol::Tcp });
            ports.insert(Port { number: 1935, protocol: Protocol::Tcp });
        }
    }
    opt(&mut args, "-maxSessions", &l.max_sessions);
    opt(&mut args, "-transcodingOptions", &l.transcoding_options);
    if let Some(r) = l.reward {
        args.push(format!("-reward={r}"));
    }
    if l.monitor {
        args.push("-monitor".into());
    }
    let role_flags: &[&str] = match a.role {
        Role::OrchestratorTranscoder => &["-orchestrator", "-transcoder"],
        Role::Orchestrator => &["-orchestrator"],
        Role::Transcoder => &["-transcoder"],
        Role::Gateway => &["-gateway"],
    };
    let cmd: Vec<String> = role_flags.iter().map(|s| s.to_string()).chain(args).collect();
    let service = Service {
        user: User { uid: LIVEPEER_UID, gid: LIVEPEER_UID },
        entrypoint: vec![program(spec, a, "livepeer")?],
        cmd: Some(cmd),
        env: BTreeMap::from([("HOME".to_string(), LIVEPEER_DATA.to_string())]),
        workdir: Some(LIVEPEER_DATA.to_string()),
        state_dirs: BTreeSet::from([LIVEPEER_DATA.to_string()]),
        ports,
        credentials: credentials
            .iter()
            .filter_map(|(n, c): (&String, &LoadedCredential)| Some((n.clone(), Credential { flag: c.flag.clone()? })))
            .collect(),
    };
    let after = strings(&["network-online.target", "lpwatch.service"]);
    let unit_sec = BTreeMap::from([("After".to_string(), after.clone()), ("Wants".to_string(), after)]);
    let mut settings = BTreeMap::from([
        ("Type".to_string(), strings(&["exec"])),
        // Created on the mounted volume, owned by the service user, only once the mount is asserted.
        ("StateDirectory".to_string(), strings(&["livepeer/data"])),
        ("StateDirectoryMode".to_string(), strings(&["0700"])),
        ("TimeoutStopSec".to_string(), strings(&["30"])),
        ("InaccessiblePaths".to_string(), strings(&[&format!("-{CREDENTIALS_DIR}")])),
    ]);
    if on_chain {
        // livepeer v0.9.1 encrypts a key it creates with the -ethPassword *path* when that names
        // a file (and then cannot unlock it): the node's account is made before its first start,
        // with the file's contents, by lpwatch. A keystore with an account is left alone.
        let keystore = format!("{LIVEPEER_DATA}/keystore");
        let mut init = vec![program(spec, a, "lpwatch")?, "keystore-init".into(), "--keystore".into(), keystore];
        init.extend(["--password-file".into(), credential_path(UNIT, "eth-password")]);
        if l.light_kdf {
            init.push("--light-kdf".into());
        }
        let init = quote::systemd_command(&init).map_err(|e| {
            e.at(spec.dir.join("lpwatch.toml"), "image.entrypoint", "make the entrypoint the absolute path of lpwatch")
        })?;
        settings.insert("ExecStartPre".to_string(), vec![init]);
    }
    unit(
        // The volume is named here because a unit whose mount failed says only "Dependency
        // failed for <description>" in its status.
        format!(
            "Livepeer node ({} on {}; data volume LABEL={} at {DATA_MOUNT})",
            a.role.as_str(),
            a.network,
            a.volumes.data
        ),
        service,
        "livepeer",
        credentials,
        &[DATA_MOUNT],
        unit_sec,
        settings,
        &[CLI_ADDR],
        hardening::Needs::default(),
    )
}

fn lpwatch_unit(spec: &Spec, a: &Appliance) -> Result<Unit> {
    const UNIT: &str = "lpwatch.service";
    // Off chain lpwatch proxies nothing: no upstream, so no credential.
    let on_chain = a.network != "offchain" && a.role.uses_chain();
    let credentials: BTreeMap<String, LoadedCredential> = a
        .rpc
        .iter()
        .filter(|_| on_chain)
        .filter_map(|u| match &u.source {
            UpstreamSource::Credential(c) => Some((
                c.clone(),
                LoadedCredential {
                    source: format!("{CREDENTIALS_DIR}/{c}"),
                    path: credential_path(UNIT, c),
                    flag: None,
                },
            )),
            UpstreamSource::Url(_) => None,
        })
        .collect();
    let share = a.lpwatch.share.as_ref();
    let mounts: &[&str] = if credentials.is_empty() && share.is_none() { &[] } else { &[DATA_MOUNT] };
    let service = Service {
        user: User { uid: LPWATCH_UID, gid: LPWATCH_UID },
        entrypoint: vec![program(spec, a, "lpwatch")?],
        cmd: Some(strings(&["--config", LPWATCH_CONFIG])),
        env: BTreeMap::new(),
        workdir: None,
        state_dirs: BTreeSet::new(),
        ports: BTreeSet::new(),
        credentials: BTreeMap::new(),
    };
    let after = strings(&["network-online.target"]);
    let unit_sec = BTreeMap::from([("After".to_string(), after.clone()), ("Wants".to_string(), after)]);
    let mut settings = BTreeMap::from([
        // READY=1 once serving; WATCHDOG=1 only while the check loop keeps up (watch/src/notify.rs).
        ("Type".to_string(), strings(&["notify"])),
        ("NotifyAccess".to_string(), strings(&["main"])),
        ("WatchdogSec".to_string(), strings(&["60"])),
        ("TimeoutStopSec".to_string(), strings(&["10"])),
    ]);
    if share.is_some() {
        // The share's queue and reporting key move with the data volume (the key is the node's
        // delegated identity); the node's secrets and keystore there stay out of reach.
        let state = LPWATCH_STATE.trim_start_matches("/var/lib/");
        settings.insert("StateDirectory".into(), strings(&[state]));
        settings.insert("StateDirectoryMode".into(), strings(&["0700"]));
        settings.insert(
            "InaccessiblePaths".into(),
            strings(&[&format!("-{CREDENTIALS_DIR}"), &format!("-{LIVEPEER_DATA}")]),
        );
    }
    let listen: &[&str] = if on_chain { &[LPWATCH_HTTP, LPWATCH_RPC] } else { &[LPWATCH_HTTP] };
    // Off chain lpwatch talks to this machine only, unless it pushes shares to a collector.
    let pushes = share.is_some_and(|s| s.endpoint.is_some());
    let loopback_only = (!on_chain || a.rpc.is_empty()) && !pushes;
    unit(
        "lpwatch: health, metrics and JSON-RPC failover for livepeer".into(),
        service,
        "lpwatch",
        credentials,
        mounts,
        unit_sec,
        settings,
        listen,
        // The share reads the service port's byte counts over sock_diag netlink.
        hardening::Needs { loopback_only, resources: false, netlink: share.is_some() },
    )
}

fn geth(spec: &Spec, a: &Appliance) -> Result<Unit> {
    let data = format!("{GETH_MOUNT}/data");
    let (host, port) = GETH_RPC.split_once(':').unwrap_or((GETH_RPC, ""));
    let cmd = strings(&[
        "--datadir",
        &data,
        "--port",
        &GETH_P2P.to_string(),
        "--http",
        "--http.addr",
        host,
        "--http.port",
        port,
        "--http.api",
        "eth,net,web3",
        "--authrpc.addr",
        "127.0.0.1",
        "--ipcdisable",
    ]);
    let service = Service {
        user: User { uid: GETH_UID, gid: GETH_UID },
        entrypoint: vec![program(spec, a, "geth")?],
        cmd: Some(cmd),
        env: BTreeMap::from([("HOME".to_string(), data.clone())]),
        workdir: Some(data.clone()),
        state_dirs: BTreeSet::from([data]),
        ports: BTreeSet::from([
            Port { number: GETH_P2P, protocol: Protocol::Tcp },
            Port { number: GETH_P2P, protocol: Protocol::Udp },
        ]),
        credentials: BTreeMap::new(),
    };
    let after = strings(&["network-online.target"]);
    let unit_sec = BTreeMap::from([("After".to_string(), after.clone()), ("Wants".to_string(), after)]);
    let settings = BTreeMap::from([
        ("Type".to_string(), strings(&["exec"])),
        ("StateDirectory".to_string(), strings(&["geth/data"])),
        ("StateDirectoryMode".to_string(), strings(&["0700"])),
        // geth flushes its database on SIGINT; give it time.
        ("KillSignal".to_string(), strings(&["SIGINT"])),
        ("TimeoutStopSec".to_string(), strings(&["180"])),
    ]);
    unit(
        format!("go-ethereum, Ethereum mainnet on this machine (geth volume LABEL={} at {GETH_MOUNT})", a.volumes.geth),
        service,
        "geth",
        BTreeMap::new(),
        &[GETH_MOUNT],
        unit_sec,
        settings,
        &[GETH_RPC, "127.0.0.1:8551"],
        hardening::Needs { loopback_only: false, resources: true, netlink: false },
    )
}
