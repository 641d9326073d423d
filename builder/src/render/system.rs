//! The system files around the services: `limits.d` (open files for the livepeer user),
//! `sysctl.d` (socket buffers for video), journald size caps, chrony (servers, makestep,
//! rtcsync; enabled by a link), the network (DHCP by systemd-networkd), `/etc/fstab` (the root
//! and the volumes by label, `nofail`) and `sysusers.d` (the service users with fixed ids).
//! Every line with a value of the node in it is made by [`quote`] for its file's language.

use super::{Node, RenderedTree};
use crate::error::Result;
use crate::quote::{self, Quoted};

const HEADER: &str = "# Rendered by lpbake from images/appliance.toml.\n";
/// The chrony service of the base (Debian and Ubuntu name it chrony.service).
const CHRONY_UNIT: &str = "/usr/lib/systemd/system/chrony.service";
/// The root filesystem's label (the disk build gives it).
use crate::disk::ext4::LABEL as ROOT_LABEL;
/// systemd-networkd, which brings up the instance's network (DHCP on every ethernet interface).
const NETWORKD: &str = "/usr/lib/systemd/system/systemd-networkd";

const LIMITS: &str = "/etc/security/limits.d/lpbake.conf";
const SYSCTL: &str = "/etc/sysctl.d/60-lpbake.conf";
const JOURNALD: &str = "/etc/systemd/journald.conf.d/60-lpbake.conf";
const CHRONY: &str = "/etc/chrony/chrony.conf";
const FSTAB: &str = "/etc/fstab";
const SYSUSERS: &str = "/usr/lib/sysusers.d/lpbake.conf";

/// `line` for `file`, or the error naming the file, the key and where the value comes from.
fn at(file: &str, key: &str, line: Quoted) -> Result<String> {
    line.map_err(|e| e.at(file, key, &format!("the value of {key} comes from images/appliance.toml: change it there")))
}

pub fn add(t: &mut RenderedTree, node: &Node) -> Result<()> {
    let mut limits = String::from(HEADER);
    limits.push_str(
        "# The units set LimitNOFILE= themselves; this covers login sessions of the user (e.g. livepeer_cli).\n",
    );
    for l in &node.login_limits {
        limits.push_str(&at(LIMITS, "login_limits", quote::limits_line([&l.domain, &l.kind, &l.item, &l.value]))?);
    }
    t.file(LIMITS, 0o644, limits.into_bytes());

    let mut sysctl = String::from(HEADER);
    for (k, v) in &node.sysctl {
        sysctl.push_str(&at(SYSCTL, &format!("sysctl {k:?}"), quote::sysctl_line(k, v))?);
    }
    t.file(SYSCTL, 0o644, sysctl.into_bytes());

    let mut journald = format!("{HEADER}[Journal]\n");
    for (k, v) in &node.journald {
        let line = quote::systemd_conf_value(v).and_then(|v| quote::systemd_line(k, &v));
        journald.push_str(&at(JOURNALD, &format!("journald {k:?}"), line)?);
    }
    t.file(JOURNALD, 0o644, journald.into_bytes());

    let mut chrony = String::from(HEADER);
    for s in &node.chrony.servers {
        let name = at(CHRONY, "[chrony] servers", quote::chrony_word(s).map(str::to_string))?;
        chrony.push_str(&format!("server {name} iburst\n"));
    }
    chrony.push_str("driftfile /var/lib/chrony/chrony.drift\n# Step the clock at boot when it is more than 1 s off (first 3 updates), then slew.\nmakestep 1 3\nrtcsync\nlogdir /var/log/chrony\n");
    t.file(CHRONY, 0o644, chrony.into_bytes());
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
        let label = at(FSTAB, "[volumes]", quote::fstab_field(&format!("LABEL={}", v.label)))?;
        let mount = at(FSTAB, "a volume's mount point", quote::fstab_field(mount))?;
        let options = at(FSTAB, "a volume's mount options", quote::fstab_options(&v.options))?;
        fstab.push_str(&format!("{label} {mount} ext4 {options} 0 2\n"));
    }
    t.file(FSTAB, 0o644, fstab.into_bytes());

    let mut sysusers = String::from(HEADER);
    for (name, u) in &node.users {
        let field = |key: &str, v: &str| at(SYSUSERS, &format!("user {key}"), quote::sysusers_field(v));
        let (name, description, home) =
            (field("name", name)?, field("description", &u.description)?, field("home", &u.home)?);
        sysusers.push_str(&format!("g {name} {}\n", u.gid));
        sysusers.push_str(&format!("u {name} {}:{} {description} {home} /usr/sbin/nologin\n", u.uid, u.gid));
    }
    t.file(SYSUSERS, 0o644, sysusers.into_bytes());
    Ok(())
}
