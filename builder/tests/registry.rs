//! Acceptance of registry pulls: with the base image named by its loopback-registry reference,
//! `lpbake lock` resolves the tag to the same digest the fixtures pinned, and a build that
//! must pull the base through the OCI distribution API gives the same images as the offline one.

mod common;
use common::*;

fn registry() -> String {
    let r = std::env::var("LPBAKE_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
    let up =
        std::process::Command::new(tool("curl")).args(["-sf", &format!("http://{r}/v2/")]).output().unwrap().status;
    assert!(up.success(), "no registry answers on {r}: run `make deps` (tests/env/services.sh start)");
    r
}

#[test]
fn base_pulled_from_registry_by_digest_matches_offline_build() {
    let reg = registry();
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures();
    let fixture_lock = lpbake::lock::Lock::load(&f.join("lpbake.lock")).unwrap();
    let pinned = fixture_lock.images["debian:bookworm-slim"];

    // The default spec, with the base named by its registry reference; inside this cargo
    // workspace, as its workspace-built component (lpwatch) needs.
    let spec_home = tempfile::tempdir_in(repo().join("target")).unwrap();
    let spec = spec_home.path().join("spec");
    std::fs::create_dir(&spec).unwrap();
    let reference = format!("{reg}/lpbake-fixtures/debian:bookworm-slim");
    for e in std::fs::read_dir(repo().join("images")).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("base = \"debian:bookworm-slim\"", &format!("base = \"{reference}\""));
        std::fs::write(spec.join(p.file_name().unwrap()), text).unwrap();
    }
    // A lock with the file pins only; the base must be resolved through the registry.
    let mut lock = fixture_lock.clone();
    lock.images.clear();
    let lock_path = tmp.path().join("lpbake.lock");
    lock.save(&lock_path).unwrap();
    // A mirror with the file blobs only, so the base cannot come from it.
    let mirror = tmp.path().join("mirror/blobs/sha256");
    std::fs::create_dir_all(&mirror).unwrap();
    for pin in fixture_lock.files.values() {
        std::fs::hard_link(f.join("mirror/blobs/sha256").join(pin.sha256.hex()), mirror.join(pin.sha256.hex()))
            .unwrap();
    }

    let cache = tmp.path().join("cache");
    let o = lpbake(&cache)
        .arg("lock")
        .arg("--spec")
        .arg(&spec)
        .arg("--lock")
        .arg(&lock_path)
        .arg("--mirror")
        .arg(tmp.path().join("mirror"))
        .output()
        .unwrap();
    let text = ok(&o);
    assert!(text.contains(&format!("pinned {reference} = {pinned}")), "{text}");
    assert_eq!(lpbake::lock::Lock::load(&lock_path).unwrap().images[&reference], pinned);

    let out = tmp.path().join("online");
    let files_only = |extra: &str| vec![extra.into(), "--mirror".into(), tmp.path().join("mirror").into_os_string()];
    ok(&build_spec(&cache, &spec, &lock_path, &out, &files_only("--locked")));
    // Every base blob came over the wire into the cache.
    assert!(cache.join("blobs/sha256").join(pinned.hex()).is_file());

    let offline = tmp.path().join("offline");
    ok(&build_offline(&tmp.path().join("cache-offline"), &offline));
    // Same images; only the SBOMs differ, as they name the base by its other reference.
    let images = |dir: &std::path::Path| {
        let summary = lpbake::oci::summary::Summary::read(dir).unwrap().unwrap();
        let without_sbom =
            |i: &lpbake::oci::summary::ImageSummary| (i.manifest, i.config, i.layers.clone(), i.tags.clone());
        summary.images.iter().map(|(n, i)| (n.clone(), without_sbom(i))).collect::<Vec<_>>()
    };
    assert_eq!(images(&out), images(&offline), "pulling the base changed the images");
    let sbom = std::fs::read_to_string(out.join("livepeer.spdx.json")).unwrap();
    assert!(sbom.contains(&reference) && sbom.contains(&pinned.hex()), "{sbom}");

    // --offline with an empty cache and no base in the mirror: one clear error, no network.
    let o = build_spec(
        &tmp.path().join("cache-empty"),
        &spec,
        &lock_path,
        &tmp.path().join("never"),
        &files_only("--offline"),
    );
    let text = failed(&o);
    assert!(text.contains("--offline forbids the network") && text.contains(&reference), "{text}");
}
