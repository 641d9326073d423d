//! `make vm-test`: the appliance disk boots under qemu (TCG, OVMF, root on NVMe) and is checked
//! from inside and outside. The product disk is built offline from the fixtures twice, in
//! different working dirs, time zones, umasks and caches, the second under a default ACL: the two
//! must be the same bytes. The first output then takes a second build of every target (nothing
//! written), damage (rebuilt) and a foreign file (refused). The booted disk is the test's node (the product spec with tests/vm/appliance.toml, fit for a
//! network that reaches no chain) plus a probe (tests/vm/report.sh and its unit), written by the
//! same disk writer; a product disk never holds a probe. The probe reports on the second serial
//! port; the test checks ports through qemu's port forwards to host loopback (the guest network
//! is `restrict=on`: it reaches nothing else), then powers the VM off and scans the root disk for
//! the password. Scenarios: the node with its data volume; the same image without it; a second,
//! fresh copy of the disk with the same data volume (same node address).

mod common;
use common::qemu::{boot, copy_disk, data_volume, probe_disk, volume};
use common::*;
use lpbake::digest::Digest;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "vm-test-pw-7d1f0c2b9e";

/// One test, in phases, so that its disks (GiBs) live in one temp dir removed at its end, also
/// when a check fails: the product disk built twice and compared; the test's node disk; then the
/// node booted with and without its data volume side by side, and once more on a fresh disk.
#[test]
fn the_appliance_disk_is_reproducible_boots_healthy_and_holds_up() {
    // Inside the workspace: lpwatch is built from it.
    let work = tempfile::Builder::new().prefix("lpbake-vm-").tempdir_in(repo().join("target")).unwrap();
    let w = work.path();
    let node = std::thread::scope(|s| {
        let reproducible = s.spawn(|| disk_builds_are_identical_across_dirs_time_zones_umasks_and_caches(w));
        let node = node_disk(w);
        join(reproducible);
        node
    });
    std::thread::scope(|s| {
        let without = s.spawn(|| without_its_data_volume_livepeer_stays_stopped_and_says_why(&node));
        with_its_data_volume_the_node_is_healthy_locked_down_and_keeps_its_identity(&node);
        join(without);
    });
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// The test's own disk in `work`/T: the rootfs of the test's node (the product spec with
/// tests/vm/appliance.toml, fit for a sealed network) plus the probe `tests/vm/report.sh`.
fn node_disk(work: &Path) -> PathBuf {
    let spec = work.join("spec");
    std::fs::create_dir(&spec).unwrap();
    for e in std::fs::read_dir(repo().join("images")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") && !p.ends_with("appliance.toml") {
            std::fs::copy(&p, spec.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(repo().join("tests/vm/appliance.toml"), spec.join("appliance.toml")).unwrap();
    let f = fixtures();
    let out = work.join("node");
    let args =
        ["--offline".into(), "--mirror".into(), f.join("mirror").into_os_string(), "--target".into(), "disk".into()];
    ok(&build_spec(&work.join("node-cache"), &spec, &f.join("lpbake.lock"), &out, &args));
    let probe = std::fs::read(repo().join("tests/vm/report.sh")).unwrap();
    let t = work.join("T");
    probe_disk(&out.join("disk/rootfs.tar"), lpbake::unpack::Format::Tar, &probe, &[], &work.join("probe-store"), &t);
    t
}

/// Byte offsets where `needle` occurs in the file at `path` (streamed).
fn occurrences(path: &Path, needle: &[u8]) -> usize {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    let mut count = 0;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return count;
        }
        carry.extend_from_slice(&buf[..n]);
        count += carry.windows(needle.len()).filter(|w| *w == needle).count();
        let keep = carry.len().saturating_sub(needle.len() - 1);
        carry.drain(..keep);
    }
}

fn disk_builds_are_identical_across_dirs_time_zones_umasks_and_caches(work: &Path) {
    let a = work.join("A");
    ok(&build_offline_with(&work.join("cache-a"), &a, &["--target", "disk"]));
    // B elsewhere, and under a default ACL that every file and directory made there inherits
    // (its output, its cache, the tree it materializes): none of it may reach the disk.
    let acl = work.join("acl");
    std::fs::create_dir(&acl).unwrap();
    ok(&Command::new(tool("setfacl")).args(["-d", "-m", "u:1234:rwx"]).arg(&acl).output().unwrap());
    let b = acl.join("B");
    ok(&build_offline_elsewhere(&acl.join("cache-b"), &b, &work.join("elsewhere"), "disk"));
    for f in ["disk.raw", "disk.vhd", "rootfs.tar", "image-info.json"] {
        let (da, db) =
            (Digest::of_file(&a.join("disk").join(f)).unwrap(), Digest::of_file(&b.join("disk").join(f)).unwrap());
        assert_eq!(da, db, "{f} differs between two builds");
    }
    let info = std::fs::read_to_string(a.join("disk/image-info.json")).unwrap();
    let sha = Digest::of_file(&a.join("disk/disk.raw")).unwrap().to_string();
    assert!(info.contains(sha.trim_start_matches("sha256:")), "image-info.json lacks disk.raw's sha256 {sha}:\n{info}");
    second_builds_write_nothing_and_what_is_damaged_is_rebuilt(&work.join("cache-a"), &a);
}

/// `lpbake build ARGS` from the fixtures into `out` (no target added: ARGS say it, or none does).
fn build(cache: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    let f = fixtures();
    lpbake(cache)
        .current_dir(repo())
        .args(["build", "--offline", "--mirror"])
        .arg(f.join("mirror"))
        .arg("--lock")
        .arg(f.join("lpbake.lock"))
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

/// Every file under `dir` with its inode and modification time: what a build that writes
/// nothing leaves as it was.
fn stamps(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    files_under(dir)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap();
            (p, (m.ino(), m.modified().unwrap()))
        })
        .collect()
}

/// Into an output lpbake wrote (the disk only, then the images beside it), a build of any
/// target and any `--image` with nothing changed writes nothing and says so; an image whose
/// files were damaged is written again, the rest carried over; a foreign file is refused, kept.
fn second_builds_write_nothing_and_what_is_damaged_is_rebuilt(cache: &Path, out: &Path) {
    let nothing = |args: &[&str]| {
        let before = stamps(out);
        let text = ok(&build(cache, out, args));
        assert!(text.contains("up to date, nothing written"), "{args:?}:\n{text}");
        assert_eq!(stamps(out), before, "{args:?} changed the output");
    };
    // The disk only.
    nothing(&["--target", "disk"]);
    // --image with the oci target left out picks nothing: refused, not ignored.
    let text = failed(&build(cache, out, &["--target", "disk", "--image", "livepeer"]));
    assert!(text.contains("--image") && text.contains("fix:"), "{text}");
    // The images beside it: the disk is carried over as it was.
    let disk: Vec<_> = stamps(out).into_iter().filter(|(p, _)| p.starts_with(out.join("disk"))).collect();
    let text = ok(&build(cache, out, &["--target", "oci"]));
    assert!(text.contains("livepeer: sha256:") && text.contains("(built)"), "{text}");
    assert!(disk.iter().all(|(p, s)| stamps(out).get(p) == Some(s)), "the disk was rewritten by --target oci");
    for args in [
        &["--target", "oci"][..],
        &[],
        &["--target", "oci,disk"],
        &["--target", "disk"],
        &["--image", "livepeer"],
        &["--image", "geth", "--target", "oci,disk"],
    ] {
        nothing(args);
    }

    // Damage: a layout without its index.json, a blob edited in place (same size).
    std::fs::remove_file(out.join("oci/geth/index.json")).unwrap();
    let summary = lpbake::oci::summary::Summary::read(out).unwrap().unwrap();
    let blob = out.join("oci/livepeer/blobs/sha256").join(summary.images["livepeer"].layers.last().unwrap().hex());
    let mut bytes = std::fs::read(&blob).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let before = stamps(out);
    let text = ok(&build(cache, out, &[]));
    for (image, how) in [("geth", "(built)"), ("livepeer", "(built)"), ("ffmpeg", "(unchanged)")] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{image}: ")) && l.ends_with(how)),
            "{image} {how}:\n{text}"
        );
    }
    assert!(out.join("oci/geth/index.json").is_file());
    let after = stamps(out);
    for p in [out.join("disk/disk.raw"), out.join("ffmpeg.docker.tar")] {
        assert_eq!(after[&p], before[&p], "{} was rewritten", p.display());
    }
    nothing(&[]);

    // A foreign file anywhere inside: refused before any work, and kept.
    let notes = out.join("disk/notes.txt");
    std::fs::write(&notes, "mine").unwrap();
    let text = failed(&build(cache, out, &[]));
    assert!(text.contains("disk/notes.txt") && text.contains("did not write") && text.contains("fix:"), "{text}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
    std::fs::remove_file(&notes).unwrap();
}

fn with_its_data_volume_the_node_is_healthy_locked_down_and_keeps_its_identity(t: &Path) {
    let dir = t.to_path_buf();
    let (data, geth) = (dir.join("data.img"), dir.join("geth.img"));
    data_volume(&data, PASSWORD);
    volume(&geth, "lp-geth", None, "64M");
    let first = dir.join("first.raw");
    copy_disk(&t.join("disk.raw"), &first);
    let run = boot("node", &first, Some(&data), &geth);

    assert_eq!(run.fact("data_mounted"), "yes");
    for unit in ["livepeer", "lpwatch", "chrony", "nftables"] {
        assert_eq!(
            run.fact(&format!("active_{unit}")),
            "active",
            "{unit} not active:\n{}",
            run.text("livepeer_status")
        );
    }
    assert_eq!(run.fact("healthz"), "200", "lpwatch never healthy; console:\n{}", run.tail());
    assert_eq!(run.fact("livepeer_exe"), "/usr/local/bin/livepeer");
    assert_eq!(run.fact("livepeer_nofile"), "65536/65536");
    assert_ne!(run.fact("livepeer_user"), "root");
    assert_eq!(run.fact("password_in_proc"), "0", "the password is in a /proc/*/cmdline or environ");
    let recovered = run.fact("recovered_ms");
    let ms: u64 = recovered.parse().unwrap_or_else(|_| panic!("livepeer not healthy again after kill -9: {recovered}"));
    assert!(ms <= 10_000, "healthy again only after {ms} ms");
    assert_ne!(run.fact("livepeer_pid_after"), run.fact("livepeer_pid"));
    let nft = run.text("nft");
    let input =
        nft.split("chain ").find(|c| c.contains("hook input")).unwrap_or_else(|| panic!("no input chain:\n{nft}"));
    assert!(input.contains("policy drop"), "input policy is not drop:\n{nft}");
    assert!(run.answers[&8935], "8935 does not answer through the port forward");
    for port in [7935, 7936, 7937] {
        assert!(!run.answers[&port], "guest port {port} answers from outside");
    }
    let addr = run.fact("eth_addr").to_string();
    assert!(addr.starts_with("0x") && addr.len() == 42, "no node address: {addr}");
    // The root disk holds the password nowhere (journal, logs, config, free blocks included).
    assert_eq!(occurrences(&first, PASSWORD.as_bytes()), 0, "the password is on the root disk");

    // A second, fresh copy of the image with the same data volume is the same node.
    let second = dir.join("second.raw");
    copy_disk(&t.join("disk.raw"), &second);
    let again = boot("node-again", &second, Some(&data), &geth);
    assert_eq!(again.fact("healthz"), "200");
    assert_eq!(again.fact("eth_addr"), addr, "a fresh disk with the same data volume is another node");
}

fn without_its_data_volume_livepeer_stays_stopped_and_says_why(t: &Path) {
    let dir = t.join("no-data");
    std::fs::create_dir_all(&dir).unwrap();
    let geth = dir.join("geth.img");
    volume(&geth, "lp-geth", None, "64M");
    let root = dir.join("root.raw");
    copy_disk(&t.join("disk.raw"), &root);
    let run = boot("no-data", &root, None, &geth);
    assert_eq!(run.fact("data_mounted"), "no");
    assert_ne!(run.fact("active_livepeer"), "active");
    let status = run.text("livepeer_status");
    assert!(
        status.contains("Dependency failed for livepeer.service")
            && status.contains("data volume LABEL=lp-data at /var/lib/livepeer"),
        "livepeer's status does not say the data volume is missing:\n{status}"
    );
    assert_eq!(
        run.fact("root_var_lib_livepeer_entries"),
        "0",
        "something was written to the root disk's /var/lib/livepeer"
    );
}
