//! The systemd unit files of the node's services, and the links that enable them
//! (`multi-user.target.wants/`). Directives come from the [`Unit`] in one fixed order;
//! command-line words are quoted and escaped for systemd (`%` and `$` are literal).

use super::{Node, RenderedTree, Unit};
use std::fmt::Write;

const DIR: &str = "/etc/systemd/system";

pub fn add(t: &mut RenderedTree, node: &Node) {
    for (name, u) in &node.services {
        t.file(&format!("{DIR}/{name}"), 0o644, text(name, u).into_bytes());
        t.symlink(&format!("{DIR}/multi-user.target.wants/{name}"), &format!("{DIR}/{name}"));
    }
}

/// One word of `ExecStart=`: as is when plain, else double-quoted with C escapes; `%` and `$`
/// doubled so systemd takes them literally.
pub fn quote(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    let plain =
        !escaped.is_empty() && !escaped.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'));
    if plain {
        return escaped;
    }
    let mut s = String::from("\"");
    for c in escaped.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn line(s: &mut String, k: &str, v: &str) {
    let _ = writeln!(s, "{k}={v}");
}

/// The mount unit of absolute path `path` (`/var/lib/livepeer` -> `var-lib-livepeer.mount`), as
/// `systemd-escape --path --suffix=mount` names it.
fn mount_unit(path: &str) -> String {
    let escaped: String = path
        .trim_matches('/')
        .chars()
        .map(|c| match c {
            '/' => "-".to_string(),
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' => c.to_string(),
            c => format!("\\x{:02x}", c as u32),
        })
        .collect();
    format!("{escaped}.mount")
}

/// The unit file of service `name`.
pub fn text(name: &str, u: &Unit) -> String {
    let mut s = format!("# {name}: rendered by lpbake from images/appliance.toml.\n[Unit]\n");
    line(&mut s, "Description", &u.description);
    // Not RequiresMountsFor=: a failed mount would fail this unit as a bare "dependency", with
    // the reason only in the journal. Wanted and ordered after it, the unit checks the mount
    // itself (AssertPathIsMountPoint=), and its status names the missing volume.
    for m in &u.requires_mounts {
        let mount = mount_unit(m);
        line(&mut s, "Wants", &mount);
        line(&mut s, "After", &mount);
    }
    for (k, vs) in &u.unit {
        for v in vs {
            line(&mut s, k, v);
        }
    }
    s.push_str("\n[Service]\n");
    line(&mut s, "User", &u.user);
    line(&mut s, "Group", &u.group);
    let argv: Vec<String> = u.argv.iter().map(|w| quote(w)).collect();
    line(&mut s, "ExecStart", &argv.join(" "));
    if let Some(w) = &u.service.workdir {
        line(&mut s, "WorkingDirectory", w);
    }
    for (k, v) in &u.service.env {
        line(&mut s, "Environment", &quote(&format!("{k}={v}")));
    }
    for (cname, c) in &u.credentials {
        line(&mut s, "LoadCredential", &format!("{cname}:{}", c.source));
    }
    for (k, vs) in &u.settings {
        for v in vs {
            line(&mut s, k, v);
        }
    }
    for (k, v) in &u.limits {
        line(&mut s, k, v);
    }
    s.push_str("\n# Sandbox (systemd-analyze security: exposure at most 2.0).\n");
    for (k, vs) in &u.hardening {
        for v in vs {
            line(&mut s, k, v);
        }
    }
    s.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    s
}

#[cfg(test)]
mod tests {
    use super::{mount_unit, quote};

    #[test]
    fn mount_units_are_named_as_systemd_escapes_paths() {
        assert_eq!(mount_unit("/var/lib/livepeer"), "var-lib-livepeer.mount");
        assert_eq!(mount_unit("/srv/lp-data"), "srv-lp\\x2ddata.mount");
    }

    #[test]
    fn words_are_quoted_for_systemd() {
        assert_eq!(quote("-network"), "-network");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("100%"), "100%%");
        assert_eq!(quote("$HOME"), "$$HOME");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
