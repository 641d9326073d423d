//! The system files around the services: `limits.d` (open files for the livepeer user),
//! `sysctl.d` (socket buffers for video), journald size caps, chrony (servers, makestep,
//! rtcsync; enabled by a link), the network (DHCP by systemd-networkd), `/etc/fstab` (the root and the volumes by label, `nofail`) and
//! `sysusers.d` (the service users with fixed ids).

use super::{Node, RenderedTree};
use std::fmt::Write;

const HEADER: &str = "# Rendered by lpbake from images/appliance.toml.\n";
/// The chrony service of the base (Debian and Ubuntu name it chrony.service).
const CHRONY_UNIT: &str = "/usr/lib/systemd/system/chrony.service";
/// The root filesystem's label (the disk build gives it).
use crate::disk::ext4::LABEL as ROOT_LABEL;
/// systemd-networkd, which brings up the instance's network (DHCP on every ethernet interface).
const NETWORKD: &str = "/usr/lib/systemd/system/systemd-networkd";

pub fn add(t: &mut RenderedTree, node: &Node) {
    let mut limits = String::from(HEADER);
    limits.push_str(
        "# The units set LimitNOFILE= themselves; this covers login sessions of the user (e.g. livepeer_cli).\n",
    );
    for l in &node.login_limits {
        let _ = writeln!(limits, "{} {} {} {}", l.domain, l.kind, l.item, l.value);
    }
    t.file("/etc/security/limits.d/lpbake.conf", 0o644, limits.into_bytes());

    let mut sysctl = String::from(HEADER);
    for (k, v) in &node.sysctl {
        let _ = writeln!(sysctl, "{k} = {v}");
    }
    t.file("/etc/sysctl.d/60-lpbake.conf", 0o644, sysctl.into_bytes());

    let mut journald = format!("{HEADER}[Journal]\n");
    for (k, v) in &node.journald {
        let _ = writeln!(journald, "{k}={v}");
    }
    t.file("/etc/systemd/journald.conf.d/60-lpbake.conf", 0o644, journald.into_bytes());

    let mut chrony = String::from(HEADER);
    for s in &node.chrony.servers {
        let _ = writeln!(chrony, "server {s} iburst");
    }
    chrony.push_str("driftfile /var/lib/chrony/chrony.drift\n# Step the clock at boot when it is more than 1 s off (first 3 updates), then slew.\nmakestep 1 3\nrtcsync\nlogdir /var/log/chrony\n");
    t.file("/etc/chrony/chrony.conf", 0o644, chrony.into_bytes());
    t.symlink("/etc/systemd/system/multi-user.target.wants/chrony.service", CHRONY_UNIT);

    // Network: DHCP (IPv4 and IPv6) on every ethernet interface, by systemd-networkd, which a
    // cloud base has; files of the base with lower numbers (e.g. netplan's) win.
    let network = format!("{HEADER}[Match]\nType=ether\n\n[Network]\nDHCP=yes\n");
    t.file("/etc/systemd/network/80-lpbake-dhcp.network", 0o644, network.into_bytes());
    t.symlink("/etc/systemd/system/multi-user.target.wants/systemd-networkd.service", &format!("{NETWORKD}.service"));
    t.symlink("/etc/systemd/system/sockets.target.wants/systemd-networkd.socket", &format!("{NETWORKD}.socket"));
    t.symlink(
        "/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service",
        &format!("{NETWORKD}-wait-online.service"),
    );

    let mut fstab = format!("{HEADER}# Volumes are mounted by label with nofail: a missing one does not stop the boot, and the\n# services that need it do not start (their status says why).\nLABEL={ROOT_LABEL} / ext4 defaults 0 1\n");
    for (mount, v) in &node.volumes {
        let _ = writeln!(fstab, "LABEL={} {mount} ext4 {} 0 2", v.label, v.options.join(","));
    }
    t.file("/etc/fstab", 0o644, fstab.into_bytes());

    let mut sysusers = String::from(HEADER);
    for (name, u) in &node.users {
        let _ = writeln!(sysusers, "g {name} {}", u.gid);
        let _ = writeln!(sysusers, "u {name} {}:{} \"{}\" {} /usr/sbin/nologin", u.uid, u.gid, u.description, u.home);
    }
    t.file("/usr/lib/sysusers.d/lpbake.conf", 0o644, sysusers.into_bytes());
}
