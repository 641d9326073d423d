//! The declarative description (`images/*.toml`): components (pinned upstream sources and the
//! files taken from them) and images (base, components, runtime config). Parsing is strict
//! (`deny_unknown_fields`), and every error names the file, line, key and the fix. This file
//! holds the typed spec and reads a spec directory; `component.rs` and `image.rs` parse the two
//! tables, `values.rs` holds the rules for owners and paths, `read.rs` reads files safely and
//! names things. How an image's program runs is the runtime-neutral [`Service`] (`service.rs`);
//! the disk's node is `appliance.rs`.

pub mod appliance;
mod component;
mod image;
mod read;
pub mod service;
mod values;

pub use appliance::{Appliance, Role};
pub use service::{Credential, Port, Protocol, Service, User};

use crate::error::{Error, Result};
use crate::unpack::Format;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every component and image of a spec directory, keyed by name (the file stem).
#[derive(Debug, Clone)]
pub struct Spec {
    pub dir: PathBuf,
    pub components: BTreeMap<String, Component>,
    pub images: BTreeMap<String, Image>,
    /// The node of the disk image (`appliance.toml`), when the spec has one.
    pub appliance: Option<Appliance>,
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

/// Where a component's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An upstream artifact, downloaded and pinned by sha256 in the lock.
    Download(Download),
    /// A binary built from this cargo workspace (`workspace.rs`); not pinned in the lock, since
    /// its bytes follow from the workspace itself (Cargo.lock, rust-toolchain.toml).
    Workspace(WorkspaceBinary),
}

/// A cargo package of the workspace holding the spec directory, and the binary taken from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceBinary {
    pub package: String,
    pub binary: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// Where the bytes come from: https://, http://127.0.0.1, or file:// (checked by
    /// [`crate::urls::source`]: no credentials in it).
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
    Workspace,
}

impl Source {
    pub fn kind(&self) -> Option<SourceKind> {
        match self {
            Source::Download(d) => d.kind(),
            Source::Workspace(_) => Some(SourceKind::Workspace),
        }
    }

    /// The download, for a downloaded source.
    pub fn download(&self) -> Option<&Download> {
        match self {
            Source::Download(d) => Some(d),
            Source::Workspace(_) => None,
        }
    }

    /// Where the source comes from, as image history lines and reports say it.
    pub fn origin(&self) -> String {
        match self {
            Source::Download(d) => d.url.clone(),
            Source::Workspace(w) => format!("workspace package {} (binary {})", w.package, w.binary),
        }
    }
}

impl Download {
    fn kind(&self) -> Option<SourceKind> {
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
    /// Member path inside the archive (absent for a plain-file or workspace source).
    pub from: Option<String>,
    /// Absolute destination path in the image.
    pub to: String,
    pub mode: Option<u32>,
    pub uid: u32,
    pub gid: u32,
    /// Whether `to` may replace a file or directory the base provides (`replace = true`).
    pub replace: bool,
    /// The line of `to` in the component's file, for errors found once the base is known.
    pub line: usize,
}

/// An OCI image: a base, the components layered on it, and its runtime config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    pub file: PathBuf,
    /// Base image reference, or "scratch".
    pub base: String,
    pub components: Vec<String>,
    /// How the image's program runs.
    pub service: Service,
    pub labels: BTreeMap<String, String>,
    /// Line of each entry of `components`, for errors found once every file is read.
    component_lines: Vec<usize>,
}

impl Spec {
    /// Every downloaded (lock-pinned) source, with its component, in name order.
    pub fn downloads(&self) -> impl Iterator<Item = (&Component, &Download)> {
        self.components.values().filter_map(|c| Some((c, c.source.download()?)))
    }
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
    component: Option<component::ComponentDef>,
    image: Option<image::ImageDef>,
}

/// Reads every `*.toml` of `dir` (sorted by name); `appliance.toml`, which describes the disk
/// image, has its own reader (`appliance.rs`), and its `base` component may have no `install`
/// entries (its whole tree is the root filesystem).
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
    let appliance_file = dir.join(appliance::FILE);
    let appliance = match std::fs::symlink_metadata(&appliance_file) {
        Ok(_) => Some(appliance::load(&appliance_file)?),
        Err(_) => None,
    };
    let base = appliance.as_ref().map(|a| a.base.clone());
    let mut spec = Spec { dir: dir.to_path_buf(), components: BTreeMap::new(), images: BTreeMap::new(), appliance };
    for file in &files {
        let text = read::bounded_text(file)?;
        parse_file(&mut spec, file, &text, base.as_deref())?;
    }
    if let Some(a) = &spec.appliance {
        a.check_base(&spec.components)?;
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

/// `whole_tree`: the component that may have no `install` entries (the appliance's base).
fn parse_file(spec: &mut Spec, file: &Path, text: &str, whole_tree: Option<&str>) -> Result<()> {
    let parsed: SpecFile = toml::from_str(text).map_err(|e| {
        let (line, message) = lpbake_rules::redact::toml_error(text, &e);
        Error::config(
            file,
            line,
            message,
            "compare with the spec reference in README.md (`lpbake build --help` lists the files read)",
        )
    })?;
    let name = read::name_of(file)?;
    if let Some(c) = parsed.component {
        spec.components.insert(name.clone(), component::parse(c, &name, file, text, whole_tree)?);
    }
    if let Some(i) = parsed.image {
        spec.images.insert(name.clone(), image::parse(name, file, text, i)?);
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
        assert_eq!(
            spec.images.keys().collect::<Vec<_>>(),
            ["alertmanager", "ffmpeg", "geth", "livepeer", "lpwatch", "prometheus"]
        );
        let lp = &spec.images["livepeer"];
        assert_eq!(lp.components, ["livepeer", "ffmpeg"]);
        assert_ne!(lp.service.user.uid, 0);
        assert_eq!(lp.service.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>(), ["8935/tcp"]);
        let lpwatch = WorkspaceBinary { package: "lpwatch".into(), binary: "lpwatch".into() };
        assert_eq!(spec.components["lpwatch"].source, Source::Workspace(lpwatch));
        assert_eq!(spec.components["livepeer"].source.kind(), Some(SourceKind::Archive(Format::TarGz)));
        assert_eq!(spec.components["ffmpeg"].source.kind(), Some(SourceKind::Archive(Format::TarXz)));
        assert_eq!(spec.components["livepeer"].source.download().unwrap().file_name(), "livepeer-linux-amd64.tar.gz");
        let appliance = spec.appliance.as_ref().unwrap();
        assert!(spec.components[&appliance.base].install.is_empty(), "the appliance's base is taken whole");
    }

    #[test]
    fn only_the_appliance_base_may_have_no_install() {
        let whole = FFMPEG.replace(
            "[[component.install]]\nfrom = \"ff/bin/ffmpeg\"\nto = \"/usr/local/bin/ffmpeg\"\nmode = 0o755\n",
            "",
        );
        let err = spec_with(&[("ffmpeg.toml", &whole)]).unwrap_err().to_string();
        assert!(err.contains("no [[component.install]]"), "{err}");
        let rootfs = whole.split("[image]").next().unwrap().to_string();
        let appliance = "base = \"rootfs\"\nrole = \"orchestrator-transcoder\"\nnetwork = \"offchain\"\n";
        let spec =
            spec_with(&[("ffmpeg.toml", FFMPEG), ("rootfs.toml", &rootfs), ("appliance.toml", appliance)]).unwrap();
        assert_eq!(spec.appliance.unwrap().base, "rootfs");
        let bad = appliance.replace("\"rootfs\"", "\"nope\"");
        let err = spec_with(&[("ffmpeg.toml", FFMPEG), ("appliance.toml", &bad)]).unwrap_err();
        assert!(err.to_string().contains("appliance.toml:1: base: no component named `nope`"), "{err}");
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

    #[test]
    fn credentials_are_described_never_valued() {
        let good = FFMPEG.to_string() + "[image.credentials]\neth-password = { flag = \"-ethPassword\" }\n";
        let spec = spec_with(&[("ffmpeg.toml", &good)]).unwrap();
        let creds = &spec.images["ffmpeg"].service.credentials;
        assert_eq!(creds["eth-password"], Credential { flag: "-ethPassword".into() });
        for (bad, what) in [
            ("eth-password = { flag = \"-ethPassword\", value = \"x\" }", "unknown field `value`"),
            ("\"../pw\" = { flag = \"-ethPassword\" }", "not a valid credential name"),
            ("eth-password = { flag = \"ethPassword\" }", "not a command-line flag"),
        ] {
            let text = FFMPEG.to_string() + "[image.credentials]\n" + bad + "\n";
            let err = spec_with(&[("ffmpeg.toml", &text)]).unwrap_err().to_string();
            assert!(err.contains("ffmpeg.toml:15") && err.contains(what), "{bad}: {err}");
        }
    }

    #[test]
    fn a_source_is_either_a_download_or_a_workspace_package() {
        let ws = FFMPEG
            .replace("url = \"https://example.invalid/ff.tar.xz\"", "workspace = \"lpwatch\"")
            .replace("from = \"ff/bin/ffmpeg\"\n", "");
        let spec = spec_with(&[("ffmpeg.toml", &ws)]).unwrap();
        assert_eq!(spec.components["ffmpeg"].source.kind(), Some(SourceKind::Workspace));
        assert_eq!(spec.downloads().count(), 0, "a workspace source needs no pin");
        for (bad, what) in [
            (FFMPEG.replace("[component.source]\n", "[component.source]\nworkspace = \"lpwatch\"\n"), "exactly one of"),
            (ws.replace("workspace = \"lpwatch\"", "workspace = \"lpwatch\"\nformat = \"tar\""), "describe a download"),
            (ws.replace("workspace = \"lpwatch\"", "workspace = \"--config=x\""), "not a cargo package"),
            (FFMPEG.replace(".tar.xz\"", ".tar.xz\"\nbinary = \"ff\""), "only a workspace source"),
            (ws.replace("to = ", "from = \"x\"\nto = "), "`from` given"),
        ] {
            let err = spec_with(&[("ffmpeg.toml", &bad)]).unwrap_err().to_string();
            assert!(err.contains(what) && err.contains("fix:"), "{what}: {err}");
        }
    }
}
