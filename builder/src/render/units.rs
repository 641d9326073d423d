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

/// The unit file of service `name`.
pub fn text(name: &str, u: &Unit) -> String {
    let mut s = format!("# {name}: rendered by lpbake from images/appliance.toml.\n[Unit]\n");
    line(&mut s, "Description", &u.description);
    for m in &u.requires_mounts {
        line(&mut s, "RequiresMountsFor", m);
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
    use super::quote;

    #[test]
    fn words_are_quoted_for_systemd() {
        assert_eq!(quote("-network"), "-network");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("100%"), "100%%");
        assert_eq!(quote("$HOME"), "$$HOME");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
