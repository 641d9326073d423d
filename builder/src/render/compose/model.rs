//! The typed compose document lpbake writes: only the keys it uses, every map a BTreeMap, empty
//! values left out, so the same nodes give the same bytes. Compose interpolates `$` in every
//! string: literal text goes through [`lit`], which doubles it.

use serde::Serialize;
use std::collections::BTreeMap;

/// A literal string: `$` doubled, so compose passes it through unchanged.
pub fn lit(s: &str) -> String {
    s.replace('$', "$$")
}

/// Literal strings.
pub fn lits<'a>(v: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    v.into_iter().map(|s| lit(s)).collect()
}

/// A compose file: the whole project, or an override merged over it.
#[derive(Debug, Default, Serialize)]
pub struct Project {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub services: BTreeMap<String, ComposeService>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, NamedVolume>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretFile>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, ConfigFile>,
    /// The config files' texts, by path relative to the compose file (not part of the YAML).
    #[serde(skip)]
    pub files: BTreeMap<String, String>,
}

/// Where the config files go, beside the compose file.
pub const CONFIG_DIR: &str = "compose";

impl Project {
    /// Config `name`, the file `CONFIG_DIR/file` holding `text`.
    pub fn config(&mut self, name: &str, file: &str, text: String) {
        let path = format!("{CONFIG_DIR}/{file}");
        self.configs.insert(name.to_string(), ConfigFile { file: format!("./{path}") });
        self.files.insert(path, text);
    }
}

/// One service (in an override, only the keys it changes).
#[derive(Debug, Default, Clone, Serialize)]
pub struct ComposeService {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    /// `service:NAME`: the network namespace of another service (a node's watch owns it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Attachment>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Mount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<Mount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Dependency>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ulimit {
    pub soft: String,
    pub hard: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Attachment {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// A secret or config mounted as a file at `target`.
#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: String,
    pub timeout: String,
    pub retries: u32,
    pub start_period: String,
    pub start_interval: String,
}

impl Healthcheck {
    /// `CMD argv...`, checked every 5 s (every second while starting, for up to `start` s).
    pub fn cmd(argv: &[&str], start: u32) -> Healthcheck {
        Healthcheck {
            test: std::iter::once("CMD").chain(argv.iter().copied()).map(lit).collect(),
            interval: "5s".into(),
            timeout: "4s".into(),
            retries: 3,
            start_period: format!("{start}s"),
            start_interval: "1s".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub condition: &'static str,
}

impl Dependency {
    pub const STARTED: Dependency = Dependency { condition: "service_started" };
    pub const HEALTHY: Dependency = Dependency { condition: "service_healthy" };
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Network {}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NamedVolume {}

#[derive(Debug, Clone, Serialize)]
pub struct SecretFile {
    pub file: String,
}

/// A config file beside the compose file (compose cannot write `content:` configs into a
/// read-only container), rendered with it.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigFile {
    pub file: String,
}
