//! `lpbake ami-commands` against hand-edited image-info.json files and hostile output paths:
//! either it refuses (non-zero, naming the file and the fix, printing no script) or the script
//! it prints, run by `sh` and pasted into an interactive `bash` (way A as printed, way B
//! uncommented) with stub `aws`, `coldsnap` and `sha256sum` first on PATH that record their
//! argv, creates no file and passes every value as one intact argument.

mod common;

use lpbake::digest::Digest;
use lpbake::disk::{FileInfo, ImageInfo};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What the stubs print on stdout (an id the script captures and passes on).
const STUB_ID: &str = "stub-id";

/// image-info.json as lpbake writes it.
fn info() -> ImageInfo {
    let file = |n: u8| FileInfo { sha256: Digest::of(&[n]), size: 1 << 30 };
    ImageInfo {
        architecture: "x86_64".into(),
        boot_mode: "uefi".into(),
        disk_guid: uuid::Uuid::nil(),
        disk_size: 1 << 30,
        ena_support: true,
        esp_partition_guid: uuid::Uuid::nil(),
        files: BTreeMap::from([
            ("disk.raw".into(), file(1)),
            ("disk.vhd".into(), file(2)),
            ("rootfs.tar".into(), file(3)),
        ]),
        inputs: Digest::of(b"inputs"),
        kernel_cmdline: "root=PARTUUID=00000000-0000-0000-0000-000000000000 ro".into(),
        kernel_version: "6.1.0-18-amd64".into(),
        name: "lpbake-livepeer-0.9.1-0123456789ab".into(),
        nvme_support: true,
        root_device: "/dev/xvda".into(),
        root_fs_label: "lp-root".into(),
        root_fs_uuid: uuid::Uuid::nil(),
        root_partition_guid: uuid::Uuid::nil(),
        tools: lpbake::disk::Tools(BTreeMap::from([("mke2fs".into(), "1.47.0 (5-Feb-2023)".into())])),
        volume_size_gib: 1,
    }
}

/// The stubs, each appending its name and argv (NUL-terminated, after a record separator) to
/// `$STUB_LOG` and printing [`STUB_ID`].
fn stubs(dir: &Path) -> PathBuf {
    let bin = dir.join("stubs");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["aws", "coldsnap", "sha256sum"] {
        let script = format!(
            "#!/bin/sh\n{{ printf '\\036'; printf '%s\\0' {name} \"$@\"; }} >> \"$STUB_LOG\"\necho {STUB_ID}\n"
        );
        std::fs::write(bin.join(name), script).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// Each recorded call: the program's name, then its arguments.
fn calls(log: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split('\u{1e}')
        .filter(|r| !r.is_empty())
        .map(|r| r.strip_suffix('\0').unwrap().split('\0').map(String::from).collect())
        .collect()
}

/// `lpbake ami-commands OUT` for `json` written as OUT/disk/image-info.json.
fn ami_commands(out: &Path, json: &serde_json::Value) -> Output {
    std::fs::create_dir_all(out.join("disk")).unwrap();
    std::fs::write(out.join("disk/image-info.json"), serde_json::to_vec_pretty(json).unwrap()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_lpbake")).arg("ami-commands").arg(out).output().unwrap()
}

/// Runs `script` with `shell` (`sh` reading a file, or `bash -i` reading it as pasted) in an
/// empty directory, the stubs first on PATH: the calls it made. Nothing else may appear there.
fn run_script(dir: &Path, script: &str, pasted: bool) -> Vec<Vec<String>> {
    let work = tempfile::tempdir_in(dir).unwrap();
    let log = dir.join("calls.log");
    let _ = std::fs::remove_file(&log);
    let path = format!("{}:/usr/bin:/bin", stubs(dir).display());
    let mut cmd = if pasted {
        let mut c = Command::new(common::tool("bash"));
        c.args(["--norc", "--noprofile", "-i"]);
        c
    } else {
        Command::new(common::tool("sh"))
    };
    cmd.current_dir(work.path()).env("PATH", path).env("STUB_LOG", &log).env("BUCKET", "bkt");
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(pasted || out.status.success(), "sh: {}\n{script}", String::from_utf8_lossy(&out.stderr));
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "the script created {left:?}:\n{script}");
    calls(&log)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The printed script, run as printed and with way B uncommented, by sh and by a pasted bash:
/// every value reaches the stubs as one intact argument.
fn check_script(dir: &Path, out: &Path, info: &ImageInfo, script: &str) {
    let disk = out.join("disk");
    let (raw, vhd) = (format!("{}/disk.raw", disk.display()), format!("{}/disk.vhd", disk.display()));
    let desc = format!("{} (kernel {})", info.name, info.kernel_version);
    let register = strings(&[
        "aws",
        "ec2",
        "register-image",
        "--name",
        &info.name,
        "--description",
        &desc,
        "--architecture",
        &info.architecture,
        "--boot-mode",
        &info.boot_mode,
        "--ena-support",
        "--virtualization-type",
        "hvm",
        "--imds-support",
        "v2.0",
        "--root-device-name",
        &info.root_device,
        "--block-device-mappings",
        &format!(
            "DeviceName={},Ebs={{SnapshotId={STUB_ID},VolumeSize={},VolumeType=gp3,DeleteOnTermination=true}}",
            info.root_device, info.volume_size_gib
        ),
        "--query",
        "ImageId",
        "--output",
        "text",
    ]);
    let coldsnap = strings(&["coldsnap", "upload", "--wait", &raw]);
    let uncommented: String = script.lines().map(|l| format!("{}\n", l.strip_prefix("#   ").unwrap_or(l))).collect();
    for pasted in [false, true] {
        assert_eq!(run_script(dir, script, pasted), [coldsnap.clone(), register.clone()], "pasted: {pasted}");
        let b = run_script(dir, &uncommented, pasted);
        let key = format!("{}.vhd", info.name);
        assert_eq!(b[0], strings(&["sha256sum", &raw, &vhd]), "pasted: {pasted}");
        assert_eq!(b[1], coldsnap);
        assert_eq!(b[2], strings(&["aws", "s3", "cp", &vhd, &format!("s3://bkt/{key}")]));
        let container = format!("Format=VHD,UserBucket={{S3Bucket=bkt,S3Key={key}}}");
        assert_eq!(
            b[3][..7],
            strings(&["aws", "ec2", "import-snapshot", "--description", &desc, "--disk-container", &container])
        );
        assert_eq!(b.last().unwrap(), &register);
    }
}

/// The value of `key` replaced by `value` in the JSON lpbake writes.
fn edited(key: &str, value: &str) -> serde_json::Value {
    let mut json = serde_json::to_value(info()).unwrap();
    json[key] = serde_json::json!(value);
    json
}

/// Either refused with the file and the fix, or the script is harmless and exact.
fn refused_or_harmless(out: &Path, json: &serde_json::Value) -> bool {
    let o = ami_commands(out, json);
    if o.status.success() {
        let info: ImageInfo = serde_json::from_value(json.clone()).unwrap();
        check_script(out.parent().unwrap(), out, &info, &String::from_utf8(o.stdout).unwrap());
        return false;
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.stdout.is_empty(), "a refusal prints no script");
    let names = err.contains("image-info.json") && err.contains("lpbake build") || err.contains("output directory");
    assert!(names && err.contains("fix:"), "{err}");
    true
}

#[test]
fn what_lpbake_writes_gives_exact_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert!(!refused_or_harmless(&out, &serde_json::to_value(info()).unwrap()));
}

#[test]
fn a_newline_in_the_kernel_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = ami_commands(&out, &edited("kernel_version", "x\nrm -rf ~"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && o.stdout.is_empty(), "{err}");
    let file = out.join("disk/image-info.json");
    assert!(
        err.contains(&file.display().to_string()) && err.contains("kernel_version") && err.contains("fix:"),
        "{err}"
    );
    assert!(!err.contains("x\nrm"), "the value is shown escaped: {err}");
}

#[test]
fn a_command_substitution_in_the_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = ami_commands(&out, &edited("name", "$(touch /tmp/pwned)"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && o.stdout.is_empty(), "{err}");
    assert!(err.contains("image-info.json") && err.contains("`name`") && err.contains("fix:"), "{err}");
}

#[test]
fn hostile_values_are_refused_or_passed_intact() {
    let hostile = [
        ("name", "$(touch pwned)"),
        ("name", "`touch pwned`"),
        ("name", "lp'; touch pwned; '"),
        ("name", "lp\"; touch pwned; \""),
        ("name", "lp\ntouch pwned"),
        ("kernel_version", "6.1`touch pwned`"),
        ("kernel_version", "6.1; touch pwned"),
        ("kernel_version", "6.1\ntouch pwned"),
        ("architecture", "x86_64; touch pwned"),
        ("architecture", "x86_64\ntouch pwned"),
        ("boot_mode", "uefi\"; touch pwned; \""),
        ("boot_mode", "$(touch pwned)"),
        ("root_device", "/dev/xvda\"; touch pwned; \""),
        ("root_device", "/dev/xvda,Ebs={SnapshotId=snap-evil}"),
        ("root_device", "/dev/xvda'$(touch pwned)'"),
    ];
    for (key, value) in hostile {
        let dir = tempfile::tempdir().unwrap();
        assert!(refused_or_harmless(&dir.path().join("out"), &edited(key, value)), "{key} = {value:?} was accepted");
    }
    // Names lpbake allows hold quotes, spaces, brackets and parentheses: printed, they stay one argument.
    let dir = tempfile::tempdir().unwrap();
    let mut json = edited("name", "lp 'node' (v1) [a] @x_y./-");
    json["kernel_version"] = serde_json::json!("6.8.0-31+b1~x");
    assert!(!refused_or_harmless(&dir.path().join("out"), &json));
}

#[test]
fn an_output_directory_with_shell_syntax_in_its_path_stays_one_argument() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o $(touch pwned) `touch pwned`; \"q\" 'x' !h {a,b} * ~");
    assert!(!refused_or_harmless(&out, &serde_json::to_value(info()).unwrap()));
    let out = dir.path().join("o\ntouch pwned");
    let o = ami_commands(&out, &serde_json::to_value(info()).unwrap());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && o.stdout.is_empty() && err.contains("fix:"), "{err}");
}

/// The class: names and kernel versions of lpbake's alphabets, output paths of any printable
/// text, or values of any text at all.
#[test]
fn generated_image_infos_are_refused_or_passed_intact() {
    let any_text = proptest::collection::vec(any::<char>(), 0..16).prop_map(String::from_iter);
    let name = prop_oneof![3 => "[A-Za-z0-9()\\[\\] ./'@_-]{3,24}", 1 => any_text.clone()];
    let kernel = prop_oneof![3 => "[A-Za-z0-9][A-Za-z0-9._+~-]{0,16}", 1 => any_text.clone()];
    let dir_name = prop_oneof![3 => "[ -.0-~]{1,16}", 1 => any_text];
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    runner
        .run(&(name, kernel, dir_name), |(name, kernel, dir_name)| {
            prop_assume!(
                !dir_name.is_empty() && dir_name != "." && dir_name != ".." && !dir_name.contains(['/', '\0'])
            );
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join(&dir_name);
            let mut json = edited("name", &name);
            json["kernel_version"] = serde_json::json!(kernel);
            refused_or_harmless(&out, &json);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
