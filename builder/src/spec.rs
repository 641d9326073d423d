//! The declarative description (`images/*.toml`): components (pinned upstream sources and the
//! files taken from them) and images (base, components, runtime config). Parsing is strict
//! (`deny_unknown_fields`), and every error names the file, line, key and the fix.

use crate::error::{Error, IoContext, Result};
use crate::unpack::Format;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Every component and image of a spec directory, keyed by name (the file stem).
#[derive(Debug, Clone)]
pub struct Spec {
    pub dir: PathBuf,
    pub components: BTreeMap<String, Component>,
    pub images: BTreeMap<String, Image>,
}

/// An upstream artifact and the files lpbake takes from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub file: PathBuf,
    pub version: String,
    pub license: String,
    pub homepage: Option<String>,
    /// Upstream revision (tag or commit) the source was built from.
    pub revision: Option<String>,
    pub source: Source,
    pub install: Vec<Install>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Where the bytes come from: https://, http://127.0.0.1, or file://.
    pub url: String,
    /// A sha256sum-format file listing this source's file name: where `lpbake lock` reads the pin.
    pub checksums: Option<String>,
    /// Archive format; guessed from the URL when absent. "file" means: not an archive.
    pub format: Option<String>,
    /// Largest single member accepted, in bytes (size-bomb guard).
    pub max_entry_bytes: Option<u64>,
}

/// What a source is, once its format is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Archive(Format),
    File,
}

impl Source {
    pub fn kind(&self) -> Option<SourceKind> {
        match self.format.as_deref() {
            Some("file") => Some(SourceKind::File),
            Some(f) => Format::detect(&format!("x.{f}")).map(SourceKind::Archive),
            None => Format::detect(&self.url).map(SourceKind::Archive),
        }
    }

    /// The last path segment of the URL: how checksums files name it.
    pub fn file_name(&self) -> &str {
        let path = self.url.split(['?', '#']).next().unwrap_or("");
        path.rsplit('/').next().unwrap_or(path)
    }
}

/// One file placed into the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// Member path inside the archive (absent for a plain-file source).
    pub from: Option<String>,
    /// Absolute destination path in the image.
    pub to: String,
    pub mode: Option<u32>,
    pub uid: u32,
    pub gid: u32,
}

/// An OCI image: a base, the components layered on it, and its runtime config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    pub file: PathBuf,
    /// Base image reference, or "scratch".
    pub base: String,
    pub components: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    pub entrypoint: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub env: BTreeMap<String, String>,
    pub volumes: Vec<String>,
    pub ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Line of each entry of `components`, for errors found once every file is read.
    component_lines: Vec<usize>,
}

impl Image {
    /// The version the image is tagged with: its first component's.
    pub fn version<'a>(&self, spec: &'a Spec) -> &'a str {
        self.components.first().and_then(|c| spec.components.get(c)).map(|c| c.version.as_str()).unwrap_or("latest")
    }
}

// ---- the file format, as parsed ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    component: Option<ComponentDef>,
    image: Option<ImageDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentDef {
    version: String,
    license: String,
    homepage: Option<String>,
    revision: Option<String>,
    source: Source,
    #[serde(default)]
    install: Vec<InstallDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallDef {
    from: Option<String>,
    to: Spanned<String>,
    mode: Option<u32>,
    owner: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageDef {
    base: String,
    components: Vec<Spanned<String>>,
    user: Spanned<String>,
    #[serde(default)]
    entrypoint: Vec<String>,
    cmd: Option<Vec<String>>,
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    volumes: Vec<Spanned<String>>,
    #[serde(default)]
    ports: Vec<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Reads every `*.toml` of `dir` (sorted by name) except `appliance.toml`, which describes the
/// disk image and has its own reader.
pub fn load(dir: &Path) -> Result<Spec> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::config(
            dir,
            None,
            format!("cannot read the spec directory: {e}"),
            "pass --spec DIR pointing at the folder with the component *.toml files",
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.file_name().is_some_and(|n| n != "appliance.toml"))
        .collect();
    files.sort();
    let mut spec = Spec { dir: dir.to_path_buf(), components: BTreeMap::new(), images: BTreeMap::new() };
    for file in &files {
        let text = std::fs::read_to_string(file).at(file)?;
        parse_file(&mut spec, file, &text)?;
    }
    if spec.images.is_empty() {
        return Err(Error::config(
            dir,
            None,
            "no [image] is defined in any *.toml here",
            "add an [image] table to a component file (see images/livepeer.toml in the lpbake repository)",
        ));
    }
    validate_images(&spec)?;
    Ok(spec)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

fn parse_file(spec: &mut Spec, file: &Path, text: &str) -> Result<()> {
    let parsed: SpecFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        Error::config(
            file,
            line,
            e.message().trim().to_string(),
            "compare with the spec reference in README.md (`lpbake build --help` lists the files read)",
        )
    })?;
    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let at = |s: std::ops::Range<usize>| Some(line_of(text, s.start));
    if let Some(c) = parsed.component {
        let kind = c.source.kind().ok_or_else(|| {
            Error::config(
                file,
                None,
                format!("component.source: cannot tell the archive format of {}", c.source.url),
                "set component.source.format to one of tar, tar.gz, tar.xz, tar.zst, zip, deb, file",
            )
        })?;
        let mut install = Vec::new();
        for i in c.install {
            let line = at(i.to.span());
            let to = i.to.into_inner();
            check_abs_path(&to).map_err(|m| {
                Error::config(
                    file,
                    line,
                    format!("component.install.to: {m}"),
                    "use an absolute, normalized path such as /usr/local/bin/livepeer",
                )
            })?;
            match (kind, &i.from) {
                (SourceKind::Archive(_), None) => {
                    return Err(Error::config(
                        file,
                        line,
                        "component.install: `from` is missing",
                        "name the member path inside the archive, e.g. from = \"livepeer-linux-amd64/livepeer\"",
                    ))
                }
                (SourceKind::File, Some(_)) => {
                    return Err(Error::config(
                        file,
                        line,
                        "component.install: `from` given for a plain-file source",
                        "remove `from`: the source file itself is installed",
                    ))
                }
                _ => {}
            }
            if let Some(m) = i.mode {
                if m > 0o7777 {
                    return Err(Error::config(
                        file,
                        line,
                        format!("component.install.mode {m:#o} is not a permission mode"),
                        "write it in octal, e.g. mode = 0o755",
                    ));
                }
            }
            let (uid, gid) = match i.owner {
                Some(o) => parse_ids(o.get_ref()).map_err(|m| {
                    Error::config(
                        file,
                        at(o.span()),
                        format!("component.install.owner: {m}"),
                        "write numeric ids as \"uid:gid\", e.g. \"0:0\"",
                    )
                })?,
                None => (0, 0),
            };
            install.push(Install {
                from: i.from.map(|f| f.trim_start_matches("./").to_string()),
                to,
                mode: i.mode,
                uid,
                gid,
            });
        }
        if install.is_empty() {
            return Err(Error::config(
                file,
                None,
                "component has no [[component.install]] entries",
                "add at least one [[component.install]] with `from` and `to`",
            ));
        }
        spec.components.insert(
            name.clone(),
            Component {
                name: name.clone(),
                file: file.to_path_buf(),
                version: c.version,
                license: c.license,
                homepage: c.homepage,
                revision: c.revision,
                source: c.source,
                install,
            },
        );
    }
    if let Some(i) = parsed.image {
        let (uid, gid) = parse_ids(i.user.get_ref()).map_err(|m| {
            Error::config(
                file,
                at(i.user.span()),
                format!("image.user: {m}"),
                "write numeric ids as \"uid:gid\", e.g. \"65532:65532\"",
            )
        })?;
        if uid == 0 {
            return Err(Error::config(
                file,
                at(i.user.span()),
                "image.user is root (uid 0)",
                "run the image as a non-root numeric user, e.g. \"65532:65532\"",
            ));
        }
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
        let volumes = paths(i.volumes, "volumes")?;
        let workdir = paths(i.workdir.into_iter().collect(), "workdir")?.pop();
        let mut ports = Vec::new();
        for p in i.ports {
            let ok = p.get_ref().split_once('/').is_some_and(|(n, proto)| {
                n.parse::<u16>().is_ok_and(|n| n > 0) && matches!(proto, "tcp" | "udp" | "sctp")
            });
            if !ok {
                return Err(Error::config(
                    file,
                    at(p.span()),
                    format!("image.ports: `{}` is not PORT/PROTO", p.get_ref()),
                    "write ports like \"8935/tcp\"",
                ));
            }
            ports.push(p.into_inner());
        }
        let components =
            i.components.into_iter().map(|c| (c.get_ref().clone(), line_of(text, c.span().start))).collect::<Vec<_>>();
        for k in i.env.keys() {
            if k.is_empty() || k.contains('=') {
                return Err(Error::config(
                    file,
                    None,
                    format!("image.env: `{k}` is not a variable name"),
                    "use NAME = \"value\" with no '=' in NAME",
                ));
            }
        }
        spec.images.insert(
            name.clone(),
            Image {
                name,
                file: file.to_path_buf(),
                base: i.base,
                components: components.iter().map(|(c, _)| c.clone()).collect(),
                component_lines: components.iter().map(|(_, l)| *l).collect(),
                uid,
                gid,
                entrypoint: i.entrypoint,
                cmd: i.cmd,
                workdir,
                env: i.env,
                volumes,
                ports,
                labels: i.labels,
            },
        );
    }
    Ok(())
}

/// Cross-file checks: every image names existing components, and no two components of one
/// image install the same path.
fn validate_images(spec: &Spec) -> Result<()> {
    for img in spec.images.values() {
        let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
        for (c, line) in img.components.iter().zip(&img.component_lines) {
            let comp = spec.components.get(c).ok_or_else(|| {
                let known = spec.components.keys().cloned().collect::<Vec<_>>().join(", ");
                Error::config(
                    &img.file,
                    Some(*line),
                    format!("image.components: no component named `{c}`"),
                    format!("components are the *.toml files with a [component] table: {known}"),
                )
            })?;
            for i in &comp.install {
                if let Some(prev) = owners.insert(&i.to, c) {
                    return Err(Error::config(
                        &img.file,
                        Some(*line),
                        format!("image.components: `{c}` and `{prev}` both install {}", i.to),
                        "change one component's `to` path or drop one component from this image",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// "uid:gid" with numeric ids.
fn parse_ids(s: &str) -> std::result::Result<(u32, u32), String> {
    let (u, g) = s.split_once(':').ok_or_else(|| format!("`{s}` is not uid:gid"))?;
    let num = |x: &str| x.parse::<u32>().map_err(|_| format!("`{x}` in `{s}` is not a numeric id"));
    Ok((num(u)?, num(g)?))
}

/// An absolute path with no empty, `.` or `..` components and no trailing slash.
fn check_abs_path(p: &str) -> std::result::Result<(), String> {
    let rest = p.strip_prefix('/').ok_or_else(|| format!("`{p}` is not absolute"))?;
    if rest.is_empty() || rest.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!("`{p}` is not a normalized path"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(files: &[(&str, &str)]) -> Result<Spec> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        load(dir.path())
    }

    const FFMPEG: &str = indoc::indoc! {r#"
        [component]
        version = "1"
        license = "GPL"
        [component.source]
        url = "https://example.invalid/ff.tar.xz"
        [[component.install]]
        from = "ff/bin/ffmpeg"
        to = "/usr/local/bin/ffmpeg"
        mode = 0o755
        [image]
        base = "scratch"
        components = ["ffmpeg"]
        user = "65532:65532"
    "#};

    #[test]
    fn loads_the_repository_spec() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../images");
        let spec = load(&dir).unwrap();
        assert_eq!(spec.images.keys().collect::<Vec<_>>(), ["ffmpeg", "geth", "livepeer"]);
        let lp = &spec.images["livepeer"];
        assert_eq!(lp.components, ["livepeer", "ffmpeg"]);
        assert_ne!(lp.uid, 0);
        assert_eq!(spec.components["livepeer"].source.kind(), Some(SourceKind::Archive(Format::TarGz)));
        assert_eq!(spec.components["ffmpeg"].source.kind(), Some(SourceKind::Archive(Format::TarXz)));
        assert_eq!(spec.components["livepeer"].source.file_name(), "livepeer-linux-amd64.tar.gz");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let bad = FFMPEG.replace("mode = 0o755", "mode = 0o755\nmdoe = 1");
        let err = spec_with(&[("ffmpeg.toml", &bad)]).unwrap_err().to_string();
        assert!(err.contains("ffmpeg.toml:10"), "{err}");
        assert!(err.contains("mdoe"), "{err}");
        assert!(err.contains("fix:"), "{err}");
    }

    #[test]
    fn root_user_is_refused() {
        let bad = FFMPEG.replace("65532:65532", "0:0");
        let err = spec_with(&[("ffmpeg.toml", &bad)]).unwrap_err().to_string();
        assert!(err.contains("ffmpeg.toml:13") && err.contains("root"), "{err}");
    }

    #[test]
    fn unknown_component_is_named_with_its_line() {
        let bad = FFMPEG.replace("components = [\"ffmpeg\"]", "components = [\"ffmpeg\", \"nope\"]");
        let err = spec_with(&[("ffmpeg.toml", &bad)]).unwrap_err().to_string();
        assert!(err.contains("ffmpeg.toml:12") && err.contains("`nope`"), "{err}");
    }

    #[test]
    fn relative_install_path_is_refused() {
        let bad = FFMPEG.replace("to = \"/usr/local/bin/ffmpeg\"", "to = \"usr/../bin\"");
        let err = spec_with(&[("ffmpeg.toml", &bad)]).unwrap_err().to_string();
        assert!(err.contains("ffmpeg.toml:8") && err.contains("not absolute"), "{err}");
    }

    #[test]
    fn bad_port_is_refused() {
        let bad = FFMPEG.replace("user = \"65532:65532\"", "user = \"65532:65532\"\nports = [\"http\"]");
        let err = spec_with(&[("ffmpeg.toml", &bad)]).unwrap_err().to_string();
        assert!(err.contains("ffmpeg.toml:14") && err.contains("PORT/PROTO"), "{err}");
    }
}
