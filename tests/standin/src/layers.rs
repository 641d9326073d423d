//! The lower-priority configuration layers of peterbourgon/ff v3, as livepeer uses them:
//! `LP_<NAME>` environment variables, then a `-config` file of `name value` lines.
//! A flag given on the command line is never overridden; one given by the environment beats the file.

use std::io::ErrorKind;

use crate::flags::FlagSet;

/// Sets every flag not given on the command line from its `LP_<NAME UPPERCASED>` variable, if non-empty.
pub fn apply_env(fs: &mut FlagSet, lookup: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    let given = fs.given();
    let names: Vec<&'static str> = fs.names().filter(|n| !given.contains(n)).collect();
    for name in names {
        let key = format!("LP_{}", name.to_uppercase().replace(['-', '.', '/'], "_"));
        let Some(value) = lookup(&key).filter(|v| !v.is_empty()) else {
            continue;
        };
        fs.set(name, &value)
            .map_err(|e| format!("error parsing env vars: error setting flag {name:?} from env var {key:?}: {e}"))?;
    }
    Ok(())
}

/// Reads the file named by `-config` (if any) and sets the flags not given by the command line or environment.
pub fn apply_config_file(fs: &mut FlagSet) -> Result<(), String> {
    let Some(path) = fs.get("config").filter(|p| !p.is_empty()).map(str::to_string) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("open {path}: {}", go_io_error(&e)))?;
    let given = fs.given();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, mut value) = match line.split_once(' ') {
            Some((name, value)) => (name, value.trim()),
            None => (line, "true"),
        };
        if let Some(at) = value.find(" #") {
            value = value[..at].trim();
        }
        if given.contains(name) {
            continue;
        }
        if !fs.is_defined(name) {
            return Err(format!("config file flag {name:?} not defined in flag set"));
        }
        fs.set(name, value).map_err(|e| format!("error setting flag {name:?} from config file: {e}"))?;
    }
    Ok(())
}

/// The wording Go's `os` package uses for common I/O errors.
fn go_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "no such file or directory".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::IsADirectory => "is a directory".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn command_line_beats_env_beats_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lp.conf");
        std::fs::write(&file, "# comment\n\ncliAddr :1\nhttpAddr :2 # trailing\nrtmpAddr :3\ngateway\n").unwrap();
        let mut fs = FlagSet::livepeer();
        let args = vec!["-config".to_string(), file.display().to_string(), "-cliAddr".into(), ":9".into()];
        fs.parse_args(&args).unwrap();
        apply_env(&mut fs, env(&[("LP_CLIADDR", ":8"), ("LP_HTTPADDR", ":7"), ("LP_MONITOR", "")])).unwrap();
        apply_config_file(&mut fs).unwrap();
        assert_eq!(fs.get("cliAddr"), Some(":9"));
        assert_eq!(fs.get("httpAddr"), Some(":7"));
        assert_eq!(fs.get("rtmpAddr"), Some(":3"));
        assert!(fs.bool("gateway"));
        assert_eq!(fs.get("monitor"), None);
    }

    #[test]
    fn errors_are_worded_like_ff() {
        let mut fs = FlagSet::livepeer();
        let err = apply_env(&mut fs, env(&[("LP_ORCHESTRATOR", "yes")])).unwrap_err();
        assert_eq!(
            err,
            "error parsing env vars: error setting flag \"orchestrator\" from env var \"LP_ORCHESTRATOR\": parse error"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.conf");
        std::fs::write(&file, "nope 1\n").unwrap();
        let mut fs = FlagSet::livepeer();
        fs.set("config", &file.display().to_string()).unwrap();
        assert_eq!(apply_config_file(&mut fs).unwrap_err(), "config file flag \"nope\" not defined in flag set");

        fs.set("config", "/nonexistent/lp.conf").unwrap();
        assert_eq!(apply_config_file(&mut fs).unwrap_err(), "open /nonexistent/lp.conf: no such file or directory");
    }
}
