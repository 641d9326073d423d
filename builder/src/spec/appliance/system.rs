//! The system around the node: who reaches ssh, chrony's servers, the volumes' labels, lpwatch's
//! checks and journald's caps.

use super::file::{ChronyDef, JournaldDef, LpwatchDef, SshDef, VolumesDef};
use super::livepeer::is_host;
use super::share;
use super::share::ErrFn;
use super::{Journald, Lpwatch, Role, Volumes, CHECKS, DEFAULT_CHRONY_SERVERS};
use crate::error::{Error, Result};
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// `[ssh] allow`: networks, without host bits.
pub(super) fn ssh(f: SshDef, err: &ErrFn) -> Result<BTreeSet<IpNet>> {
    let mut ssh_allow = BTreeSet::new();
    for c in f.allow {
        let net = c.get_ref().parse::<IpNet>().map_err(|_| {
            err(
                c.span(),
                "ssh.allow",
                format!("`{}` is not a CIDR", c.get_ref()),
                "write networks as ADDRESS/PREFIX, e.g. \"203.0.113.0/24\" or \"2001:db8::/32\"",
            )
        })?;
        if net.trunc() != net {
            return Err(err(
                c.span(),
                "ssh.allow",
                format!("`{net}` has host bits set"),
                &format!("write the network address: \"{}\"", net.trunc()),
            ));
        }
        ssh_allow.insert(net);
    }

    Ok(ssh_allow)
}

/// `[chrony] servers`: host names or addresses; the public pool when absent.
pub(super) fn chrony(f: ChronyDef, file: &Path, err: &ErrFn) -> Result<Vec<String>> {
    let servers = match f.servers {
        None => DEFAULT_CHRONY_SERVERS.iter().map(|s| s.to_string()).collect(),
        Some(list) => {
            let mut out = Vec::new();
            for s in list {
                if !is_host(s.get_ref()) {
                    return Err(err(
                        s.span(),
                        "chrony.servers",
                        format!("`{}` is not a host name or address", s.get_ref()),
                        "list NTP servers by name or address, e.g. \"169.254.169.123\" (Amazon Time Sync) or \"2.pool.ntp.org\"",
                    ));
                }
                out.push(s.into_inner());
            }
            if out.is_empty() {
                return Err(Error::config(
                    file,
                    None,
                    "chrony.servers is empty",
                    "list at least one NTP server, or remove the key for the public pool",
                ));
            }
            out
        }
    };

    Ok(servers)
}

/// `[volumes]`: ext4 labels, distinct.
pub(super) fn volumes(f: VolumesDef, file: &Path, err: &ErrFn) -> Result<Volumes> {
    let label = |v: Option<Spanned<String>>, key: &str, default: &str| -> Result<String> {
        let Some(v) = v else { return Ok(default.to_string()) };
        let l = v.get_ref();
        if l.is_empty() || l.len() > 16 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(err(
                v.span(),
                key,
                format!("`{l}` is not an ext4 label"),
                "use at most 16 letters, digits, `-` and `_`, the label given to mkfs.ext4 -L",
            ));
        }
        Ok(v.into_inner())
    };
    let volumes =
        Volumes { data: label(f.data, "volumes.data", "lp-data")?, geth: label(f.geth, "volumes.geth", "lp-geth")? };
    if volumes.data == volumes.geth {
        return Err(Error::config(
            file,
            None,
            "volumes.data and volumes.geth are the same label",
            "give each volume its own label",
        ));
    }

    Ok(volumes)
}

/// `[lpwatch]`: interval, critical checks, the balance floor and the opt-in share (`share.rs`,
/// which needs the role and its span, and whether the node is offchain).
pub(super) fn lpwatch(f: LpwatchDef, role: (Role, Range<usize>), offchain: bool, err: &ErrFn) -> Result<Lpwatch> {
    let interval = match f.interval {
        None => "5s".to_string(),
        Some(i) => {
            humantime::parse_duration(i.get_ref()).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
                err(
                    i.span(),
                    "lpwatch.interval",
                    format!("`{}` is not a duration", i.get_ref()),
                    "write a duration like \"5s\"",
                )
            })?;
            i.into_inner()
        }
    };
    let critical = match f.critical {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for c in list {
                if !CHECKS.contains(&c.get_ref().as_str()) {
                    return Err(err(
                        c.span(),
                        "lpwatch.critical",
                        format!("`{}` is not an lpwatch check", c.get_ref()),
                        &format!("use some of {}", CHECKS.join(", ")),
                    ));
                }
                out.push(c.into_inner());
            }
            Some(out)
        }
    };
    let min_eth_balance = match f.min_eth_balance {
        None => None,
        Some(b) => {
            let ok = b.get_ref().parse::<f64>().is_ok_and(|v| v.is_finite() && v >= 0.0);
            if !ok {
                return Err(err(
                    b.span(),
                    "lpwatch.min_eth_balance",
                    format!("`{}` is not an amount of ETH", b.get_ref()),
                    "write ETH as a decimal string, e.g. \"0.02\"",
                ));
            }
            Some(b.into_inner())
        }
    };

    let share = share::parse(f.share, role, offchain, err)?;
    Ok(Lpwatch { interval, critical, min_eth_balance, share })
}

/// `[journald]`: sizes and the retention.
pub(super) fn journald(f: JournaldDef, err: &ErrFn) -> Result<Journald> {
    let size = |v: Option<Spanned<String>>, key: &str, default: &str| -> Result<String> {
        let Some(v) = v else { return Ok(default.to_string()) };
        let s = v.get_ref();
        let digits = s.trim_end_matches(['K', 'M', 'G', 'T']);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || s.len() - digits.len() > 1 {
            return Err(err(
                v.span(),
                key,
                format!("`{s}` is not a size"),
                "write bytes with an optional K, M, G or T suffix, e.g. \"1G\"",
            ));
        }
        Ok(v.into_inner())
    };
    let max_retention = match f.max_retention {
        None => "1month".to_string(),
        Some(r) => {
            humantime::parse_duration(r.get_ref()).map_err(|_| {
                err(
                    r.span(),
                    "journald.max_retention",
                    format!("`{}` is not a duration", r.get_ref()),
                    "write a duration like \"30days\" or \"1month\"",
                )
            })?;
            r.into_inner()
        }
    };
    Ok(Journald {
        system_max_use: size(f.system_max_use, "journald.system_max_use", "1G")?,
        system_keep_free: size(f.system_keep_free, "journald.system_keep_free", "2G")?,
        max_retention,
    })
}
