//! Binaries built from this cargo workspace (`[component.source] workspace = "PACKAGE"`): the
//! workspace holding the spec directory builds the package with `cargo build --locked --release`,
//! the toolchain pinned by its `rust-toolchain.toml`, paths remapped so no machine path is
//! embedded, and `SOURCE_DATE_EPOCH` from the lock; the binary goes into the blob store by
//! sha256, from where it is layered like any other file.
//!
//! Not pinned in the lock: the bytes follow from the workspace itself (its sources, Cargo.lock
//! and rust-toolchain.toml), which the lock sits beside. Recorded instead (SBOM): the binary's
//! sha256, the sha256 of Cargo.lock and the exact rustc. No git revision: a working tree may be
//! dirty, a source tarball has none, and it would change every image on unrelated commits.

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;
use crate::spec::{Source, Spec, WorkspaceBinary};
use crate::store::BlobStore;
use lpbake_rules::read;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What cargo built for one workspace component, and what it was built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// The binary, as stored in the blob store.
    pub sha256: Digest,
    pub size: u64,
    /// sha256 of the workspace's Cargo.lock: the exact dependency set.
    pub cargo_lock: Digest,
    /// `rustc --version` of the pinned toolchain.
    pub rustc: String,
}

/// The workspace build environment: its root and where cargo keeps its build.
pub struct Workspace {
    root: PathBuf,
    offline: bool,
    epoch: u64,
}

/// Largest binary taken from the workspace's build (through the bounded reader, as every file
/// of a directory lpbake does not own): release binaries are tens of MiB.
const MAX_BINARY_BYTES: u64 = 1 << 30;
/// Largest Cargo.lock hashed: large workspaces' are a few hundred KiB.
const MAX_CARGO_LOCK_BYTES: u64 = 16 << 20;

/// Prefixes the workspace root and `$CARGO_HOME` are remapped to in the binary.
const ROOT_PREFIX: &str = "/lpbake";
const CARGO_HOME_PREFIX: &str = "/cargo";

impl Workspace {
    /// The cargo workspace holding `spec_dir`.
    pub fn of(spec_dir: &Path, offline: bool, epoch: u64) -> Result<Self> {
        let out = cargo(spec_dir)
            .args(["locate-project", "--workspace", "--message-format", "plain"])
            .output()
            .map_err(|e| no_cargo(spec_dir, e))?;
        if !out.status.success() {
            return Err(Error::config(
                spec_dir,
                None,
                format!("a workspace source needs the spec directory inside a cargo workspace: {}", tail(&out.stderr)),
                "keep the spec in the lpbake repository (images/), or use a `url` source",
            ));
        }
        let manifest = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let root = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Workspace { root, offline, epoch })
    }

    /// Where cargo builds: inside the workspace's own target/ (cargo is the cache).
    pub fn target_dir(&self) -> PathBuf {
        self.root.join("target").join("lpbake-workspace")
    }

    /// Builds `bin` and stores the binary in `store`.
    pub fn build(&self, bin: &WorkspaceBinary, store: &BlobStore, report: &Reporter) -> Result<Built> {
        report.step(format!("cargo build --locked --release -p {} (workspace {})", bin.package, self.root.display()));
        let cargo_home = cargo_home();
        // The same maps for rustc and for C code built by -sys crates (`__FILE__`).
        let mut maps = vec![format!("{}={ROOT_PREFIX}", self.root.display())];
        maps.extend(cargo_home.map(|home| format!("{}={CARGO_HOME_PREFIX}", home.display())));
        let rustflags: Vec<String> = maps.iter().map(|m| format!("--remap-path-prefix={m}")).collect();
        let cflags: Vec<String> = maps.iter().map(|m| format!("-ffile-prefix-map={m}")).collect();
        let mut cmd = cargo(&self.root);
        cmd.args(["build", "--locked", "--release", "-p", &bin.package, "--bin", &bin.binary])
            .env("CARGO_TARGET_DIR", self.target_dir())
            .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\u{1f}"))
            .env("CFLAGS", cflags.join(" "))
            .env("CXXFLAGS", cflags.join(" "))
            .env("SOURCE_DATE_EPOCH", self.epoch.to_string());
        if self.offline {
            cmd.arg("--offline");
        }
        let out = cmd.output().map_err(|e| no_cargo(&self.root, e))?;
        if !out.status.success() {
            return Err(Error::config(
                self.root.join("Cargo.toml"),
                None,
                format!("cargo build of `{}` failed:\n{}", bin.package, tail(&out.stderr)),
                "fix the build error above (`cargo build --locked --release -p PACKAGE` shows it in full); with --offline, the crates must already be in the cargo cache (`cargo fetch` once)",
            ));
        }
        let path = self.target_dir().join("release").join(&bin.binary);
        let mut binary = read::open(&path, MAX_BINARY_BYTES)?;
        let size = binary.size();
        // Hashed first, stored only when new: an unchanged binary (every build but the first)
        // costs a read, not a copy into the store.
        let mut hashed = crate::digest::HashWriter::new(std::io::sink());
        std::io::copy(&mut binary, &mut hashed).at(&path)?;
        let sha256 = hashed.finish().1;
        let (sha256, size) = if store.check(&sha256, Some(size)).is_ok_and(|damage| damage.is_none()) {
            (sha256, size)
        } else {
            let mut w = store.writer().at(store.root())?;
            std::io::copy(&mut read::open(&path, MAX_BINARY_BYTES)?, &mut w).at(&path)?;
            w.commit(None).map_err(|e| Error::io(&path, e.into()))?
        };
        let lock_file = self.root.join("Cargo.lock");
        let cargo_lock = Digest::of(&read::bytes(&lock_file, MAX_CARGO_LOCK_BYTES)?);
        let out =
            Command::new("rustc").arg("--version").current_dir(&self.root).env_remove("RUSTUP_TOOLCHAIN").output();
        let rustc = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).at("rustc")?;
        Ok(Built { sha256, size, cargo_lock, rustc })
    }
}

/// Builds every workspace component of `names` (in name order), keyed by component name.
pub fn build_all<'a>(
    spec: &Spec,
    names: impl IntoIterator<Item = &'a String>,
    offline: bool,
    epoch: u64,
    store: &BlobStore,
    report: &Reporter,
) -> Result<BTreeMap<String, Built>> {
    // Each component once, however many images (and the disk) use it.
    let names: std::collections::BTreeSet<&String> = names.into_iter().collect();
    let wanted: Vec<(&String, &WorkspaceBinary)> = names
        .into_iter()
        .filter_map(|n| match &spec.components.get(n)?.source {
            Source::Workspace(w) => Some((n, w)),
            Source::Download(_) => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    let ws = Workspace::of(&spec.dir, offline, epoch)?;
    wanted.into_iter().map(|(n, w)| Ok((n.clone(), ws.build(w, store, report)?))).collect()
}

/// `cargo` run in `dir`, with the toolchain `dir`'s rust-toolchain.toml pins (not one an outer
/// `cargo +toolchain` chose).
fn cargo(dir: &Path) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(dir).env_remove("RUSTUP_TOOLCHAIN");
    c
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

fn no_cargo(dir: &Path, e: std::io::Error) -> Error {
    Error::config(
        dir,
        None,
        format!("cannot run cargo: {e}"),
        "install the Rust toolchain (rustup) so that `cargo` is on PATH; rust-toolchain.toml picks the version",
    )
}

/// The last lines of a command's stderr.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
