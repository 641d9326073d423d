//! `make bench` (tests/bench/disk.sh): boot-to-healthy of the appliance against
//! boot-to-multi-user of its bare base, under the same qemu (TCG, OVMF, root on NVMe), one after
//! the other. Both disks carry the same probe (tests/vm/report.sh) and are written by the same
//! disk writer; times are taken on the host, from qemu's start to the probe's line: `healthz`
//! (lpwatch's /healthz answered 200) for the appliance, `boot_done_ms` (systemd reached its
//! default target) for the base.
//!
//! Usage: boot_bench APPLIANCE_ROOTFS_TAR BASE_ROOTFS_TAR_XZ WORKDIR

#[path = "../tests/common/qemu.rs"]
#[allow(dead_code)] // shared with the VM test, which uses all of it
mod qemu;
#[path = "../tests/common/tools.rs"]
mod tools;

use std::path::PathBuf;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [appliance, base, work] = args.as_slice() else {
        eprintln!("usage: boot_bench APPLIANCE_ROOTFS_TAR BASE_ROOTFS_TAR_XZ WORKDIR");
        std::process::exit(2);
    };
    let probe = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vm/report.sh")).unwrap();
    let store = work.join("store");
    let (app_dir, base_dir) = (work.join("appliance"), work.join("base"));
    qemu::probe_disk(appliance, lpbake::unpack::Format::Tar, &probe, &store, &app_dir);
    qemu::probe_disk(base, lpbake::unpack::Format::TarXz, &probe, &store, &base_dir);
    let (data, geth) = (work.join("data.img"), work.join("geth.img"));
    qemu::data_volume(&data, "bench-password");
    qemu::volume(&geth, "lp-geth", None, "64M");

    let base_run = qemu::boot("bench-base", &base_dir.join("disk.raw"), Some(&data), &geth);
    let app_run = qemu::boot("bench-appliance", &app_dir.join("disk.raw"), Some(&data), &geth);
    let base_t = base_run.marks.get("boot_done_ms").expect("the base never reached its default target");
    let app_t = app_run.marks.get("healthz").expect("the appliance never reported /healthz");
    assert_eq!(app_run.fact("healthz"), "200", "the appliance did not become healthy");
    println!(
        "boot: base to multi-user {:.1} s, appliance to healthy {:.1} s",
        base_t.as_secs_f64(),
        app_t.as_secs_f64()
    );
    println!(
        "ratio boot-to-healthy / boot-to-multi-user: {:.2}x (goal <= 1.2x)",
        app_t.as_secs_f64() / base_t.as_secs_f64()
    );
}
