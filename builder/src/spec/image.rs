//! `[image]`: the base, the components layered on it and the runtime fields, checked one by one
//! into a [`Service`], which is then checked as a whole.

use super::read;
use super::values::{check_abs_path, parse_ids, Ids};
use super::{line_of, Credential, Image, Port, Service, User};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImageDef {
    base: String,
    components: Vec<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    user: Spanned<String>,
    entrypoint: Option<Spanned<Vec<String>>>,
    cmd: Option<Spanned<Vec<String>>>,
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    volumes: Vec<Spanned<String>>,
    #[serde(default)]
    ports: Vec<Spanned<String>>,
    #[serde(default)]
    credentials: BTreeMap<String, Spanned<CredentialDef>>,
}

/// `[image.credentials]`: `NAME = { flag = "-ethPassword" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialDef {
    flag: String,
}

/// `[image]`: its runtime fields checked one by one into a [`Service`], which is then checked
/// as a whole (a [`service::Violation`] is placed by the line of its key).
pub(super) fn parse(name: String, file: &Path, text: &str, i: ImageDef) -> Result<Image> {
    let at = |s: std::ops::Range<usize>| Some(line_of(text, s.start));
    let mut lines = BTreeMap::new();
    let (uid, gid) = parse_ids(i.user.get_ref(), Ids::User)
        .map_err(|m| Error::config(file, at(i.user.span()), format!("image.user: {m}"), Ids::User.fix()))?;
    let paths = |v: Vec<Spanned<String>>, key: &str| -> Result<Vec<String>> {
        v.into_iter()
            .map(|p| {
                let line = at(p.span());
                let p = p.into_inner();
                check_abs_path(&p).map_err(|m| {
                    Error::config(
                        file,
                        line,
                        format!("image.{key}: {m}"),
                        "use an absolute, normalized path such as /var/lib/livepeer",
                    )
                })?;
                Ok(p)
            })
            .collect()
    };
    let state_dirs = paths(i.volumes, "volumes")?.into_iter().collect();
    let workdir = paths(i.workdir.into_iter().collect(), "workdir")?.pop();
    let mut ports = BTreeSet::new();
    for p in i.ports {
        lines.entry("image.ports".to_string()).or_insert(at(p.span()));
        ports.insert(p.get_ref().parse::<Port>().map_err(|m| {
            Error::config(
                file,
                at(p.span()),
                format!("image.ports: {m}"),
                "write ports like \"8935/tcp\" or \"30303/udp\"",
            )
        })?);
    }
    let mut env = BTreeMap::new();
    for (k, v) in i.env {
        if k.is_empty() || k.contains('=') {
            return Err(Error::config(
                file,
                at(v.span()),
                format!("image.env: `{k}` is not a variable name"),
                "use NAME = \"value\" with no '=' in NAME",
            ));
        }
        lines.insert(format!("image.env.{k}"), at(v.span()));
        env.insert(k, v.into_inner());
    }
    let mut credentials = BTreeMap::new();
    for (name, c) in i.credentials {
        let line = at(c.span());
        let c = c.into_inner();
        if !read::is_path_name(&name) {
            return Err(Error::config(
                file,
                line,
                format!("image.credentials: `{name}` is not a valid credential name (it becomes a file name)"),
                "use lowercase letters, digits, `.`, `_` and `-`, e.g. eth-password",
            ));
        }
        if !c.flag.starts_with('-') || c.flag.len() < 2 {
            return Err(Error::config(
                file,
                line,
                format!("image.credentials.{name}.flag: `{}` is not a command-line flag", c.flag),
                "name the flag that takes the credential file's path, e.g. flag = \"-ethPassword\"",
            ));
        }
        credentials.insert(name, Credential { flag: c.flag });
    }
    let entrypoint = i.entrypoint.map(|e| {
        lines.insert("image.entrypoint".to_string(), at(e.span()));
        e.into_inner()
    });
    let cmd = i.cmd.map(|c| {
        lines.insert("image.cmd".to_string(), at(c.span()));
        c.into_inner()
    });
    let service = Service {
        user: User { uid, gid },
        entrypoint: entrypoint.unwrap_or_default(),
        cmd,
        env,
        workdir,
        state_dirs,
        ports,
        credentials,
    };
    service.check().map_err(|v| {
        let line = lines.get(&v.key).copied().flatten();
        Error::config(file, line, format!("{}: {}", v.key, v.msg), v.fix)
    })?;
    let components =
        i.components.into_iter().map(|c| (c.get_ref().clone(), line_of(text, c.span().start))).collect::<Vec<_>>();
    Ok(Image {
        name,
        file: file.to_path_buf(),
        base: i.base,
        components: components.iter().map(|(c, _)| c.clone()).collect(),
        component_lines: components.iter().map(|(_, l)| *l).collect(),
        service,
        labels: i.labels,
    })
}
