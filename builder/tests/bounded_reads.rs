//! Every file a user names reaches lpbake through the one bounded reader (`lpbake_rules::read`):
//! a FIFO, a device or an oversize file given as a spec file, the lock, a mirror blob, a
//! `file://` source or the Docker config is refused at once, with one error naming it and the
//! fix, and nothing is written. The binary runs capped in time and memory
//! (tests/support/capped_child.rs), so a regression fails instead of hanging or filling memory.

#[path = "../../tests/support/capped_child.rs"]
mod capped_child;
mod common;

use capped_child::{capped, mkfifo, refused, run};
use common::*;
use lpbake::digest::Digest;
use std::ffi::OsString;
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

/// `lpbake ARGS...` in the capped child, with the cache `cache`.
fn lpbake_capped(cache: &Path, args: &[OsString], env: &[(&str, &Path)]) -> capped_child::Ended {
    let mut cmd = isolated(capped(Path::new(env!("CARGO_BIN_EXE_lpbake"))), cache);
    cmd.args(args).current_dir(repo());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// A spec directory, a lock and an output path in `tmp`: a one-image spec over a small local
/// tarball, pinned with its size. Returns (spec, lock, out, tarball sha256).
fn small_build(tmp: &Path) -> (PathBuf, PathBuf, PathBuf, Digest) {
    let tgz = tmp.join("tool.tar.gz");
    tarball(&tgz, &[("tool/bin/tool", b"#!/bin/sh\necho tool\n")]);
    let bytes = std::fs::read(&tgz).unwrap();
    let sha = Digest::of(&bytes);
    let spec = tmp.join("spec");
    local_spec(&spec, &tgz, None);
    let lock = tmp.join("lpbake.lock");
    sized_lock(&lock, &format!("file://{}", tgz.display()), &sha, bytes.len() as u64);
    (spec, lock, tmp.join("out"), sha)
}

/// `build --spec SPEC --lock LOCK --out OUT --target oci EXTRA...`.
fn build_args(spec: &Path, lock: &Path, out: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["build".into(), "--spec".into(), spec.into(), "--lock".into(), lock.into()];
    args.extend(["--out".into(), out.into(), "--target".into(), "oci".into()]);
    args.extend(extra.iter().map(Into::into));
    args
}

#[test]
fn a_fifo_in_the_spec_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock, out, _) = small_build(tmp.path());
    let fifo = spec.join("x.toml");
    mkfifo(&fifo);
    let ended = lpbake_capped(&tmp.path().join("cache"), &build_args(&spec, &lock, &out, &[]), &[]);
    refused(&ended, &fifo, "a FIFO");
    assert!(!out.exists(), "output written");
}

#[test]
fn the_lock_is_refused_when_it_is_dev_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, _, out, _) = small_build(tmp.path());
    let zero = Path::new("/dev/zero");
    let ended = lpbake_capped(&tmp.path().join("cache"), &build_args(&spec, zero, &out, &["--locked"]), &[]);
    refused(&ended, zero, "a character device");
    assert!(!out.exists(), "output written");
}

#[test]
fn the_lock_is_refused_when_it_is_a_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock, out, _) = small_build(tmp.path());
    std::fs::remove_file(&lock).unwrap();
    mkfifo(&lock);
    let ended = lpbake_capped(&tmp.path().join("cache"), &build_args(&spec, &lock, &out, &[]), &[]);
    refused(&ended, &lock, "a FIFO");
    assert!(!out.exists(), "output written");
    assert!(std::fs::symlink_metadata(&lock).unwrap().file_type().is_fifo(), "the lock was replaced");
}

#[test]
fn a_lock_of_100_mib_is_refused_without_reading_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock, out, _) = small_build(tmp.path());
    // A valid lock, padded with a comment: whole, it would parse.
    let mut text = std::fs::read_to_string(&lock).unwrap();
    text.push('#');
    text.push_str(&"x".repeat(100 << 20));
    text.push('\n');
    std::fs::write(&lock, &text).unwrap();
    let ended = lpbake_capped(&tmp.path().join("cache"), &build_args(&spec, &lock, &out, &["--locked"]), &[]);
    refused(&ended, &lock, "larger than");
    assert!(!out.exists(), "output written");
    assert_eq!(std::fs::metadata(&lock).unwrap().len(), text.len() as u64, "the lock was rewritten");
}

#[test]
fn a_mirror_blob_that_is_a_fifo_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock, out, sha) = small_build(tmp.path());
    let blobs = tmp.path().join("mirror/blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob = blobs.join(sha.hex());
    mkfifo(&blob);
    // With the network allowed too: the mirror is consulted first, and a broken one is not
    // silently passed over.
    let mirror = tmp.path().join("mirror");
    let args = build_args(&spec, &lock, &out, &["--locked", "--mirror", mirror.to_str().unwrap()]);
    let ended = lpbake_capped(&tmp.path().join("cache"), &args, &[]);
    refused(&ended, &blob, "a FIFO");
    assert!(!out.exists(), "output written");
}

/// [`small_build`] on the fixtures' `debian:bookworm-slim` base, pinned as the fixture lock pins
/// it, whose blobs come from a mirror. Returns (spec, lock, out, base digest).
fn small_build_on_debian(tmp: &Path) -> (PathBuf, PathBuf, PathBuf, Digest) {
    let (spec, lock, out, _) = small_build(tmp);
    let text = std::fs::read_to_string(spec.join("tool.toml")).unwrap();
    std::fs::write(spec.join("tool.toml"), text.replace("base = \"scratch\"", "base = \"debian:bookworm-slim\""))
        .unwrap();
    let fixture = lpbake::lock::Lock::load(&fixtures().join("lpbake.lock")).unwrap();
    let base = fixture.images["debian:bookworm-slim"];
    let mut pins = std::fs::read_to_string(&lock).unwrap();
    pins.push_str(&format!("[[image]]\nreference = \"debian:bookworm-slim\"\ndigest = \"{base}\"\n"));
    std::fs::write(&lock, pins).unwrap();
    (spec, lock, out, base)
}

/// A mirror in `dir` holding the fixture mirror's blobs as hard links, but `fifo` as a FIFO.
fn mirror_with_a_fifo(dir: &Path, fifo: &Digest) -> PathBuf {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for e in std::fs::read_dir(fixtures().join("mirror/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_str() != Some(&fifo.hex()) {
            std::fs::hard_link(e.path(), blobs.join(e.file_name())).unwrap();
        }
    }
    mkfifo(&blobs.join(fifo.hex()));
    blobs.join(fifo.hex())
}

#[test]
fn a_base_image_comes_from_the_mirror_but_not_from_a_fifo_in_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock, out, base) = small_build_on_debian(tmp.path());
    let mirror = fixtures().join("mirror");
    // (Not --offline: the tool's tarball is a file:// source.)
    let args = ["--locked", "--mirror", mirror.to_str().unwrap()];
    // The base's manifest, config and layers are copied from the mirror into the cache.
    let cache = tmp.path().join("cache");
    let ended = lpbake_capped(&cache, &build_args(&spec, &lock, &out, &args), &[]);
    assert!(ended.status.success(), "{}", ended.output);
    assert!(cache.join("blobs/sha256").join(base.hex()).is_file(), "the base manifest is not in the cache");

    let bad = tmp.path().join("bad-mirror");
    let fifo = mirror_with_a_fifo(&bad, &base);
    let args = ["--locked", "--mirror", bad.to_str().unwrap()];
    let out = tmp.path().join("out2");
    let ended = lpbake_capped(&tmp.path().join("cache2"), &build_args(&spec, &lock, &out, &args), &[]);
    refused(&ended, &fifo, "a FIFO");
    assert!(!out.exists(), "output written");
}

#[test]
fn a_file_source_that_is_a_fifo_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock, out, _) = small_build(tmp.path());
    let tgz = tmp.path().join("tool.tar.gz");
    std::fs::remove_file(&tgz).unwrap();
    mkfifo(&tgz);
    let ended = lpbake_capped(&tmp.path().join("cache"), &build_args(&spec, &lock, &out, &["--locked"]), &[]);
    refused(&ended, &tgz, "a FIFO");
    assert!(!out.exists(), "output written");
}

#[test]
fn a_docker_config_that_is_a_fifo_is_refused_before_any_push() {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock, out, _) = small_build(tmp.path());
    ok(&build_spec(&tmp.path().join("cache"), &spec, &lock, &out, &["--locked".into()]));
    let before = tree_digests(&out);
    let docker = tmp.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let config = docker.join("config.json");
    mkfifo(&config);
    let args: Vec<OsString> =
        vec!["push".into(), "--out".into(), out.clone().into(), "127.0.0.1:5000/lpbake-bounded-reads".into()];
    let ended = lpbake_capped(&tmp.path().join("cache"), &args, &[("DOCKER_CONFIG", &docker)]);
    refused(&ended, &config, "a FIFO");
    assert_eq!(tree_digests(&out), before, "the output changed");
}
