//! `[component]`: an upstream source (a pinned download or a package of this workspace) and the
//! files taken from it, parsed strictly; each error names the file, the line, the key and the fix.

use super::values::{check_abs_path, member_path, parse_ids, Ids};
use super::{line_of, Component, Download, Install, Source, SourceKind, WorkspaceBinary};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ComponentDef {
    version: String,
    license: String,
    homepage: Option<String>,
    revision: Option<String>,
    source: Spanned<SourceDef>,
    #[serde(default)]
    install: Vec<InstallDef>,
}

/// `[component.source]`: either `url` (with `checksums`, `format`, `max_entry_bytes`) or
/// `workspace` (with `binary`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceDef {
    url: Option<Spanned<String>>,
    checksums: Option<Spanned<String>>,
    format: Option<String>,
    max_entry_bytes: Option<u64>,
    workspace: Option<Spanned<String>>,
    binary: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallDef {
    from: Option<Spanned<String>>,
    to: Spanned<String>,
    mode: Option<Spanned<u32>>,
    owner: Option<Spanned<String>>,
    #[serde(default)]
    replace: bool,
}

/// One `[component]` of the spec file `file` (whose text is `text`), named `name`;
/// `whole_tree` is the component that may have no `install` entries (the appliance's base).
pub(super) fn parse(
    c: ComponentDef,
    name: &str,
    file: &Path,
    text: &str,
    whole_tree: Option<&str>,
) -> Result<Component> {
    let at = |s: std::ops::Range<usize>| Some(line_of(text, s.start));
    let source_line = at(c.source.span());
    let source = parse_source(c.source.into_inner(), file, &at)?;
    let kind = source.kind().ok_or_else(|| {
        Error::config(
            file,
            source_line,
            format!("component.source: cannot tell the archive format of {}", source.origin()),
            "set component.source.format to one of tar, tar.gz, tar.xz, tar.zst, zip, deb, file",
        )
    })?;
    let install = c.install.into_iter().map(|i| parse_install(i, kind, file, text)).collect::<Result<Vec<_>>>()?;
    if install.is_empty() && whole_tree != Some(name) {
        return Err(Error::config(
            file,
            None,
            "component has no [[component.install]] entries",
            "add at least one [[component.install]] with `from` and `to` (only the `base` of appliance.toml is taken whole)",
        ));
    }
    Ok(Component {
        name: name.to_string(),
        file: file.to_path_buf(),
        version: c.version,
        license: c.license,
        homepage: c.homepage,
        revision: c.revision,
        source,
        install,
    })
}

/// One `[[component.install]]` of a source of `kind`: `to` absolute and normalized, `from`
/// (only and always for an archive) a member path by the one rule of member paths, `mode` a
/// permission mode, `owner` numeric ids in range; each refusal placed at the line of its key.
fn parse_install(i: InstallDef, kind: SourceKind, file: &Path, text: &str) -> Result<Install> {
    let at = |s: std::ops::Range<usize>| Some(line_of(text, s.start));
    let line = line_of(text, i.to.span().start);
    let to = i.to.into_inner();
    check_abs_path(&to).map_err(|m| {
        Error::config(
            file,
            Some(line),
            format!("component.install.to: {m}"),
            "use an absolute, normalized path such as /usr/local/bin/livepeer",
        )
    })?;
    let from = match (kind, i.from) {
        (SourceKind::Archive(_), None) => {
            return Err(Error::config(
                file,
                Some(line),
                "component.install: `from` is missing",
                "name the member path inside the archive, e.g. from = \"livepeer-linux-amd64/livepeer\"",
            ))
        }
        (SourceKind::File | SourceKind::Workspace, Some(f)) => {
            return Err(Error::config(
                file,
                at(f.span()),
                "component.install.from: `from` given for a plain-file or workspace source, which has no members",
                "remove `from`: the source file (or the built binary) itself is installed",
            ))
        }
        (_, None) => None,
        (SourceKind::Archive(_), Some(f)) => Some(member_path(f.get_ref()).map_err(|m| {
            Error::config(
                file,
                at(f.span()),
                format!("component.install.from: {m}"),
                "name the file by its path inside the archive, relative to its root, e.g. from = \"livepeer-linux-amd64/livepeer\" (`tar tf` lists them)",
            )
        })?),
    };
    let mode = match i.mode {
        Some(m) if *m.get_ref() > 0o7777 => {
            return Err(Error::config(
                file,
                at(m.span()),
                format!("component.install.mode: {:#o} is not a permission mode", m.get_ref()),
                "write it in octal, at most 0o7777, e.g. mode = 0o755",
            ))
        }
        m => m.map(Spanned::into_inner),
    };
    let (uid, gid) = match i.owner {
        Some(o) => parse_ids(o.get_ref(), Ids::Owner).map_err(|m| {
            Error::config(file, at(o.span()), format!("component.install.owner: {m}"), Ids::Owner.fix())
        })?,
        None => (0, 0),
    };
    Ok(Install { from, to, mode, uid, gid, replace: i.replace, line })
}

/// The source of a component: a download whose URLs pass the one URL policy, or a workspace
/// package; never both.
fn parse_source(s: SourceDef, file: &Path, at: &dyn Fn(std::ops::Range<usize>) -> Option<usize>) -> Result<Source> {
    let url_key = |key: &str, u: Spanned<String>| -> Result<String> {
        crate::urls::source(u.get_ref())
            .map_err(|r| Error::config(file, at(u.span()), format!("component.source.{key}: {}", r.msg), r.fix))?;
        Ok(u.into_inner())
    };
    match (s.url, s.workspace) {
        (Some(url), None) => {
            if let Some(b) = s.binary {
                return Err(Error::config(
                    file,
                    at(b.span()),
                    "component.source.binary: only a workspace source has a binary",
                    "remove `binary`, or replace `url` with `workspace = \"PACKAGE\"`",
                ));
            }
            Ok(Source::Download(Download {
                url: url_key("url", url)?,
                checksums: s.checksums.map(|c| url_key("checksums", c)).transpose()?,
                format: s.format,
                max_entry_bytes: s.max_entry_bytes,
            }))
        }
        (None, Some(package)) => {
            let line = at(package.span());
            if s.checksums.is_some() || s.format.is_some() || s.max_entry_bytes.is_some() {
                return Err(Error::config(
                    file,
                    line,
                    "component.source: `checksums`, `format` and `max_entry_bytes` describe a download, not a workspace build",
                    "remove them: a workspace binary is built by cargo from this repository",
                ));
            }
            let package = package.into_inner();
            let binary = s.binary.map(Spanned::into_inner).unwrap_or_else(|| package.clone());
            for (key, v) in [("workspace", &package), ("binary", &binary)] {
                if !is_cargo_name(v) {
                    return Err(Error::config(
                        file,
                        line,
                        format!("component.source.{key}: `{v}` is not a cargo package or binary name"),
                        "name a package of this workspace, e.g. workspace = \"lpwatch\"",
                    ));
                }
            }
            Ok(Source::Workspace(WorkspaceBinary { package, binary }))
        }
        _ => Err(Error::config(
            file,
            None,
            "component.source: give exactly one of `url` (an upstream download) and `workspace` (a package of this workspace)",
            "e.g. url = \"https://.../livepeer-linux-amd64.tar.gz\", or workspace = \"lpwatch\"",
        )),
    }
}

/// A cargo package or target name: ASCII letters, digits, `-` and `_`, not starting with `-`.
fn is_cargo_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
