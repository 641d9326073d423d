//! Shared helpers of the end-to-end tests: where the offline fixtures are, how to run the
//! `lpbake` binary with its own cache, and tools the tests need (failing, never skipping, when
//! something is missing).

#![allow(dead_code)]

pub mod qemu;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
#[allow(unused_imports)] // not every test needs a tool
pub use tools::tool;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `target/fixtures` from `make fixtures`; panics with the fix when absent.
pub fn fixtures() -> PathBuf {
    let f = repo().join("target/fixtures");
    assert!(
        f.join("mirror/blobs/sha256").is_dir() && f.join("lpbake.lock").is_file(),
        "offline fixtures missing in {}: run `make deps fixtures`",
        f.display()
    );
    f
}

/// `lpbake` with a private cache dir and no inherited cache settings.
pub fn lpbake(cache: &Path) -> Command {
    isolated(Command::new(env!("CARGO_BIN_EXE_lpbake")), cache)
}

/// `c`, a command that runs lpbake, with the private cache dir `cache` and no inherited cache
/// settings.
pub fn isolated(mut c: Command, cache: &Path) -> Command {
    c.env("LPBAKE_CACHE_DIR", cache).env_remove("SOURCE_DATE_EPOCH").env_remove("XDG_CACHE_HOME");
    c
}

/// The offline build of the default spec from the fixtures into `out`.
pub fn build_offline(cache: &Path, out: &Path) -> Output {
    build_offline_with(cache, out, &[])
}

/// [`build_offline`] with `extra` arguments (e.g. `--load`).
pub fn build_offline_with(cache: &Path, out: &Path, extra: &[&str]) -> Output {
    let f = fixtures();
    let mut mirror = vec!["--offline".into(), "--mirror".into(), f.join("mirror").into_os_string()];
    mirror.extend(extra.iter().map(Into::into));
    build_spec(cache, &repo().join("images"), &f.join("lpbake.lock"), out, &mirror)
}

/// The same offline build as [`build_offline_with`], run the way another machine would: from
/// another working directory, with umask 077, `TZ=Pacific/Chatham`, `LC_ALL=C`, no
/// `SOURCE_DATE_EPOCH`, and the cache `cache`. Two builds must not differ for any of these.
pub fn build_offline_elsewhere(cache: &Path, out: &Path, cwd: &Path, target: &str) -> Output {
    let f = fixtures();
    let script = format!(
        "umask 077; exec {} build --target {target} --offline --mirror {} --lock {} --spec {} --out {}",
        env!("CARGO_BIN_EXE_lpbake"),
        f.join("mirror").display(),
        f.join("lpbake.lock").display(),
        repo().join("images").display(),
        out.display()
    );
    std::fs::create_dir_all(cwd).unwrap();
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .env("TZ", "Pacific/Chatham")
        .env("LC_ALL", "C")
        .env("LPBAKE_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

/// `lpbake build --spec SPEC --lock LOCK --out OUT EXTRA...`. Only the images are built unless
/// `extra` names a `--target` (the disk has its own tests: disk.rs, vm.rs).
pub fn build_spec(cache: &Path, spec: &Path, lock: &Path, out: &Path, extra: &[std::ffi::OsString]) -> Output {
    let target: &[&str] = if extra.iter().any(|a| a == "--target") { &[] } else { &["--target", "oci"] };
    lpbake(cache)
        .current_dir(repo())
        .arg("build")
        .arg("--spec")
        .arg(spec)
        .arg("--lock")
        .arg(lock)
        .arg("--out")
        .arg(out)
        .args(target)
        .args(extra)
        .output()
        .unwrap()
}

pub fn ok(o: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "command failed ({}):\n{text}", o.status);
    text
}

pub fn failed(o: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "command should have failed:\n{text}");
    text
}

/// Every file under `root`, recursively, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// sha256 of every file under `root`, by relative path.
pub fn tree_digests(root: &Path) -> Vec<(String, String)> {
    let digest = |p: &PathBuf| lpbake::digest::Digest::of(&std::fs::read(p).unwrap()).to_string();
    files_under(root).iter().map(|p| (p.strip_prefix(root).unwrap().display().to_string(), digest(p))).collect()
}

/// A one-component spec over a local tarball, for tests of input handling.
pub fn local_spec(dir: &Path, tarball: &Path, checksums: Option<&Path>) {
    let sums = checksums.map(|c| format!("checksums = \"file://{}\"\n", c.display())).unwrap_or_default();
    let text = format!(
        "[component]\nversion = \"1.0\"\nlicense = \"MIT\"\n[component.source]\nurl = \"file://{}\"\n{sums}[[component.install]]\nfrom = \"tool/bin/tool\"\nto = \"/usr/local/bin/tool\"\nmode = 0o755\n[image]\nbase = \"scratch\"\ncomponents = [\"tool\"]\nuser = \"65532:65532\"\nentrypoint = [\"/usr/local/bin/tool\"]\n",
        tarball.display()
    );
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("tool.toml"), text).unwrap();
}

/// A .tar.gz with the given (path, content) regular files, written with raw headers so that
/// hostile paths are possible.
pub fn tarball(path: &Path, files: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

/// A lock pinning `url` to `sha` and `size`.
pub fn sized_lock(path: &Path, url: &str, sha: &lpbake::digest::Digest, size: u64) {
    std::fs::write(
        path,
        format!("version = 1\nepoch = 0\n[[file]]\nurl = \"{url}\"\nsha256 = \"{}\"\nsize = {size}\n", sha.hex()),
    )
    .unwrap();
}

/// A root holding the rendered tree of `node`, placeholder programs for its units and the host's
/// system units (so `systemd-analyze --root` resolves targets), readable by everyone (systemd's
/// test mode runs as nobody). The tree is in `root/` of the returned directory.
pub fn unit_root(node: &lpbake::render::Node) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    lpbake::render::write_dir(&lpbake::render::files(node).unwrap(), &root).unwrap();
    for u in node.services.values() {
        let p = root.join(u.argv[0].trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let units = Path::new("/usr/lib/systemd/system");
    assert!(units.join("sysinit.target").exists(), "systemd's units are missing: run `make deps`");
    std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    assert!(Command::new("cp").arg("-a").arg(units).arg(root.join("usr/lib/systemd/")).status().unwrap().success());
    assert!(Command::new("chmod").args(["-R", "a+rX"]).arg(dir.path()).status().unwrap().success());
    dir
}
