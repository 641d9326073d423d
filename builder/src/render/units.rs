//! The systemd unit files of the node's services, and the links that enable them
//! (`multi-user.target.wants/`). Directives come from the [`Unit`] in one fixed order; every
//! line is made by [`quote`]: command lines and `Environment=` as quoted words, every other
//! value as it is with `%` escaped, and a value that would end or continue its line refused.

use super::{Node, RenderedTree, Unit};
use crate::error::Result;
use crate::quote;
use std::collections::BTreeMap;

const DIR: &str = "/etc/systemd/system";
const FIX: &str = "the value comes from images/appliance.toml or an image's [image] table: change it there";
/// Directives whose value is a command line, already in systemd's syntax (see [`Unit::settings`]).
const COMMAND_LINES: &[&str] =
    &["ExecCondition", "ExecReload", "ExecStart", "ExecStartPost", "ExecStartPre", "ExecStop", "ExecStopPost"];

pub fn add(t: &mut RenderedTree, node: &Node) -> Result<()> {
    for (name, u) in &node.services {
        let name = quote::systemd_unit_name(name).map_err(|e| e.at(DIR, "a unit name", FIX))?;
        t.file(&format!("{DIR}/{name}"), 0o644, text(name, u)?.into_bytes());
        t.symlink(&format!("{DIR}/multi-user.target.wants/{name}"), &format!("{DIR}/{name}"));
    }
    Ok(())
}

/// A unit file being written: its path (named in refusals) and its text.
struct UnitFile {
    path: String,
    s: String,
}

impl UnitFile {
    /// `key=text`, `text` already quoted for systemd.
    fn quoted(&mut self, key: &str, text: quote::Quoted) -> Result<()> {
        let line = text.and_then(|t| quote::systemd_line(key, &t)).map_err(|e| e.at(&self.path, key, FIX))?;
        self.s.push_str(&line);
        Ok(())
    }

    /// `key=value`, `value` as it is.
    fn value(&mut self, key: &str, value: &str) -> Result<()> {
        self.quoted(key, quote::systemd_value(value))
    }

    /// Every value of every key, one line each.
    fn values(&mut self, map: &BTreeMap<String, Vec<String>>) -> Result<()> {
        for (k, vs) in map {
            for v in vs {
                self.value(k, v)?;
            }
        }
        Ok(())
    }
}

/// The unit file of service `name`.
pub fn text(name: &str, u: &Unit) -> Result<String> {
    let mut f = UnitFile {
        path: format!("{DIR}/{name}"),
        s: format!("# {name}: rendered by lpbake from images/appliance.toml.\n[Unit]\n"),
    };
    f.value("Description", &u.description)?;
    for m in &u.requires_mounts {
        f.value("RequiresMountsFor", m)?;
    }
    f.values(&u.unit)?;
    f.s.push_str("\n[Service]\n");
    f.value("User", &u.user)?;
    f.value("Group", &u.group)?;
    f.quoted("ExecStart", quote::systemd_command(&u.argv))?;
    if let Some(w) = &u.service.workdir {
        f.value("WorkingDirectory", w)?;
    }
    for (k, v) in &u.service.env {
        f.quoted("Environment", quote::systemd_environment(k, v))?;
    }
    for (cname, c) in &u.credentials {
        f.quoted("LoadCredential", quote::systemd_credential(cname, &c.source))?;
    }
    for (k, vs) in &u.settings {
        for v in vs {
            if COMMAND_LINES.contains(&k.as_str()) {
                f.quoted(k, Ok(v.clone()))?;
            } else {
                f.value(k, v)?;
            }
        }
    }
    for (k, v) in &u.limits {
        f.value(k, v)?;
    }
    f.s.push_str("\n# Sandbox (systemd-analyze security: exposure at most 2.0).\n");
    f.values(&u.hardening)?;
    f.s.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    Ok(f.s)
}
