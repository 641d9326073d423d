//! Acceptance: two offline builds of the default spec, with separate caches, different
//! working directories, time zone, locale and umask, give identical images; the outputs open
//! with skopeo and umoci and hold the binaries where the spec says, as root-owned 0755 files
//! in images that run as a non-root user; a rebuild with nothing changed does nothing, and
//! `lpbake verify` proves the output.

mod common;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

#[test]
fn offline_builds_are_identical_and_open_with_oci_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("A");
    ok(&build_offline(&tmp.path().join("cache-a"), &a));

    // B: another cache, another working dir, hostile TZ/locale/umask.
    let f = fixtures();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let b = tmp.path().join("B");
    let script = format!(
        "umask 077; exec {} build --offline --mirror {} --lock {} --spec {} --out {}",
        env!("CARGO_BIN_EXE_lpbake"),
        f.join("mirror").display(),
        f.join("lpbake.lock").display(),
        repo().join("images").display(),
        b.display()
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(&elsewhere)
        .env("TZ", "Pacific/Chatham")
        .env("LC_ALL", "C")
        .env("LPBAKE_CACHE_DIR", tmp.path().join("cache-b"))
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    ok(&o);

    let ja = std::fs::read(a.join("images.json")).unwrap();
    assert_eq!(ja, std::fs::read(b.join("images.json")).unwrap(), "images.json differs between A and B");
    let summary: serde_json::Value = serde_json::from_slice(&ja).unwrap();
    assert_eq!(summary.as_object().unwrap().keys().collect::<Vec<_>>(), ["ffmpeg", "geth", "livepeer", "lpwatch"]);
    for name in ["ffmpeg", "geth", "livepeer"] {
        for suffix in ["oci.tar", "docker.tar"] {
            let fa = std::fs::read(a.join(format!("{name}.{suffix}"))).unwrap();
            let fb = std::fs::read(b.join(format!("{name}.{suffix}"))).unwrap();
            assert!(fa == fb, "{name}.{suffix} differs between A and B");
        }
    }

    // The SBOM names every pinned input with version, URL, sha256 and license, and the base.
    let o = lpbake(&tmp.path().join("cache-a")).args(["sbom", "livepeer", "--out"]).arg(&a).output().unwrap();
    let sbom: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    let lock = lpbake::lock::Lock::load(&f.join("lpbake.lock")).unwrap();
    let spec = lpbake::spec::load(&repo().join("images")).unwrap();
    for name in ["livepeer", "ffmpeg"] {
        let c = &spec.components[name];
        let p = sbom["packages"].as_array().unwrap().iter().find(|p| p["name"] == name).expect("component in SBOM");
        assert_eq!(p["versionInfo"], c.version.as_str());
        assert_eq!(p["downloadLocation"], c.source.download().unwrap().url.as_str());
        assert_eq!(p["licenseDeclared"], c.license.as_str());
        assert_eq!(
            p["checksums"][0]["checksumValue"],
            lock.files[&c.source.download().unwrap().url].sha256.hex().as_str()
        );
    }
    let base = lock.images["debian:bookworm-slim"];
    assert!(sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["checksums"][0]["checksumValue"] == base.hex().as_str()));

    // skopeo reads the layout; its digest is the one in images.json.
    let o = Command::new(tool("skopeo"))
        .arg("inspect")
        .arg(format!("oci:{}", a.join("oci/livepeer").display()))
        .output()
        .unwrap();
    let inspect: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(inspect["Digest"], summary["livepeer"]["manifest"]);
    assert_eq!(inspect["Architecture"], "amd64");

    // umoci unpacks each image: binaries at the declared paths, 0755, root-owned; user not root.
    let expected = [
        ("livepeer", vec!["usr/local/bin/livepeer", "usr/local/bin/livepeer_cli", "usr/local/bin/ffmpeg"]),
        ("geth", vec!["usr/local/bin/geth"]),
        ("ffmpeg", vec!["usr/local/bin/ffmpeg"]),
    ];
    for (name, bins) in expected {
        let tag = summary[name]["tags"][0].as_str().unwrap().rsplit(':').next().unwrap().to_string();
        let bundle = tmp.path().join(format!("bundle-{name}"));
        let o = Command::new(tool("umoci"))
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{tag}", a.join("oci").join(name).display()))
            .arg(&bundle)
            .output()
            .unwrap();
        ok(&o);
        for bin in bins {
            let meta =
                std::fs::metadata(bundle.join("rootfs").join(bin)).unwrap_or_else(|e| panic!("{name}: {bin}: {e}"));
            assert_eq!(meta.mode() & 0o7777, 0o755, "{name}: {bin} mode");
            assert_eq!((meta.uid(), meta.gid()), (0, 0), "{name}: {bin} owner");
        }
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
        assert_ne!(cfg["process"]["user"]["uid"], 0, "{name} runs as root");
        // The real binaries are inside: ffmpeg runs from the unpacked image.
        if name == "ffmpeg" {
            let o = Command::new(bundle.join("rootfs/usr/local/bin/ffmpeg")).arg("-version").output().unwrap();
            assert!(ok(&o).starts_with("ffmpeg version"));
        }
    }

    // A rebuild with nothing changed rewrites nothing.
    let before = std::fs::metadata(a.join("livepeer.oci.tar")).unwrap().modified().unwrap();
    let text = ok(&build_offline(&tmp.path().join("cache-a"), &a));
    assert!(text.contains("up to date"), "{text}");
    assert_eq!(std::fs::metadata(a.join("livepeer.oci.tar")).unwrap().modified().unwrap(), before);

    // verify proves A; a flipped byte in A is found and named.
    let verify = |out: &std::path::Path| {
        lpbake(&tmp.path().join("cache-a"))
            .current_dir(repo())
            .args(["verify", "--offline", "--mirror"])
            .arg(f.join("mirror"))
            .arg("--lock")
            .arg(f.join("lpbake.lock"))
            .arg(out)
            .output()
            .unwrap()
    };
    // A's layers were streamed while their archives were decoded; with the layer cache gone,
    // verify writes them again from the unpacked files: the same bytes either way.
    std::fs::remove_dir_all(tmp.path().join("cache-a/layers")).unwrap();
    ok(&verify(&a));
    let index = a.join("oci/geth/index.json");
    let mut bytes = std::fs::read(&index).unwrap();
    bytes.push(b' ');
    std::fs::write(&index, bytes).unwrap();
    let text = failed(&verify(&a));
    assert!(text.contains("differs: oci/geth/index.json"), "{text}");
}
