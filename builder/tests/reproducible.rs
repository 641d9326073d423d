//! Acceptance: two offline builds of the default spec, with separate caches, different
//! working directories, time zone, locale and umask, give identical images; the outputs open
//! with skopeo and umoci and hold the binaries where the spec says, as root-owned 0755 files
//! in images that run as a non-root user; a rebuild with nothing changed does nothing, and
//! `lpbake verify` proves the output; outputs share no inode with the cache; a killed build's
//! staging directory is removed by the next; and an --out that is not lpbake's own output is
//! refused, untouched.

mod common;
use common::*;
use lpbake::oci::summary::{ImageSummary, Summary};
use lpbake::output::{Contents, FileRecord};
use std::os::unix::fs::MetadataExt;
use std::process::Command;

#[test]
fn offline_builds_are_identical_and_open_with_oci_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("A");
    ok(&build_offline(&tmp.path().join("cache-a"), &a));

    // B: another cache, another working dir, hostile TZ/locale/umask.
    let b = tmp.path().join("B");
    ok(&build_offline_elsewhere(&tmp.path().join("cache-b"), &b, &tmp.path().join("elsewhere"), "oci"));

    let ja = std::fs::read(a.join("images.json")).unwrap();
    assert_eq!(ja, std::fs::read(b.join("images.json")).unwrap(), "images.json differs between A and B");
    let summary = Summary::read(&a).unwrap().unwrap().images;
    assert_eq!(
        summary.keys().collect::<Vec<_>>(),
        ["alertmanager", "ffmpeg", "geth", "livepeer", "lpwatch", "prometheus"]
    );
    for name in ["alertmanager", "ffmpeg", "geth", "livepeer", "lpwatch", "prometheus"] {
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
    let f = fixtures();
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
    assert_eq!(inspect["Digest"], summary["livepeer"].manifest.to_string());
    assert_eq!(inspect["Architecture"], "amd64");

    // umoci unpacks each image: binaries at the declared paths, 0755, root-owned; user not root.
    let expected = [
        ("livepeer", vec!["usr/local/bin/livepeer", "usr/local/bin/livepeer_cli", "usr/local/bin/ffmpeg"]),
        ("geth", vec!["usr/local/bin/geth"]),
        ("ffmpeg", vec!["usr/local/bin/ffmpeg"]),
    ];
    for (name, bins) in expected {
        let tag = summary[name].tags[0].rsplit(':').next().unwrap().to_string();
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

#[test]
fn outputs_share_no_inode_with_the_cache_and_an_interrupted_build_is_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, out) = (tmp.path().join("cache"), tmp.path().join("out"));
    ok(&build_offline(&cache, &out));
    let cached: std::collections::BTreeMap<u64, std::path::PathBuf> =
        files_under(&cache).into_iter().map(|p| (std::fs::metadata(&p).unwrap().ino(), p)).collect();
    // Every output file, in every layout and archive: its own inode, its only name.
    for f in files_under(&out) {
        let meta = std::fs::metadata(&f).unwrap();
        assert!(!cached.contains_key(&meta.ino()), "{} is {}", f.display(), cached[&meta.ino()].display());
        assert_eq!(meta.nlink(), 1, "{} has other names", f.display());
    }
    // A partial rebuild carries the other images over: still copies.
    let summary = Summary::read(&out).unwrap().unwrap();
    let layer = summary.images["livepeer"].layers.last().unwrap();
    std::fs::remove_file(out.join("geth.oci.tar")).unwrap();
    ok(&build_offline(&cache, &out));
    // The cache as it is now: a file it replaced since frees an inode number an output may reuse.
    let cached: std::collections::BTreeMap<u64, std::path::PathBuf> =
        files_under(&cache).into_iter().map(|p| (std::fs::metadata(&p).unwrap().ino(), p)).collect();
    for f in files_under(&out) {
        assert!(!cached.contains_key(&std::fs::metadata(&f).unwrap().ino()), "{} is a cache file", f.display());
    }

    // Changing an output blob leaves the cache as it was, and verify names the blob.
    let blob = out.join("oci/livepeer/blobs/sha256").join(layer.hex());
    let mut bytes = std::fs::read(&blob).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let in_cache = std::fs::read(cache.join("blobs/sha256").join(layer.hex())).unwrap();
    assert_eq!(lpbake::digest::Digest::of(&in_cache), *layer, "the cache blob changed with the output");
    let f = fixtures();
    let o = lpbake(&cache)
        .current_dir(repo())
        .args(["verify", "--offline", "--mirror"])
        .arg(f.join("mirror"))
        .arg("--lock")
        .arg(f.join("lpbake.lock"))
        .arg(&out)
        .output()
        .unwrap();
    let text = failed(&o);
    assert!(text.contains(&format!("differs: oci/livepeer/blobs/sha256/{}", layer.hex())), "{text}");

    // A build killed while it writes leaves its staging directory; the next build removes it.
    let staging = || -> Vec<String> {
        listing(tmp.path()).into_iter().filter(|n| n.starts_with(".lpbake-out-") && !n.ends_with(".lock")).collect()
    };
    let killed = tmp.path().join("killed");
    let mut child = lpbake(&cache)
        .current_dir(repo())
        .args(["-q", "build", "--offline", "--mirror"])
        .arg(f.join("mirror"))
        .arg("--lock")
        .arg(f.join("lpbake.lock"))
        .arg("--out")
        .arg(&killed)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    // Killed once its staging directory is there (with its lock beside it: the build is in it).
    let locked = || staging().iter().any(|d| tmp.path().join(format!("{d}.lock")).exists());
    while !locked() && start.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = staging();
    assert_eq!(left.len(), 1, "the killed build left no staging directory to clean: {left:?}");
    let text = ok(&build_offline(&cache, &killed));
    assert!(text.contains(&format!("removed {}", tmp.path().join(&left[0]).display())), "{text}");
    assert!(staging().is_empty(), "{:?}", staging());
    assert!(!listing(tmp.path()).iter().any(|n| n.ends_with(".lock")), "a lock file was left");
}

/// `lpbake build --out OUT` run in `cwd`, with inputs that do not exist: an --out that is
/// refused is refused before anything else is read.
fn build_into(cwd: &std::path::Path, out: &str) -> String {
    let o = lpbake(&cwd.join("cache"))
        .current_dir(cwd)
        .args(["build", "--offline", "--spec", "no-spec", "--lock", "no.lock", "--out", out])
        .output()
        .unwrap();
    failed(&o)
}

/// Names in `dir`, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn an_out_dir_lpbake_did_not_write_is_refused_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Files of the user's own.
    let mine = root.join("mine");
    std::fs::create_dir_all(mine.join("photos")).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep me").unwrap();
    let text = build_into(root, "mine");
    assert!(text.contains("mine") && text.contains("did not write") && text.contains("fix:"), "{text}");
    assert_eq!(listing(&mine), ["notes.txt", "photos"]);

    // lpbake's output with one foreign file deep inside: refused, naming that file.
    let out = root.join("out");
    let digest = lpbake::digest::Digest::of(b"geth");
    let geth = ImageSummary { manifest: digest, config: digest, layers: vec![], sbom: digest, tags: vec![] };
    let summary = Summary { images: [("geth".to_string(), geth.clone())].into() };
    summary.write(&out).unwrap();
    let mut contents = Contents::default();
    contents.add("images.json", FileRecord::of(&summary.to_bytes()));
    for f in lpbake::output::image::files("geth", &geth) {
        std::fs::create_dir_all(out.join(&f).parent().unwrap()).unwrap();
        std::fs::write(out.join(&f), "x").unwrap();
        contents.add(f, FileRecord::of(b"x"));
    }
    contents.write(&out, "contents.json").unwrap();
    std::fs::write(out.join("oci/geth/blobs/sha256/thesis.tex"), "mine").unwrap();
    let text = build_into(root, "out");
    assert!(text.contains("oci/geth/blobs/sha256/thesis.tex") && text.contains("did not write"), "{text}");
    assert!(out.join("oci/geth/blobs/sha256/thesis.tex").is_file());
    // An images.json without lpbake's contents list does not make a directory lpbake's.
    std::fs::write(mine.join("images.json"), r#"{"x":{"manifest":"not a digest"}}"#).unwrap();
    let text = build_into(root, "mine");
    assert!(text.contains("did not write") && text.contains("contents.json"), "{text}");
    assert_eq!(listing(&mine), ["images.json", "notes.txt", "photos"]);

    // The current directory, or one that holds it: refused before a temp dir is made in it.
    let work = root.join("work/sub");
    std::fs::create_dir_all(&work).unwrap();
    for out in [".", "..", &format!("{}", root.join("work").display())] {
        let text = build_into(&work, out);
        assert!(text.contains("current directory"), "--out {out}: {text}");
    }
    assert_eq!(listing(&root.join("work")), ["sub"]);
    assert_eq!(listing(&work), Vec::<String>::new());
    assert!(!listing(root).iter().any(|n| n.starts_with(".lpbake-out-")));
}
