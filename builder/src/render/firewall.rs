//! `/etc/nftables.conf`: inbound default drop. Loopback, established flows and the ICMP/ICMPv6
//! messages IP needs are accepted; then only the node's open ports (8935/tcp for an
//! orchestrator, 30303 for geth when enabled) and ssh from the configured networks. The CLI API
//! and lpwatch's ports listen on loopback only and are never opened here. The ssh networks
//! become set elements through [`quote::nft_networks`] (checked, overlaps merged).

use super::{Node, RenderedTree};
use crate::error::Result;
use crate::quote;
use std::fmt::Write;

const FILE: &str = "/etc/nftables.conf";

/// The nftables service of the base, enabled by a link.
const NFTABLES_UNIT: &str = "/usr/lib/systemd/system/nftables.service";

pub fn add(t: &mut RenderedTree, node: &Node) -> Result<()> {
    t.file(FILE, 0o755, ruleset(node)?.into_bytes());
    t.symlink("/etc/systemd/system/sysinit.target.wants/nftables.service", NFTABLES_UNIT);
    Ok(())
}

fn set(name: &str, kind: &str, elements: &[String]) -> String {
    let mut s = format!("\tset {name} {{\n\t\ttype {kind}\n\t\tflags interval\n");
    if !elements.is_empty() {
        let _ = writeln!(s, "\t\telements = {{ {} }}", elements.join(", "));
    }
    s.push_str("\t}\n");
    s
}

/// The ruleset text.
pub fn ruleset(node: &Node) -> Result<String> {
    let f = &node.firewall;
    let ssh = quote::nft_networks(f.ssh_allow.iter().map(String::as_str)).map_err(|e| {
        e.at(FILE, "ssh_allow", "list networks as ADDRESS/PREFIX in [ssh] allow of images/appliance.toml")
    })?;
    let mut s = String::from("#!/usr/sbin/nft -f\n# Rendered by lpbake from images/appliance.toml: inbound default drop.\n\nflush ruleset\n\ntable inet lpbake {\n");
    s.push_str(&set("ssh_v4", "ipv4_addr", &ssh.v4));
    s.push_str(&set("ssh_v6", "ipv6_addr", &ssh.v6));
    s.push_str("\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n");
    s.push_str("\t\tiif \"lo\" accept\n");
    s.push_str("\t\tct state established,related accept\n");
    s.push_str("\t\tct state invalid drop\n");
    s.push_str("\t\tip protocol icmp icmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } accept\n");
    s.push_str("\t\tip6 nexthdr ipv6-icmp icmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept\n");
    s.push_str("\t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept\n");
    s.push_str("\t\ttcp dport 22 ip saddr @ssh_v4 accept\n");
    s.push_str("\t\ttcp dport 22 ip6 saddr @ssh_v6 accept\n");
    for p in &f.tcp {
        let _ = writeln!(s, "\t\ttcp dport {p} accept");
    }
    for p in &f.udp {
        let _ = writeln!(s, "\t\tudp dport {p} accept");
    }
    s.push_str("\t}\n\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n\n");
    s.push_str("\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n\t}\n}\n");
    Ok(s)
}
