//! Binaries built from this workspace: the lpwatch image (a `workspace = "lpwatch"` source) is
//! built offline from the fixtures with no lock pin for it, runs `lpwatch --help` in a real
//! Docker engine, and records the binary's sha256 in the SBOM; and the binary does not depend
//! on where the workspace is checked out (paths are remapped).

mod common;
use common::*;
use lpbake::report::{Mode, Reporter};
use lpbake::spec::{Source, WorkspaceBinary};
use lpbake::store::BlobStore;
use std::path::Path;
use std::process::Command;

fn docker(args: &[&str]) -> String {
    ok(&Command::new(tool("docker")).args(args).output().unwrap())
}

#[test]
fn lpwatch_image_is_built_from_the_workspace_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let text = ok(&build_offline_with(&tmp.path().join("cache"), &out, &["--image", "lpwatch", "--load"]));
    assert!(text.contains("loaded lpbake/lpwatch:latest"), "{text}");

    let help = docker(&["run", "--rm", "--read-only", "--network", "none", "lpbake/lpwatch", "--help"]);
    assert!(help.contains("Watches a Livepeer node"), "{help}");
    let cfg: serde_json::Value =
        serde_json::from_str(&docker(&["image", "inspect", "--format", "{{json .Config}}", "lpbake/lpwatch:latest"]))
            .unwrap();
    assert_eq!(cfg["User"], "65532:65532");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/usr/local/bin/lpwatch"]));

    // The SBOM names the binary by sha256 (the same bytes cargo left in the workspace's
    // target/) and says what it was built from; nothing machine-specific.
    let sbom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("lpwatch.spdx.json")).unwrap()).unwrap();
    let p = sbom["packages"].as_array().unwrap().iter().find(|p| p["name"] == "lpwatch").expect("lpwatch in the SBOM");
    let bin = std::fs::read(repo().join("target/lpbake-workspace/release/lpwatch")).unwrap();
    assert_eq!(p["checksums"][0]["checksumValue"], lpbake::digest::Digest::of(&bin).hex().as_str());
    let info = p["sourceInfo"].as_str().unwrap();
    let lock = lpbake::digest::Digest::of(&std::fs::read(repo().join("Cargo.lock")).unwrap());
    assert!(info.contains(&lock.hex()) && info.contains("rustc 1."), "{info}");
    let whole = String::from_utf8(std::fs::read(out.join("lpwatch.spdx.json")).unwrap()).unwrap();
    assert!(!whole.contains(&repo().display().to_string()), "the SBOM names a machine path: {whole}");
}

/// Copies the workspace's sources (not target/) to `dst`.
fn copy_workspace(dst: &Path) {
    let files = Command::new("git").arg("-C").arg(repo()).args(["ls-files", "-z"]).output().unwrap();
    assert!(files.status.success(), "git ls-files in {}", repo().display());
    for rel in files.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).unwrap());
        let (src, to) = (repo().join(rel), dst.join(rel));
        if src.is_file() {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&src, &to).unwrap();
        }
    }
}

#[test]
fn lpwatch_binary_does_not_depend_on_the_checkout_path() {
    let bin = WorkspaceBinary { package: "lpwatch".into(), binary: "lpwatch".into() };
    let spec = lpbake::spec::load(&repo().join("images")).unwrap();
    assert_eq!(spec.components["lpwatch"].source, Source::Workspace(bin.clone()));
    let tmp = tempfile::tempdir_in(repo().join("target")).unwrap();
    let store = BlobStore::create(tmp.path().join("cache")).unwrap();
    let report = Reporter::new(Mode::Quiet);
    let epoch = lpbake::lock::Lock::load(&fixtures().join("lpbake.lock")).unwrap().epoch;

    let here = lpbake::workspace::Workspace::of(&repo().join("images"), true, epoch).unwrap();
    let a = here.build(&bin, &store, &report).unwrap();
    let copy = tmp.path().join("elsewhere").join("lpbake-checkout");
    copy_workspace(&copy);
    let there = lpbake::workspace::Workspace::of(&copy.join("images"), true, epoch).unwrap();
    assert!(there.target_dir().starts_with(&copy));
    let b = there.build(&bin, &store, &report).unwrap();
    assert_eq!(a, b, "the lpwatch binary differs between {} and {}", repo().display(), copy.display());
}
