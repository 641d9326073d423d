//! Registry credentials from the user's Docker client config (`$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`, read through the one bounded reader): a credential helper
//! (`credHelpers`, else `credsStore`), else the `auths` entry, else anonymous. Errors name the
//! file and never the secret.

use crate::error::{Error, Result};
use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Largest Docker config read: a few KiB even with dozens of registries and their tokens.
const MAX_DOCKER_CONFIG_BYTES: u64 = 1 << 20;

/// Credentials for one registry and where they came from (named in errors; the secret never is).
pub struct Credentials {
    pub auth: RegistryAuth,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl AuthEntry {
    /// An identity token goes as the password of user `<token>`, as credential helpers hand it out.
    fn to_auth(&self) -> std::result::Result<Option<RegistryAuth>, &'static str> {
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        if let Some(token) = nonempty(&self.identitytoken) {
            return Ok(Some(RegistryAuth::Basic(nonempty(&self.username).unwrap_or("<token>".into()), token)));
        }
        if let Some(auth) = nonempty(&self.auth) {
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| "`auth` is not base64")?;
            let text = String::from_utf8(decoded).map_err(|_| "`auth` is not UTF-8 once decoded")?;
            let (user, pass) = text.split_once(':').ok_or("`auth` does not decode to user:password")?;
            return Ok(Some(RegistryAuth::Basic(user.into(), pass.into())));
        }
        Ok(nonempty(&self.username).zip(nonempty(&self.password)).map(|(u, p)| RegistryAuth::Basic(u, p)))
    }
}

fn is_docker_hub(host: &str) -> bool {
    matches!(host, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

/// Whether Docker config key `key` (`127.0.0.1:5000`, `https://index.docker.io/v1/`) names `registry`.
fn names_registry(key: &str, registry: &str) -> bool {
    let rest = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest);
    host == registry || (is_docker_hub(host) && is_docker_hub(registry))
}

/// The credentials for `registry` in Docker config `file`: its credential helper (`credHelpers`,
/// else `credsStore`), else its `auths` entry, else anonymous.
pub fn credentials(file: &Path, registry: &str) -> Result<Credentials> {
    let anonymous =
        |why: String| Ok(Credentials { auth: RegistryAuth::Anonymous, source: format!("anonymous ({why})") });
    let bytes = match lpbake_rules::read::bytes(file, MAX_DOCKER_CONFIG_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return anonymous(format!("no {}", file.display())),
        Err(e) => return Err(e.into()),
    };
    let config: DockerConfig = serde_json::from_slice(&bytes).map_err(|e| {
        // Only what and where: serde's message quotes a value of the wrong type, which may be a
        // credential.
        let what = match e.classify() {
            serde_json::error::Category::Data => "a value of the wrong type",
            serde_json::error::Category::Eof => "the JSON ends early",
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => "a JSON syntax error",
        };
        let msg = format!("not a Docker config: {what} at line {}, column {}", e.line(), e.column());
        Error::config(
            file,
            Some(e.line()),
            msg,
            "fix it, or point DOCKER_CONFIG at the directory of another config.json",
        )
    })?;
    let helper = config.cred_helpers.iter().find(|(k, _)| names_registry(k, registry)).map(|(_, h)| h);
    if let Some(helper) = helper.or(config.creds_store.as_ref()) {
        let program = format!("docker-credential-{helper}");
        let server = if is_docker_hub(registry) { "https://index.docker.io/v1/" } else { registry };
        let fix = format!("install {program}, or remove it from {}", file.display());
        let found = ask_helper(Path::new(&program), server).map_err(|msg| Error::Push {
            what: format!("credentials for {registry}"),
            msg,
            fix,
        })?;
        if let Some(auth) = found {
            return Ok(Credentials { auth, source: format!("{program}, named in {}", file.display()) });
        }
    }
    let Some((key, entry)) = config.auths.iter().find(|(k, _)| names_registry(k, registry)) else {
        return anonymous(format!("no entry for {registry} in {}", file.display()));
    };
    let fix = format!("log in again: `docker login {registry}`");
    match entry.to_auth().map_err(|msg| Error::config(file, None, format!("auths.\"{key}\": {msg}"), fix))? {
        Some(auth) => Ok(Credentials { auth, source: format!("auths.\"{key}\" in {}", file.display()) }),
        None => anonymous(format!("auths.\"{key}\" in {} holds no credentials", file.display())),
    }
}

/// Asks a Docker credential helper for `server`'s credentials: `<program> get` with the server
/// URL on stdin answers `{"Username": …, "Secret": …}`; `None` when it has none for `server`.
fn ask_helper(program: &Path, server: &str) -> std::result::Result<Option<RegistryAuth>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Reply {
        username: String,
        secret: String,
    }
    let name = program.display();
    let run = || -> io::Result<std::process::Output> {
        let mut child = Command::new(program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().expect("stdin is piped").write_all(server.as_bytes())?;
        child.wait_with_output()
    };
    let out = run().map_err(|e| format!("cannot run `{name} get`: {e}"))?;
    if !out.status.success() {
        let said = format!("{} {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let said = said.trim();
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("`{name} get` failed ({}): {said}", out.status));
    }
    // The error names only the position: serde's message could quote the secret.
    let reply: Reply = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`{name} get` answered no credentials JSON (line {}, column {})", e.line(), e.column()))?;
    Ok((!reply.secret.is_empty()).then_some(RegistryAuth::Basic(reply.username, reply.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(config: &str, registry: &str) -> Credentials {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, config).unwrap();
        credentials(&file, registry).unwrap_or_else(|e| panic!("{e}"))
    }

    fn basic(user: &str, pass: &str) -> RegistryAuth {
        RegistryAuth::Basic(user.into(), pass.into())
    }

    #[test]
    fn docker_config_auths() {
        // `auth`: base64 of user:password; keys with a scheme and path name their host.
        let c = creds(r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dTpwOmFzcw=="}}}"#, "reg.example:5000");
        assert_eq!(c.auth, basic("u", "p:ass"));
        assert!(c.source.contains("auths.\"https://reg.example:5000/v1/\""), "{}", c.source);

        let c = creds(r#"{"auths":{"reg.example":{"username":"u","password":"p"}}}"#, "reg.example");
        assert_eq!(c.auth, basic("u", "p"));

        let c = creds(r#"{"auths":{"https://index.docker.io/v1/":{"identitytoken":"t"}}}"#, "index.docker.io");
        assert_eq!(c.auth, basic("<token>", "t"));

        // No match: another host, another port, or an entry without credentials.
        for registry in ["other.example", "reg.example:5000"] {
            let c = creds(r#"{"auths":{"reg.example":{"auth":"dTpw"}}}"#, registry);
            assert_eq!(c.auth, RegistryAuth::Anonymous);
            assert!(c.source.contains(&format!("no entry for {registry}")), "{}", c.source);
        }
        assert_eq!(creds(r#"{"auths":{"reg.example":{}}}"#, "reg.example").auth, RegistryAuth::Anonymous);

        let missing = credentials(Path::new("/nonexistent/config.json"), "reg.example").unwrap();
        assert_eq!(missing.auth, RegistryAuth::Anonymous);
    }

    #[test]
    fn docker_config_errors_name_the_file_and_never_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, r#"{"auths":{"reg.example":{"auth":"c2VjcmV0"}}}"#).unwrap();
        let msg = credentials(&file, "reg.example").err().unwrap().to_string();
        assert!(msg.contains(&file.display().to_string()) && msg.contains("user:password"), "{msg}");
        assert!(!msg.contains("secret") && !msg.contains("c2VjcmV0"), "{msg}");
        // An entry of the wrong type: serde would quote it.
        std::fs::write(&file, r#"{"auths":{"reg.example":"dTpzM2NyZXQ="}}"#).unwrap();
        let msg = credentials(&file, "reg.example").err().unwrap().to_string();
        assert!(msg.contains(&file.display().to_string()) && msg.contains("wrong type"), "{msg}");
        assert!(!msg.contains("dTpzM2NyZXQ="), "{msg}");
    }

    #[test]
    fn credential_helper_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-test");
        let script = r#"#!/bin/sh
[ "$1" = get ] || exit 3
read -r server
if [ "$server" = reg.example:5000 ]; then
  echo '{"ServerURL":"reg.example:5000","Username":"u","Secret":"s"}'
else
  echo "credentials not found in native keychain"; exit 1
fi
"#;
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert_eq!(ask_helper(&helper, "reg.example:5000").unwrap(), Some(basic("u", "s")));
        assert_eq!(ask_helper(&helper, "other.example").unwrap(), None);
        let err = ask_helper(&dir.path().join("docker-credential-none"), "x").unwrap_err();
        assert!(err.contains("docker-credential-none"), "{err}");
    }
}
