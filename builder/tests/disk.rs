//! The appliance disk from a small synthetic root tree, checked with the real tools: the GPT with
//! sfdisk and sgdisk, the ESP with mtools and fsck.vfat, the root with debugfs and e2fsck, the
//! VHD with qemu-img; image-info.json and the AMI commands; and the same bytes from two builds
//! made at different times with a different umask and time zone.

mod common;

use common::tool;
use lpbake::digest::Digest;
use lpbake::disk::{self, DiskInput, ImageInfo, Tools};
use lpbake::report::{Mode, Reporter};
use lpbake::stage::{Caps, Content, DeviceKind, Entry, Tree};
use lpbake::store::BlobStore;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

const EPOCH: u64 = 1_700_000_000;
const MIB: u64 = 1 << 20;

fn file(store: &BlobStore, bytes: &[u8], mode: u32, uid: u32, gid: u32) -> Entry {
    Entry::generated(store, bytes, mode, uid, gid).unwrap()
}

fn link(target: &str) -> Entry {
    Entry::new(0o777, 0, 0, Content::Symlink { target: target.into() })
}

/// A root tree shaped like a Debian base: GRUB, two kernels (the newer through a symlink) with
/// their initrds, a capability binary with a hard link, a device node, odd names.
fn tree(store: &BlobStore) -> Tree {
    let mut t = Tree::default();
    t.add("/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi", file(store, b"MZ fake grub", 0o644, 0, 0));
    t.add("/boot/vmlinuz-6.1.0-9-amd64", file(store, b"old kernel", 0o644, 0, 0));
    t.add("/boot/initrd.img-6.1.0-9-amd64", file(store, b"old initrd", 0o644, 0, 0));
    // A kernel bigger than a cluster and a copy chunk, so the ESP copy streams.
    let kernel: Vec<u8> = (0..3 * MIB as usize + 77).map(|i| (i % 251) as u8).collect();
    t.add("/boot/vmlinuz-6.1.0-18-amd64", file(store, &kernel, 0o644, 0, 0));
    t.add("/boot/initrd.img-6.1.0-18-amd64", file(store, b"new initrd", 0o644, 0, 0));
    t.add("/vmlinuz", link("boot/vmlinuz-6.1.0-18-amd64"));
    let caps: Caps = "cap_net_bind_service=+ep".parse().unwrap();
    let x = Entry { caps: Some(caps), ..file(store, b"#!/bin/sh\necho x\n", 0o4750, 1000, 1001) };
    t.add("/usr/local/bin/x", x);
    t.add("/usr/local/bin/y", Entry::new(0o755, 0, 0, Content::Hardlink { target: "usr/local/bin/x".into() }));
    t.add("/dev/null", Entry::new(0o666, 0, 0, Content::Device { kind: DeviceKind::Char, major: 1, minor: 3 }));
    t.add("/run/fifo", Entry::new(0o600, 0, 0, Content::Device { kind: DeviceKind::Fifo, major: 0, minor: 0 }));
    t.add("/etc/with space/a b.conf", file(store, b"k = v\n", 0o640, 0, 42));
    t.add("/var/lib/livepeer", Entry::new(0o700, 1000, 1000, Content::Dir));
    t.add("/lib", link("usr/lib"));
    t
}

/// The versions of the installed e2fsprogs, read once for all the builds of this file.
fn tools() -> &'static Tools {
    static TOOLS: std::sync::OnceLock<Tools> = std::sync::OnceLock::new();
    TOOLS.get_or_init(|| Tools::detect().unwrap())
}

fn input<'a>(tree: &'a Tree, store: &'a BlobStore) -> DiskInput<'a> {
    DiskInput {
        tree,
        store,
        epoch: EPOCH,
        seed: Digest::of(b"the lock"),
        root_size: Some(64 * MIB),
        name: "livepeer-appliance-0.8.3".into(),
        base: "images/ubuntu-rootfs.toml".into(),
        tools: tools(),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}: run `make deps`"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha_of(path: &Path) -> Digest {
    let mut h = lpbake::digest::HashWriter::new(std::io::sink());
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut h).unwrap();
    h.finish().1
}

/// Copies `len` bytes from `start` out of the disk: a partition, for the tools that check it.
fn partition(raw: &Path, (start, len): (u64, u64), into: &Path) {
    let mut f = std::fs::File::open(raw).unwrap();
    f.seek(SeekFrom::Start(start)).unwrap();
    std::io::copy(&mut f.take(len), &mut std::fs::File::create(into).unwrap()).unwrap();
}

/// The ESP (256 MiB from 1 MiB) and the root partition (64 MiB from 257 MiB) of the test disk.
const ESP: (u64, u64) = (MIB, 256 * MIB);
const ROOT: (u64, u64) = (257 * MIB, 64 * MIB);

fn build(store: &BlobStore, tree: &Tree, out: &Path) -> ImageInfo {
    disk::write(&input(tree, store), out, &Reporter::new(Mode::Quiet)).unwrap()
}

#[test]
fn disk_boots_the_newest_kernel_from_the_esp_and_holds_the_tree() {
    for t in ["sfdisk", "sgdisk", "mdir", "mtype", "mcopy", "fsck.vfat", "debugfs", "e2fsck", "qemu-img"] {
        tool(t);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::create(dir.path().join("store")).unwrap();
    let tree = tree(&store);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let info = build(&store, &tree, &out);
    let mut names: Vec<_> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["disk.raw", "disk.vhd", "image-info.json", "rootfs.tar"], "no temp files left");
    let raw = out.join("disk.raw");

    // image-info.json: what was returned, keys sorted, sizes and digests of the files.
    assert_eq!(ImageInfo::read(&out).unwrap(), info);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("image-info.json")).unwrap()).unwrap();
    let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!((json["boot_mode"].as_str(), json["architecture"].as_str()), (Some("uefi"), Some("x86_64")));
    assert_eq!((json["root_device"].as_str(), json["ena_support"].as_bool()), (Some("/dev/xvda"), Some(true)));
    assert_eq!(json["nvme_support"], true);
    // The versions of the programs that wrote it, as they report them.
    for program in ["mke2fs", "debugfs"] {
        let said = Command::new(program).arg("-V").output().unwrap().stderr;
        let first = String::from_utf8_lossy(&said).lines().next().unwrap().to_string();
        let recorded = json["tools"][program].as_str().unwrap().split(", ").next().unwrap().to_string();
        assert_eq!(first, format!("{program} {recorded}"));
    }
    assert_eq!(info.kernel_version, "6.1.0-18-amd64");
    // At least what was asked for, grown to a size whose VHD geometry is exact.
    assert!(info.disk_size >= (1 + 256 + 64 + 1) * MIB && info.disk_size.is_multiple_of(MIB), "{}", info.disk_size);
    let root_sectors = 64 * 2048;
    assert_eq!(info.volume_size_gib, 1);
    for (name, f) in &info.files {
        assert_eq!(std::fs::metadata(out.join(name)).unwrap().len(), f.size, "{name}");
        assert_eq!(sha_of(&out.join(name)), f.sha256, "{name}");
    }
    assert_eq!(info.files["disk.vhd"].size, info.disk_size + 512);

    // The partition table.
    let dump: serde_json::Value = serde_json::from_str(&run(Command::new("sfdisk").arg("--json").arg(&raw))).unwrap();
    let pt = &dump["partitiontable"];
    assert_eq!(pt["label"], "gpt");
    assert_eq!(pt["id"].as_str().unwrap().to_lowercase(), info.disk_guid.to_string());
    let parts = pt["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!((parts[0]["start"].as_u64(), parts[0]["size"].as_u64()), (Some(2048), Some(256 * 2048)));
    assert_eq!(parts[0]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_eq!((parts[0]["name"].as_str(), parts[1]["name"].as_str()), (Some("ESP"), Some("root")));
    assert_eq!((parts[1]["start"].as_u64(), parts[1]["size"].as_u64()), (Some(257 * 2048), Some(root_sectors)));
    assert_eq!(parts[1]["type"], "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
    assert_eq!(parts[1]["uuid"].as_str().unwrap().to_lowercase(), info.root_partition_guid.to_string());
    let verify = run(Command::new("sgdisk").arg("-v").arg(&raw));
    assert!(verify.contains("No problems found"), "{verify}");

    // The ESP.
    let esp = format!("{}@@{}", raw.display(), MIB);
    let mtools =
        |cmd: &str, args: &[&str]| run(Command::new(cmd).env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(&esp).args(args));
    let listing = mtools("mdir", &["-/", "-b", "::"]);
    let mut found: Vec<&str> = listing.lines().filter(|l| !l.ends_with('/')).collect();
    found.sort();
    assert_eq!(
        found,
        [
            "::/EFI/BOOT/BOOTX64.EFI",
            "::/EFI/BOOT/grub.cfg",
            "::/EFI/debian/grub.cfg",
            "::/EFI/ubuntu/grub.cfg",
            "::/initrd.img",
            "::/vmlinuz"
        ],
        "{listing}"
    );
    let cfg = mtools("mtype", &["::/EFI/BOOT/grub.cfg"]);
    assert!(
        cfg.contains(&format!("linux /vmlinuz root=PARTUUID={} ro console=tty0", info.root_partition_guid)),
        "{cfg}"
    );
    assert!(cfg.contains("initrd /initrd.img") && cfg.contains("console=ttyS0,115200n8"), "{cfg}");
    assert_eq!(mtools("mtype", &["::/EFI/debian/grub.cfg"]), cfg);
    let kernel = dir.path().join("vmlinuz");
    mtools("mcopy", &["::/vmlinuz", kernel.to_str().unwrap()]);
    let Content::File { blob, .. } = tree.entries["boot/vmlinuz-6.1.0-18-amd64"].content else { panic!() };
    assert_eq!(sha_of(&kernel), blob, "the newest kernel is on the ESP");
    assert_eq!(mtools("mtype", &["::/initrd.img"]), "new initrd");
    let dates = mtools("mdir", &["::/EFI/BOOT"]);
    assert!(dates.contains("2023-11-14"), "FAT times are the epoch: {dates}");
    let label = mtools("mlabel", &["-s", "::"]);
    assert!(label.contains("ESP"), "{label}");
    // fsck.vfat: `.` and `..` of every directory are plain short entries, `..` of a directory in
    // the root names cluster 0.
    let esp_img = dir.path().join("esp.fat");
    partition(&raw, ESP, &esp_img);
    let fsck = run(Command::new("fsck.vfat").arg("-n").arg(&esp_img));
    let remarks: Vec<&str> = fsck.lines().filter(|l| !l.starts_with("fsck.fat ") && !l.contains(" files, ")).collect();
    assert!(remarks.is_empty(), "fsck.vfat -n has remarks: {fsck}");

    // The root filesystem.
    let root = dir.path().join("root.ext4");
    partition(&raw, ROOT, &root);
    run(Command::new("e2fsck").arg("-fn").arg(&root));
    let stat = |p: &str| run(Command::new("debugfs").arg("-R").arg(format!("stat \"{p}\"")).arg(&root));
    let x = stat("/usr/local/bin/x");
    assert!(x.contains("Mode:  04750") && x.contains("User:  1000   Group:  1001"), "{x}");
    assert!(x.contains("Links: 2"), "hard link: {x}");
    assert!(x.contains("security.capability (20) = 01 00 00 02 00 04 00 00"), "{x}");
    for field in [
        " ctime: 0x6553f100:00000000",
        " atime: 0x6553f100:00000000",
        " mtime: 0x6553f100:00000000",
        "crtime: 0x6553f100:00000000",
    ] {
        assert!(x.contains(field), "{field}: {x}");
    }
    for p in ["/", "/lost+found", "/dev/null", "/vmlinuz", "/etc/with space/a b.conf", "/var/lib/livepeer"] {
        let s = stat(p);
        for field in [" ctime: ", " atime: ", " mtime: ", "crtime: "] {
            assert!(s.contains(&format!("{field}0x6553f100:00000000")), "{p} {field}: {s}");
        }
    }
    let null = stat("/dev/null");
    assert!(null.contains("Type: character special") && null.contains("Device major/minor number: 01:03"), "{null}");
    assert!(stat("/etc/with space/a b.conf").contains("Mode:  0640"));
    assert!(stat("/var/lib/livepeer").contains("User:  1000"));
    let fs = run(Command::new("dumpe2fs").arg("-h").arg(&root));
    assert!(fs.contains(&format!("Filesystem UUID:          {}", info.root_fs_uuid)), "{fs}");
    assert!(fs.contains("Filesystem volume name:   lpbake-root"), "{fs}");
    assert!(fs.contains("metadata_csum") && !fs.contains("orphan_file"), "{fs}");

    // The VHD: the same disk for qemu-img (a fixed VHD has its footer only at the end, so qemu-img
    // probes it as raw: it is opened as vpc, which checks the footer's cookie and checksum).
    let qinfo: serde_json::Value = serde_json::from_str(&run(Command::new("qemu-img")
        .args(["info", "-f", "vpc", "--output=json"])
        .arg(out.join("disk.vhd"))))
    .unwrap();
    assert_eq!(qinfo["format"], "vpc");
    assert_eq!(qinfo["virtual-size"].as_u64(), Some(info.disk_size));
    let cmp =
        run(Command::new("qemu-img").args(["compare", "-f", "raw", "-F", "vpc"]).arg(&raw).arg(out.join("disk.vhd")));
    assert!(cmp.contains("identical"), "{cmp}");

    // rootfs.tar: the tree, one member per entry.
    let mut tar = tar::Archive::new(std::fs::File::open(out.join("rootfs.tar")).unwrap());
    assert_eq!(tar.entries().unwrap().count(), tree.entries.len());

    // The AMI commands, filled in.
    let text = disk::ami_commands(&out).unwrap();
    for want in [
        format!("coldsnap upload --wait {}", raw.display()),
        format!("aws s3 cp {}/disk.vhd s3://$BUCKET/livepeer-appliance-0.8.3.vhd", out.display()),
        "Format=VHD,UserBucket={S3Bucket=$BUCKET,S3Key=livepeer-appliance-0.8.3.vhd}".into(),
        "aws ec2 register-image --name livepeer-appliance-0.8.3".into(),
        "--architecture x86_64 --boot-mode uefi --ena-support --virtualization-type hvm --imds-support v2.0".into(),
        "--root-device-name /dev/xvda".into(),
        "DeviceName=/dev/xvda,Ebs={SnapshotId=$SNAPSHOT_ID,VolumeSize=1,VolumeType=gp3,DeleteOnTermination=true}"
            .into(),
        info.files["disk.raw"].sha256.hex(),
    ] {
        assert!(text.contains(&want), "{want}\n{text}");
    }
}

/// Two builds in different directories, a second apart, with another umask and time zone:
/// the same bytes in every output.
#[test]
fn two_builds_are_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::create(dir.path().join("store")).unwrap();
    let tree = tree(&store);
    let mut sums = Vec::new();
    for (i, (umask, tz)) in [(0o022, "UTC"), (0o077, "Pacific/Chatham")].into_iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        std::fs::create_dir(&out).unwrap();
        // SAFETY: umask has no preconditions. The process-wide umask and TZ also reach the other
        // test of this file, which is the point: nothing may depend on them.
        let old = unsafe { libc::umask(umask) };
        std::env::set_var("TZ", tz);
        let info = build(&store, &tree, &out);
        unsafe { libc::umask(old) };
        let files: BTreeMap<String, Digest> = ["rootfs.tar", "disk.raw", "disk.vhd", "image-info.json"]
            .iter()
            .map(|n| (n.to_string(), sha_of(&out.join(n))))
            .collect();
        sums.push((files, info));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    std::env::remove_var("TZ");
    assert_eq!(sums[0], sums[1]);
}

/// A default ACL on the output directory (inherited by everything materialized below it) changes
/// nothing on the disk: the same disk.raw as without, and no file of the root filesystem has an
/// ACL; the declared capability is all the capability binary carries.
#[test]
fn host_acls_do_not_reach_the_disk() {
    for t in ["setfacl", "getfacl", "debugfs"] {
        tool(t);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::create(dir.path().join("store")).unwrap();
    let tree = tree(&store);
    let (plain, acl) = (dir.path().join("plain"), dir.path().join("acl"));
    std::fs::create_dir(&plain).unwrap();
    std::fs::create_dir(&acl).unwrap();
    run(Command::new("setfacl").args(["-d", "-m", "u:1234:rwx"]).arg(&acl));
    assert!(run(Command::new("getfacl").arg(&acl)).contains("default:user:1234:rwx"), "the host has ACLs");
    let (plain_info, acl_info) = (build(&store, &tree, &plain), build(&store, &tree, &acl));
    assert_eq!(sha_of(&acl.join("disk.raw")), sha_of(&plain.join("disk.raw")), "the ACL changed disk.raw");
    assert_eq!(acl_info, plain_info);

    let root = dir.path().join("root.ext4");
    partition(&acl.join("disk.raw"), ROOT, &root);
    let ea_list = |p: &str| run(Command::new("debugfs").arg("-R").arg(format!("ea_list \"{p}\"")).arg(&root));
    let paths = std::iter::once("/".to_string()).chain(tree.entries.keys().map(|p| format!("/{p}")));
    for p in paths.chain(["/lost+found".to_string()]) {
        let attrs = ea_list(&p);
        assert!(!attrs.contains("system.posix_acl"), "{p} has an ACL: {attrs}");
        if p == "/usr/local/bin/x" || p == "/usr/local/bin/y" {
            assert_eq!(
                attrs.trim(),
                "Extended attributes:\n  security.capability (20) = 01 00 00 02 00 04 00 00 \
                                       00 00 00 00 00 00 00 00 00 00 00 00",
                "{p}"
            );
        } else {
            assert_eq!(attrs.trim(), "", "{p} has attributes");
        }
    }
}

#[test]
fn a_base_without_an_initrd_or_grub_is_refused_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::create(dir.path().join("store")).unwrap();
    let mut t = tree(&store);
    t.entries.remove("boot/initrd.img-6.1.0-18-amd64");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let err = disk::write(&input(&t, &store), &out, &Reporter::new(Mode::Quiet)).unwrap_err().to_string();
    assert!(err.contains("images/ubuntu-rootfs.toml") && err.contains("/boot/initrd.img-6.1.0-18-amd64"), "{err}");
    t.entries.remove("usr/lib/grub/x86_64-efi/monolithic/grubx64.efi");
    let err = disk::write(&input(&t, &store), &out, &Reporter::new(Mode::Quiet)).unwrap_err().to_string();
    assert!(err.contains("grub-efi-amd64-bin"), "{err}");
    // A root partition too small for the tree: mke2fs fails, the fix says what to do.
    let big = tree(&store);
    let mut small = input(&big, &store);
    small.root_size = Some(MIB);
    let err = disk::write(&small, &out, &Reporter::new(Mode::Quiet)).unwrap_err().to_string();
    assert!(err.contains("mke2fs") && err.contains("root size"), "{err}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "nothing half-written remains");
    let mut f = std::fs::File::create(out.join("image-info.json")).unwrap();
    f.write_all(b"{}").unwrap();
    let err = disk::ami_commands(&out).unwrap_err().to_string();
    assert!(err.contains("image-info.json") && err.contains("lpbake build"), "{err}");
}

#[test]
fn a_damaged_blob_in_the_store_fails_the_disk_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::create(dir.path().join("store")).unwrap();
    let t = tree(&store);
    let Some(Entry { content: Content::File { blob, .. }, .. }) = t.entries.get("etc/with space/a b.conf") else {
        panic!("the tree has its config file")
    };
    // Same size, other bytes: only the sha256 can tell.
    let path = store.path(blob);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&path, b"k = w\n").unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let err = disk::write(&input(&t, &store), &out, &Reporter::new(Mode::Quiet)).unwrap_err().to_string();
    assert!(err.contains(&blob.hex()), "the error names the damaged blob: {err}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "nothing half-written remains");
}
