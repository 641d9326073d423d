//! The runtime-neutral description of how an image's program runs: user, command line,
//! environment, working and state directories, ports and credentials. Built once from `[image]`
//! by the spec reader; the OCI image config is rendered from it, and systemd units, compose
//! services and the NixOS parity data are meant to be rendered from the same value. The runtime
//! rules every renderer relies on (no secret in env or argv, the livepeer CLI port never exposed
//! nor bound beyond loopback) are checked here, once.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How one program runs. Serializes with sorted keys and sets, so renderings are stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Numeric user and group the program runs as; never root (uid 0).
    pub user: User,
    /// The program and its fixed leading arguments (OCI `Entrypoint`). The full command line is
    /// `entrypoint` followed by `cmd`; see [`Service::argv`].
    pub entrypoint: Vec<String>,
    /// Default arguments after `entrypoint`, which an operator may replace (OCI `Cmd`). `None`
    /// when the spec gives none (an OCI image with no entrypoint then keeps its base's `Cmd`).
    pub cmd: Option<Vec<String>>,
    /// Environment variables set for the program (over the base image's). Never secrets.
    pub env: BTreeMap<String, String>,
    /// Working directory (absolute), if any.
    pub workdir: Option<String>,
    /// Directories (absolute) whose contents outlive the program: OCI volumes, systemd
    /// `StateDirectory=`, compose named volumes. Created owned by `user`.
    pub state_dirs: BTreeSet<String>,
    /// Ports the program listens on and a deployment may publish.
    pub ports: BTreeSet<Port>,
    /// Secrets the program reads from files at run time, by credential name. Only how the
    /// program is told the file's path is described, never a value: the runtime puts the file
    /// there (systemd `LoadCredential=` under `/run/credentials/<unit>/<name>`, compose secrets
    /// under `/run/secrets/<name>`).
    pub credentials: BTreeMap<String, Credential>,
}

/// Numeric ids, as `uid:gid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

/// A port the program listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Port {
    pub number: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// How the program learns where a credential file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// The command-line flag that takes the file's path, e.g. livepeer's `-ethPassword`.
    pub flag: String,
}

/// A rule of [`Service::check`] that the service breaks. `key` is the spec key at fault
/// (`image.ports`, `image.cmd`, `image.env.NAME`, ...); the spec reader adds file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub key: String,
    pub msg: String,
    pub fix: String,
}

/// The livepeer CLI API port (`-cliAddr` default): an unauthenticated control API.
pub const LIVEPEER_CLI_PORT: u16 = 7935;

/// Where run-time credential files live; a secret flag may only name a file under these.
pub const CREDENTIAL_DIRS: [&str; 2] = ["/run/credentials/", "/run/secrets/"];

/// Words in a variable or flag name that say its value is a secret (matched on the name with
/// `_` and `-` removed, case-insensitively: `ETH_PASSWORD`, `LP_ETHPASSWORD`, `-orchSecret`).
const SECRET_WORDS: &[&str] =
    &["password", "passwd", "passphrase", "secret", "privatekey", "privkey", "token", "apikey", "mnemonic"];

const USE_A_CREDENTIAL: &str = "never put a secret into an image's env or command line (it is readable in the image config and in ps): declare it in [image.credentials] (e.g. eth-password = { flag = \"-ethPassword\" }) so the runtime provides it as a file, or pass a file path under /run/credentials/ or /run/secrets/";

impl fmt::Display for Port {
    /// `8935/tcp`: the OCI `ExposedPorts` key and the compose port suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        write!(f, "{}/{proto}", self.number)
    }
}

impl std::str::FromStr for Port {
    type Err = String;
    /// `PORT/tcp` or `PORT/udp`, PORT in 1..=65535.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not PORT/PROTO with PROTO tcp or udp");
        let (n, proto) = s.split_once('/').ok_or_else(bad)?;
        let number = n.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(bad)?;
        let protocol = match proto {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            _ => return Err(bad()),
        };
        Ok(Port { number, protocol })
    }
}

impl Service {
    /// The full command line: `entrypoint` then `cmd`.
    pub fn argv(&self) -> impl Iterator<Item = &String> {
        self.entrypoint.iter().chain(self.cmd.iter().flatten())
    }

    /// The runtime rules: no secret-looking variable or flag carries a value (only a credential
    /// file path), and the livepeer CLI API stays on loopback and is never exposed.
    pub fn check(&self) -> Result<(), Violation> {
        for (name, value) in &self.env {
            if let Some(why) = secret_value(name, value) {
                return Err(violation(&format!("image.env.{name}"), why, USE_A_CREDENTIAL));
            }
        }
        // A flag is placed by where its name is: in the entrypoint or in cmd.
        let key_of = |at: usize| if at < self.entrypoint.len() { "image.entrypoint" } else { "image.cmd" };
        let flags = flags(self.argv());
        for (at, flag, value) in &flags {
            if let Some(why) = value.as_deref().and_then(|v| secret_value(flag, v)) {
                return Err(violation(key_of(*at), why, USE_A_CREDENTIAL));
            }
        }
        let mut cli_ports = BTreeSet::from([LIVEPEER_CLI_PORT]);
        let cli_addrs = flags
            .iter()
            .filter(|(_, f, _)| f.eq_ignore_ascii_case("cliAddr"))
            .map(|(at, _, v)| (key_of(*at).to_string(), v.clone().unwrap_or_default()))
            .chain(self.env.get("LP_CLIADDR").map(|v| ("image.env.LP_CLIADDR".to_string(), v.clone())));
        for (key, addr) in cli_addrs {
            if !crate::urls::is_loopback_registry(&addr) {
                return Err(violation(
                    &key,
                    format!("the livepeer CLI API is bound to `{addr}`, which is not a loopback address: it controls the node without authentication"),
                    "bind it to loopback, e.g. -cliAddr 127.0.0.1:7935, and reach it with `docker exec` or an SSH tunnel",
                ));
            }
            cli_ports.extend(addr.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()));
        }
        if let Some(p) = self.ports.iter().find(|p| cli_ports.contains(&p.number)) {
            return Err(violation(
                "image.ports",
                format!("port {p} is the livepeer CLI API, which must never be exposed"),
                "remove it from image.ports; the CLI API stays on loopback inside the container",
            ));
        }
        Ok(())
    }
}

fn violation(key: &str, msg: impl Into<String>, fix: &str) -> Violation {
    Violation { key: key.to_string(), msg: msg.into(), fix: fix.to_string() }
}

/// Why `value` under `name` is a secret that must not be baked in, or None. A credential file
/// path is fine under any name; a secret-looking name with any other value is not, nor is a
/// value shaped like key material under any name.
fn secret_value(name: &str, value: &str) -> Option<String> {
    if is_credential_path(value) {
        return None;
    }
    if let Some(word) = secret_word(name) {
        return Some(format!("`{name}` names a secret ({word}) and its value is not a credential file path"));
    }
    let hex = value.strip_prefix("0x").unwrap_or(value);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(format!("the value of `{name}` looks like a raw private key (32 bytes in hex)"));
    }
    if value.contains("-----BEGIN") && value.contains("PRIVATE KEY") {
        return Some(format!("the value of `{name}` is a PEM private key"));
    }
    None
}

/// The secret-meaning word in `name` (ignoring case, `_` and `-`), if any.
fn secret_word(name: &str) -> Option<&'static str> {
    let squashed: String = name.chars().filter(|c| !matches!(c, '_' | '-')).collect::<String>().to_ascii_lowercase();
    SECRET_WORDS.iter().find(|w| squashed.contains(*w)).copied()
}

/// An absolute, normalized path under one of [`CREDENTIAL_DIRS`].
fn is_credential_path(value: &str) -> bool {
    CREDENTIAL_DIRS.iter().any(|d| value.strip_prefix(d).is_some_and(|rest| !rest.is_empty()))
        && super::values::check_abs_path(value).is_ok()
}

/// Go-style flags of a command line (after argv[0]), each with the index of its name in argv:
/// `-name value`, `--name value`, `-name=value`, and bare `-name` (followed by another flag or
/// nothing: value None). Positional words are skipped. A secret-named flag takes the next word
/// whatever it is, as Go's flag package does for strings.
fn flags<'a>(argv: impl Iterator<Item = &'a String>) -> Vec<(usize, String, Option<String>)> {
    let args: Vec<&String> = argv.collect();
    let mut out = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let (at, a) = (i, args[i]);
        i += 1;
        let Some(name) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')).filter(|n| !n.is_empty()) else {
            continue;
        };
        match name.split_once('=') {
            Some((n, v)) => out.push((at, n.to_string(), Some(v.to_string()))),
            None => {
                let value =
                    args.get(i).filter(|v| !v.starts_with('-') || secret_word(name).is_some()).map(|v| v.to_string());
                i += usize::from(value.is_some());
                out.push((at, name.to_string(), value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(cmd: &[&str], env: &[(&str, &str)], ports: &[&str]) -> Service {
        Service {
            user: User { uid: 65532, gid: 65532 },
            entrypoint: vec!["/usr/local/bin/livepeer".into()],
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            workdir: None,
            state_dirs: BTreeSet::new(),
            ports: ports.iter().map(|p| p.parse().unwrap()).collect(),
            credentials: BTreeMap::new(),
        }
    }

    #[test]
    fn ports_parse_and_render_alike() {
        for p in ["8935/tcp", "30303/udp"] {
            assert_eq!(p.parse::<Port>().unwrap().to_string(), p);
        }
        for bad in ["http", "0/tcp", "70000/tcp", "80/sctp", "80"] {
            assert!(bad.parse::<Port>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_cli_port_is_never_exposed() {
        for (cmd, ports) in [
            (vec![], vec!["7935/tcp"]),
            (vec![], vec!["7935/udp"]),
            (vec!["-cliAddr", "127.0.0.1:9000"], vec!["9000/tcp"]),
        ] {
            let v = service(&cmd, &[], &ports).check().unwrap_err();
            assert_eq!(v.key, "image.ports", "{cmd:?} {ports:?}");
            assert!(v.msg.contains("CLI"), "{v:?}");
        }
        assert!(service(&["-cliAddr", "127.0.0.1:7935"], &[], &["8935/tcp"]).check().is_ok());
    }

    #[test]
    fn the_cli_api_binds_only_to_loopback() {
        for cmd in [
            vec!["-cliAddr", "0.0.0.0:7935"],
            vec!["-cliAddr=0.0.0.0:7935"],
            vec!["--cliAddr", "10.0.0.5:7935"],
            vec!["-cliAddr", ":7935"],
            vec!["-cliAddr", "127.0.0.1.nip.io:7935"],
        ] {
            let v = service(&cmd, &[], &[]).check().unwrap_err();
            assert_eq!(v.key, "image.cmd", "{cmd:?}");
            assert!(v.fix.contains("loopback"), "{v:?}");
        }
        let v = service(&[], &[("LP_CLIADDR", "0.0.0.0:7935")], &[]).check().unwrap_err();
        assert_eq!(v.key, "image.env.LP_CLIADDR");
        for ok in ["127.0.0.1:7935", "localhost:7935", "[::1]:7935"] {
            assert!(service(&["-cliAddr", ok], &[], &[]).check().is_ok(), "{ok}");
        }
    }

    #[test]
    fn secrets_in_env_are_refused() {
        for (k, v) in [
            ("ETH_PASSWORD", "hunter2"),
            ("LP_ETHPASSWORD", "hunter2"),
            ("LP_ORCHSECRET", "s3cret"),
            ("API_TOKEN", "abc"),
            ("ETH_PRIVATE_KEY", "abc"),
            ("INNOCENT", "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"),
        ] {
            let v = service(&[], &[(k, v)], &[]).check().unwrap_err();
            assert_eq!(v.key, format!("image.env.{k}"));
            assert!(v.fix.contains("credential"), "{v:?}");
            assert!(!v.msg.contains("hunter2"), "the refusal must not repeat the secret: {v:?}");
        }
        assert!(service(&[], &[("LP_ETHPASSWORD", "/run/credentials/livepeer.service/eth-password")], &[])
            .check()
            .is_ok());
        assert!(service(&[], &[("HOME", "/var/lib/livepeer")], &[]).check().is_ok());
    }

    #[test]
    fn secret_flags_take_only_credential_files() {
        for cmd in [
            vec!["-ethPassword", "hunter2"],
            vec!["-ethPassword=hunter2"],
            vec!["--orchSecret", "s3cret"],
            vec!["-orchSecret", "/var/lib/livepeer/secret.txt"],
            vec!["-ethPassword", "/run/secrets/../../etc/pw"],
            vec!["-ethPassword", "-hunter2", "-network", "offchain"],
        ] {
            let v = service(&cmd, &[], &[]).check().unwrap_err();
            assert_eq!(v.key, "image.cmd", "{cmd:?}");
        }
        let ok = ["-ethPassword", "/run/credentials/livepeer.service/eth-password", "-orchSecret", "/run/secrets/orch"];
        assert!(service(&ok, &[], &[]).check().is_ok());
    }

    #[test]
    fn serializes_sorted() {
        let s = service(&["-network", "offchain"], &[("B", "2"), ("A", "1")], &["8935/tcp", "1935/tcp"]);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.find("\"A\"").unwrap() < json.find("\"B\"").unwrap(), "{json}");
        assert!(json.find("1935").unwrap() < json.find("8935").unwrap(), "{json}");
    }
}
