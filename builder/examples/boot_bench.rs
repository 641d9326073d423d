//! `make bench` (tests/bench/disk.sh): boot-to-healthy of the appliance against
//! boot-to-multi-user of its bare base, under the same qemu (TCG, OVMF, root on NVMe): three
//! rounds, alternating, each boot from a fresh copy of its disk and new volumes; the medians are
//! compared. Both disks carry the same probe (tests/vm/report.sh) and are written by the same
//! disk writer (the base with the appliance's root fstab line, so that its root is writable as the
//! appliance's is); times are taken on the host, from qemu's start to the probe's line: `healthz`
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
    qemu::probe_disk(appliance, lpbake::unpack::Format::Tar, &probe, &[], &store, &app_dir);
    // The base's own fstab leaves the root read-only (the kernel mounts it `ro`), and services
    // that write (resolved, logind, chrony) then fail fast: give it the appliance's root line.
    let fstab = format!("LABEL={} / ext4 defaults 0 1\n", lpbake::disk::ext4::LABEL);
    qemu::probe_disk(
        base,
        lpbake::unpack::Format::TarXz,
        &probe,
        &[("/etc/fstab", fstab.as_bytes())],
        &store,
        &base_dir,
    );
    // Boots alternate, ROUNDS of each; each starts from the same state (a fresh copy of its disk,
    // new volumes), and each side's median is compared: TCG on a shared host is noisy.
    let mut times: [Vec<f64>; 2] = [vec![], vec![]];
    let mut chains = [String::new(), String::new()];
    for round in 1..=ROUNDS {
        for (side, (name, dir, mark)) in
            [("base", &base_dir, "boot_done_ms"), ("appliance", &app_dir, "healthz")].into_iter().enumerate()
        {
            let run_name = format!("bench-{name}-{round}");
            let (root, data, geth) = (
                work.join(format!("{run_name}.raw")),
                work.join(format!("{run_name}-data.img")),
                work.join(format!("{run_name}-geth.img")),
            );
            qemu::copy_disk(&dir.join("disk.raw"), &root);
            qemu::data_volume(&data, "bench-password");
            qemu::volume(&geth, "lp-geth", None, "64M");
            let run = qemu::boot(&run_name, &root, Some(&data), &geth);
            let t = run.marks.get(mark).unwrap_or_else(|| panic!("{run_name}: no `{mark}` from the probe"));
            if side == 1 {
                assert_eq!(run.fact("healthz"), "200", "{run_name}: the appliance did not become healthy");
            }
            println!("round {round}: {name} {:.1} s", t.as_secs_f64());
            times[side].push(t.as_secs_f64());
            chains[side] = run.text("critical_chain");
            for f in [&root, &data, &geth] {
                std::fs::remove_file(f).unwrap();
            }
        }
    }
    println!("base: critical chain to the probe (last round)\n{}", chains[0]);
    println!("appliance: critical chain to the probe (last round)\n{}", chains[1]);
    let (base_t, app_t) = (median(&mut times[0]), median(&mut times[1]));
    println!("boot (median of {ROUNDS}): base to multi-user {base_t:.1} s, appliance to healthy {app_t:.1} s");
    println!("ratio boot-to-healthy / boot-to-multi-user: {:.2}x (goal <= 1.2x)", app_t / base_t);
}

const ROUNDS: usize = 3;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
