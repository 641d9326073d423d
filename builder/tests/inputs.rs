//! Acceptance: bad inputs fail with one clear message and leave the previous output whole:
//! a tampered mirror blob (expected and actual sha256 named), an archive attack reaching the
//! CLI, an archive holding a wanted member twice, a malformed spec, a blob larger than its pin;
//! a damaged cache blob is dropped and fetched again; and the lock is filled from a checksums
//! file, refused under --locked.

mod common;
use common::*;
use lpbake::digest::Digest;
use std::path::Path;

/// A copy of the fixture mirror whose blobs are hard links, except `victim`, which is a copy
/// with one byte changed.
fn tampered_mirror(dst: &Path, victim: &Digest) {
    let src = fixtures().join("mirror/blobs/sha256");
    let blobs = dst.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_str() == Some(&victim.hex()) {
            let mut bytes = std::fs::read(e.path()).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x55;
            std::fs::write(blobs.join(e.file_name()), bytes).unwrap();
        } else {
            std::fs::hard_link(e.path(), blobs.join(e.file_name())).unwrap();
        }
    }
}

fn pin_of(url_part: &str) -> Digest {
    let lock = lpbake::lock::Lock::load(&fixtures().join("lpbake.lock")).unwrap();
    lock.files.iter().find(|(u, _)| u.contains(url_part)).map(|(_, p)| p.sha256).expect("pinned in the fixture lock")
}

#[test]
fn tampered_mirror_blob_fails_naming_both_hashes_and_leaves_output_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("A");
    ok(&build_offline(&tmp.path().join("cache"), &out));
    let before = tree_digests(&out);

    let victim = pin_of("livepeer-linux-amd64.tar.gz");
    let mirror = tmp.path().join("bad-mirror");
    tampered_mirror(&mirror, &victim);
    let f = fixtures();
    let args = ["--offline".into(), "--mirror".into(), mirror.clone().into_os_string()];
    let o = build_spec(&tmp.path().join("fresh-cache"), &repo().join("images"), &f.join("lpbake.lock"), &out, &args);
    let text = failed(&o);
    assert!(text.contains(&format!("expected {victim}")), "{text}");
    let actual = Digest::of(&std::fs::read(mirror.join("blobs/sha256").join(victim.hex())).unwrap());
    assert!(text.contains(&format!("got {actual}")), "{text}");
    assert_eq!(text.matches("error:").count(), 1, "one error, not a cascade:\n{text}");
    assert_eq!(tree_digests(&out), before, "the previous output changed");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".lpbake-out-"))
        .collect();
    assert!(leftovers.is_empty(), "temp output left behind");
}

#[test]
fn lock_pins_from_checksums_and_locked_refuses_missing_pins() {
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("tool-1.0.tar.gz");
    tarball(&tgz, &[("tool/bin/tool", b"#!/bin/sh\necho tool\n")]);
    let sha = Digest::of(&std::fs::read(&tgz).unwrap());
    let sums = tmp.path().join("SHA256SUMS");
    std::fs::write(&sums, format!("{}  other.tar.gz\n{}  tool-1.0.tar.gz\n", "0".repeat(64), sha.hex())).unwrap();
    let spec = tmp.path().join("spec");
    local_spec(&spec, &tgz, Some(&sums));
    let lock = tmp.path().join("lpbake.lock");
    let cache = tmp.path().join("cache");
    let run = |args: &[&str]| {
        lpbake(&cache).arg(args[0]).arg("--spec").arg(&spec).arg("--lock").arg(&lock).args(&args[1..]).output().unwrap()
    };

    // --locked with an empty lock: refused, nothing written.
    let text = failed(&run(&["build", "--locked", "--out", tmp.path().join("o1").to_str().unwrap()]));
    assert!(text.contains("--locked") && text.contains("lpbake lock"), "{text}");
    assert!(!lock.exists() && !tmp.path().join("o1").exists());

    // lock: the pin comes from the checksums file, which is pinned too.
    ok(&run(&["lock"]));
    let l = lpbake::lock::Lock::load(&lock).unwrap();
    let url = format!("file://{}", tgz.display());
    assert_eq!(l.files[&url].sha256, sha);
    assert!(l.files.contains_key(&format!("file://{}", sums.display())));

    // Now --locked builds, and the image holds the file.
    ok(&run(&["build", "--locked", "--out", tmp.path().join("o2").to_str().unwrap()]));
    assert!(tmp.path().join("o2/tool.oci.tar").is_file());

    // A tarball that no longer matches its pin fails naming both hashes.
    tarball(&tgz, &[("tool/bin/tool", b"#!/bin/sh\necho evil\n")]);
    let new = Digest::of(&std::fs::read(&tgz).unwrap());
    let text = failed(&build_spec(&tmp.path().join("cache2"), &spec, &lock, &tmp.path().join("o3"), &[]));
    assert!(text.contains(&format!("expected {sha}")) && text.contains(&format!("got {new}")), "{text}");
    assert!(!tmp.path().join("o3").exists());
}

#[test]
fn build_without_locked_writes_missing_pins_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("tool.tar.gz");
    tarball(&tgz, &[("tool/bin/tool", b"x")]);
    let spec = tmp.path().join("spec");
    local_spec(&spec, &tgz, None);
    let lock = tmp.path().join("lpbake.lock");
    let o = build_spec(&tmp.path().join("cache"), &spec, &lock, &tmp.path().join("out"), &[]);
    let text = ok(&o);
    assert!(text.contains("lpbake.lock") && text.contains("pinned"), "{text}");
    assert!(text.contains("no checksums file"), "trust-on-first-use must be announced:\n{text}");
    let l = lpbake::lock::Lock::load(&lock).unwrap();
    assert_eq!(l.files.values().next().unwrap().sha256, Digest::of(&std::fs::read(&tgz).unwrap()));
}

#[test]
fn archive_attack_reaches_the_operator_as_one_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("tool.tar.gz");
    tarball(&tgz, &[("tool/bin/tool", b"x"), ("../../etc/cron.d/evil", b"* * * * * root sh\n")]);
    let spec = tmp.path().join("spec");
    local_spec(&spec, &tgz, None);
    let out = tmp.path().join("out");
    let o = build_spec(&tmp.path().join("cache"), &spec, &tmp.path().join("l.lock"), &out, &[]);
    let text = failed(&o);
    assert!(text.contains("../../etc/cron.d/evil") && text.contains("tool.tar.gz"), "{text}");
    assert!(!out.exists());
    assert!(!tmp.path().join("etc").exists());
}

#[test]
fn malformed_spec_names_file_line_and_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec");
    std::fs::create_dir_all(&spec).unwrap();
    std::fs::write(
        spec.join("x.toml"),
        "[image]\nbase = \"scratch\"\ncomponents = []\nuser = \"65532:65532\"\nentrypiont = [\"/x\"]\n",
    )
    .unwrap();
    let o = build_spec(&tmp.path().join("cache"), &spec, &tmp.path().join("l.lock"), &tmp.path().join("out"), &[]);
    let text = failed(&o);
    assert!(text.contains("x.toml:5") && text.contains("entrypiont") && text.contains("fix:"), "{text}");
}

#[test]
fn planted_keystore_file_fails_the_build_naming_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("tool.tar.gz");
    let key = "keystore/UTC--2024-01-01T00-00-00.000000000Z--c0ffee0000000000000000000000000000000000";
    tarball(&tgz, &[("tool/bin/tool", b"x"), (key, br#"{"crypto":{}}"#)]);
    let spec = tmp.path().join("spec");
    local_spec(&spec, &tgz, None);
    let text = std::fs::read_to_string(spec.join("tool.toml")).unwrap();
    let planted = text.replace(
        "[image]",
        &format!("[[component.install]]\nfrom = \"{key}\"\nto = \"/var/lib/livepeer/{key}\"\n[image]"),
    );
    std::fs::write(spec.join("tool.toml"), planted).unwrap();
    let out = tmp.path().join("out");
    let o = build_spec(&tmp.path().join("cache"), &spec, &tmp.path().join("l.lock"), &out, &[]);
    let text = failed(&o);
    assert!(text.contains(&format!("/var/lib/livepeer/{key}")) && text.contains("keystore"), "{text}");
    assert!(!out.exists());
}

#[test]
fn archive_order_unlike_layer_order_falls_back_to_the_same_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("tool.tar.gz");
    // The archive holds b before a; the layer lists a before b, so it cannot be streamed.
    tarball(&tgz, &[("tool/bin/b", b"bee\n"), ("tool/bin/a", b"ay\n")]);
    let spec = tmp.path().join("spec");
    local_spec(&spec, &tgz, None);
    let text = std::fs::read_to_string(spec.join("tool.toml")).unwrap().replace(
        "from = \"tool/bin/tool\"\nto = \"/usr/local/bin/tool\"",
        "from = \"tool/bin/b\"\nto = \"/usr/local/bin/b\"\n[[component.install]]\nfrom = \"tool/bin/a\"\nto = \"/usr/local/bin/a\"",
    );
    std::fs::write(spec.join("tool.toml"), text).unwrap();
    let lock = tmp.path().join("l.lock");
    let (cold, warm) = (tmp.path().join("cold"), tmp.path().join("warm"));
    ok(&build_spec(&tmp.path().join("cache"), &spec, &lock, &cold, &[]));
    // Rebuilt from the unpacked files alone (layer cache gone), the image is the same.
    std::fs::remove_dir_all(tmp.path().join("cache/layers")).unwrap();
    ok(&build_spec(&tmp.path().join("cache"), &spec, &lock, &warm, &[]));
    assert_eq!(std::fs::read(cold.join("images.json")).unwrap(), std::fs::read(warm.join("images.json")).unwrap());
    // And the layer holds both files with their bytes.
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(cold.join("images.json")).unwrap()).unwrap();
    let layer = summary["tool"]["layers"][0].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let gz = std::fs::File::open(cold.join("oci/tool/blobs/sha256").join(layer)).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for e in tar::Archive::new(flate2::read::GzDecoder::new(gz)).entries().unwrap() {
        let mut e = e.unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        files.insert(e.path().unwrap().display().to_string(), body);
    }
    assert_eq!(files["usr/local/bin/a"], "ay\n");
    assert_eq!(files["usr/local/bin/b"], "bee\n");
}

#[test]
fn full_disk_is_one_clear_error_and_leaves_nothing_behind() {
    // A 16 MiB filesystem in a private mount namespace: gone when the shell exits.
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("tool.tar.gz");
    // Incompressible (xorshift), so the layer is as big as the file.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let big: Vec<u8> = (0..40_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    tarball(&tgz, &[("tool/bin/tool", &big)]);
    let spec = tmp.path().join("spec");
    local_spec(&spec, &tgz, None);
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=16m tmpfs {small} || exit 99; \
         {bin} build --spec {spec} --lock {lock} --out {small}/out; echo \"rc=$?\"; echo \"left=$(ls -A {small})\"",
        small = small.display(),
        bin = env!("CARGO_BIN_EXE_lpbake"),
        spec = spec.display(),
        lock = tmp.path().join("l.lock").display(),
    );
    let o = std::process::Command::new(tool("unshare"))
        .args(["-m", "sh", "-c", &script])
        .env("LPBAKE_CACHE_DIR", tmp.path().join("cache"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_ne!(o.status.code(), Some(99), "cannot mount a tmpfs (needs root, as `make test` runs):\n{text}");
    assert!(text.contains("rc=1"), "{text}");
    assert!(text.contains("No space left on device") && text.contains("fix: free space"), "{text}");
    assert_eq!(text.matches("error:").count(), 1, "{text}");
    assert!(text.contains("left=\n") || text.trim_end().ends_with("left="), "half-written output left:\n{text}");
}

#[test]
fn archive_with_a_wanted_member_twice_fails_the_cold_build_and_the_rebuild_alike() {
    // Before: the cold build streamed the first copy into the layer, a rebuild from the unpacked
    // members (layer cache deleted) took the last: two different images from one spec and lock.
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("tool.tar.gz");
    tarball(&tgz, &[("tool/bin/tool", b"#!/bin/sh\necho first\n"), ("tool/bin/tool", b"#!/bin/sh\necho second\n")]);
    let spec = tmp.path().join("spec");
    local_spec(&spec, &tgz, None);
    let (lock, cache) = (tmp.path().join("l.lock"), tmp.path().join("cache"));
    for (round, out) in ["cold", "rebuild"].iter().enumerate() {
        if round == 1 {
            let _ = std::fs::remove_dir_all(cache.join("layers"));
        }
        let text = failed(&build_spec(&cache, &spec, &lock, &tmp.path().join(out), &[]));
        assert!(text.contains("`tool/bin/tool`") && text.contains("more than once"), "{out}: {text}");
        assert!(text.contains(&format!("file://{}", tgz.display())), "{out}: names the URL: {text}");
        assert!(
            text.contains(&cache.join("blobs/sha256").display().to_string()),
            "{out}: names the cache file: {text}"
        );
        assert_eq!(text.matches("error:").count(), 1, "{text}");
        assert!(!tmp.path().join(out).exists());
    }
}

/// A one-tarball spec built once (pins written, the tarball downloaded into the cache);
/// returns the tarball's pin, the spec, the lock and the cache.
fn built_once(tmp: &Path) -> (Digest, std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let tgz = tmp.join("tool.tar.gz");
    tarball(&tgz, &[("tool/bin/tool", b"#!/bin/sh\necho tool\n")]);
    let spec = tmp.join("spec");
    local_spec(&spec, &tgz, None);
    let (lock, cache) = (tmp.join("l.lock"), tmp.join("cache"));
    ok(&build_spec(&cache, &spec, &lock, &tmp.join("A"), &[]));
    (Digest::of(&std::fs::read(&tgz).unwrap()), spec, lock, cache)
}

fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

/// Forgets what was unpacked and layered, so the next build reads its sources again.
fn forget_derived(cache: &Path) {
    for d in ["layers", "unpacked"] {
        let _ = std::fs::remove_dir_all(cache.join(d));
    }
}

#[test]
fn damaged_cached_source_blob_is_dropped_and_fetched_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (sha, spec, lock, cache) = built_once(tmp.path());
    let cached = cache.join("blobs/sha256").join(sha.hex());
    let mirror = tmp.path().join("mirror");
    std::fs::create_dir_all(mirror.join("blobs/sha256")).unwrap();
    std::fs::copy(tmp.path().join("tool.tar.gz"), mirror.join("blobs/sha256").join(sha.hex())).unwrap();

    // Offline, from the mirror.
    flip_a_byte(&cached);
    forget_derived(&cache);
    let args = ["--locked".into(), "--offline".into(), "--mirror".into(), mirror.into_os_string()];
    let text = ok(&build_spec(&cache, &spec, &lock, &tmp.path().join("B"), &args));
    assert!(text.contains(&cached.display().to_string()) && text.contains("damaged"), "{text}");
    assert_eq!(tree_digests(&tmp.path().join("A")), tree_digests(&tmp.path().join("B")));

    // From its URL again, and a truncated copy (size wrong) alike.
    std::fs::write(&cached, b"cut").unwrap();
    forget_derived(&cache);
    let text = ok(&build_spec(&cache, &spec, &lock, &tmp.path().join("C"), &["--locked".into()]));
    assert!(text.contains(&cached.display().to_string()) && text.contains("damaged"), "{text}");
    assert_eq!(tree_digests(&tmp.path().join("A")), tree_digests(&tmp.path().join("C")));
    assert_eq!(Digest::of(&std::fs::read(&cached).unwrap()), sha, "the cache holds the genuine blob again");
}

#[test]
fn damaged_cached_base_image_blob_is_dropped_and_fetched_again() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    ok(&build_offline(&cache, &tmp.path().join("A")));
    // Taken now: output blobs may share inodes with the cache (a bug of its own).
    let before = tree_digests(&tmp.path().join("A"));
    // The largest blob the cache copied from the mirror: a base image layer.
    let mirror = fixtures().join("mirror/blobs/sha256");
    let victim = std::fs::read_dir(cache.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| mirror.join(p.file_name().unwrap()).is_file())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("base image blobs are copied into the cache");
    flip_a_byte(&victim);
    let text = ok(&build_offline(&cache, &tmp.path().join("B")));
    assert!(text.contains(&victim.display().to_string()) && text.contains("damaged"), "{text}");
    assert_eq!(before, tree_digests(&tmp.path().join("B")));
}

#[test]
fn blob_larger_than_its_pin_fails_fast_without_hashing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let tgz = tmp.path().join("tool.tar.gz");
    tarball(&tgz, &[("tool/bin/tool", b"x")]);
    let (sha, size) = (Digest::of(&std::fs::read(&tgz).unwrap()), std::fs::metadata(&tgz).unwrap().len());
    let spec = tmp.path().join("spec");
    local_spec(&spec, &tgz, None);
    let lock = tmp.path().join("l.lock");
    sized_lock(&lock, &format!("file://{}", tgz.display()), &sha, size);
    let huge = |path: &Path| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(path).unwrap().set_len(10 << 30).unwrap();
    };

    // A mirror blob: an error naming the mirror file and both sizes.
    let mirror = tmp.path().join("mirror");
    let in_mirror = mirror.join("blobs/sha256").join(sha.hex());
    huge(&in_mirror);
    let args = ["--locked".into(), "--offline".into(), "--mirror".into(), mirror.into_os_string()];
    let t = std::time::Instant::now();
    let text = failed(&build_spec(&tmp.path().join("c1"), &spec, &lock, &tmp.path().join("o1"), &args));
    assert!(t.elapsed() < std::time::Duration::from_secs(2), "took {:?}", t.elapsed());
    assert!(text.contains(&in_mirror.display().to_string()), "{text}");
    assert!(text.contains(&format!("{} bytes where the pin says {size} bytes", 10u64 << 30)), "{text}");

    // A cache blob: dropped with a warning, fetched again.
    let cache = tmp.path().join("c2");
    huge(&cache.join("blobs/sha256").join(sha.hex()));
    let t = std::time::Instant::now();
    let text = ok(&build_spec(&cache, &spec, &lock, &tmp.path().join("o2"), &["--locked".into()]));
    assert!(t.elapsed() < std::time::Duration::from_secs(5), "took {:?}", t.elapsed());
    assert!(text.contains("damaged") && text.contains(&format!("{size}")), "{text}");

    // A file:// source larger than its pin is not read past the pin.
    let lock2 = tmp.path().join("l2.lock");
    sized_lock(&lock2, &format!("file://{}", tgz.display()), &sha, size - 1);
    let text = failed(&build_spec(&tmp.path().join("c3"), &spec, &lock2, &tmp.path().join("o3"), &["--locked".into()]));
    assert!(text.contains(&format!("where the pin says {} bytes", size - 1)), "{text}");
}
