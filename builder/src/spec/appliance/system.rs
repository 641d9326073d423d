//! The system around the node: who reaches ssh, chrony's servers, the volumes' labels, lpwatch's
//! checks and journald's caps, each read with the rules of the program that reads it rendered
//! (lpwatch's from `lpbake_rules`, journald's as systemd parses sizes and time spans).

use super::file::{ChronyDef, JournaldDef, LpwatchDef, SshDef, VolumesDef};
use super::livepeer::is_host;
use super::share;
use super::share::ErrFn;
use super::{Journald, Lpwatch, Role, Volumes, DEFAULT_CHRONY_SERVERS};
use crate::error::Result;
use ipnet::IpNet;
use lpbake_rules::checks::{self, CheckName};
use lpbake_rules::units::{parse_duration, parse_eth};
use std::collections::BTreeSet;
use std::ops::Range;
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
pub(super) fn chrony(f: ChronyDef, err: &ErrFn) -> Result<Vec<String>> {
    let Some(list) = f.servers else {
        return Ok(DEFAULT_CHRONY_SERVERS.iter().map(|s| s.to_string()).collect());
    };
    let span = list.span();
    let mut out = Vec::new();
    for s in list.into_inner() {
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
        return Err(err(
            span,
            "chrony.servers",
            "the list is empty".into(),
            "list at least one NTP server, or remove the key for the public pool",
        ));
    }
    Ok(out)
}

/// `[volumes]`: ext4 labels, distinct.
pub(super) fn volumes(f: VolumesDef, err: &ErrFn) -> Result<Volumes> {
    let label = |v: &Option<Spanned<String>>, key: &str, default: &str| -> Result<String> {
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
        Ok(l.clone())
    };
    let volumes =
        Volumes { data: label(&f.data, "volumes.data", "lp-data")?, geth: label(&f.geth, "volumes.geth", "lp-geth")? };
    if volumes.data == volumes.geth {
        // At least one of the two is written (the defaults differ): name the line of one written.
        let (key, at) = match (&f.geth, &f.data) {
            (Some(g), _) => ("volumes.geth", g.span()),
            (None, d) => ("volumes.data", d.as_ref().map(Spanned::span).unwrap_or_default()),
        };
        return Err(err(at, key, "the same label as the other volume".into(), "give each volume its own label"));
    }

    Ok(volumes)
}

/// `[lpwatch]`: interval, critical checks, the balance floor and the opt-in share (`share.rs`,
/// which needs the role and its span, and whether the node is offchain).
pub(super) fn lpwatch(f: LpwatchDef, role: (Role, Range<usize>), offchain: bool, err: &ErrFn) -> Result<Lpwatch> {
    let interval = match f.interval {
        None => "5s".to_string(),
        Some(i) => {
            parse_duration(i.get_ref()).and_then(checks::interval).map_err(|_| {
                err(
                    i.span(),
                    "lpwatch.interval",
                    format!("`{}` is not a duration above zero and at most 1h", i.get_ref()),
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
                if c.get_ref().parse::<CheckName>().is_err() {
                    return Err(err(
                        c.span(),
                        "lpwatch.critical",
                        format!("`{}` is not an lpwatch check", c.get_ref()),
                        &format!("use some of {}", CheckName::names()),
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
            if parse_eth(b.get_ref()).is_err() {
                return Err(err(
                    b.span(),
                    "lpwatch.min_eth_balance",
                    format!("`{}` is not an amount of ETH lpwatch reads", b.get_ref()),
                    "write ETH as a plain decimal with at most 18 decimals (exact to the wei), e.g. \"0.02\"",
                ));
            }
            Some(b.into_inner())
        }
    };

    let share = share::parse(f.share, role, offchain, err)?;
    Ok(Lpwatch { interval, critical, min_eth_balance, share })
}

/// `[journald]`: sizes and the retention, as systemd-journald reads them (`parse_size` with
/// base 1024, `parse_sec`): a value it would refuse (and silently ignore) is refused here.
pub(super) fn journald(f: JournaldDef, err: &ErrFn) -> Result<Journald> {
    let size = |v: Option<Spanned<String>>, key: &str, default: &str| -> Result<String> {
        let Some(v) = v else { return Ok(default.to_string()) };
        if journald_bytes(v.get_ref()).is_none() {
            return Err(err(
                v.span(),
                key,
                format!("`{}` is not a size journald reads", v.get_ref()),
                "write bytes with an optional K, M, G or T suffix (powers of 1024, below 16 EiB in all), e.g. \"1G\"",
            ));
        }
        Ok(v.into_inner())
    };
    let max_retention = match f.max_retention {
        None => "1month".to_string(),
        Some(r) if journald_usec(r.get_ref()).is_some() => r.into_inner(),
        Some(r) => {
            return Err(err(
                r.span(),
                "journald.max_retention",
                format!("`{}` is not a time span journald reads", r.get_ref()),
                "write whole numbers with systemd's units (us, ms, s, min, h, d, w, M or month, y), e.g. \"1month\" or \"2w 3d\"",
            ))
        }
    };
    Ok(Journald {
        system_max_use: size(f.system_max_use, "journald.system_max_use", "1G")?,
        system_keep_free: size(f.system_keep_free, "journald.system_keep_free", "2G")?,
        max_retention,
    })
}

/// Bytes of a journald size: digits and an optional K, M, G or T (1024-based), below 2^64.
fn journald_bytes(s: &str) -> Option<u64> {
    let digits = s.trim_end_matches(['K', 'M', 'G', 'T']);
    let shift = match &s[digits.len()..] {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift).filter(|b| *b < u64::MAX)
}

/// systemd's time units (time-util.c) in microseconds, the ones [`journald_usec`] reads.
const SYSTEMD_UNITS: [(&str, u64); 28] = [
    ("us", 1),
    ("usec", 1),
    ("ms", 1_000),
    ("msec", 1_000),
    ("s", 1_000_000),
    ("sec", 1_000_000),
    ("second", 1_000_000),
    ("seconds", 1_000_000),
    ("m", 60_000_000),
    ("min", 60_000_000),
    ("minute", 60_000_000),
    ("minutes", 60_000_000),
    ("h", 3_600_000_000),
    ("hr", 3_600_000_000),
    ("hour", 3_600_000_000),
    ("hours", 3_600_000_000),
    ("d", 86_400_000_000),
    ("day", 86_400_000_000),
    ("days", 86_400_000_000),
    ("w", 604_800_000_000),
    ("week", 604_800_000_000),
    ("weeks", 604_800_000_000),
    ("M", 2_629_800_000_000),
    ("month", 2_629_800_000_000),
    ("months", 2_629_800_000_000),
    ("y", 31_557_600_000_000),
    ("year", 31_557_600_000_000),
    ("years", 31_557_600_000_000),
];

/// Microseconds of a time span as systemd writes it: one or more parts of whole digits and a
/// unit of [`SYSTEMD_UNITS`], spaces between parts, below 2^64 microseconds in all.
fn journald_usec(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut parts = 0;
    let mut rest = s.trim_start_matches(' ');
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let unit_len =
            rest[digits..].len() - rest[digits..].trim_start_matches(|c: char| c.is_ascii_alphabetic()).len();
        let unit = &rest[digits..digits + unit_len];
        let per = SYSTEMD_UNITS.iter().find(|(name, _)| *name == unit)?.1;
        let n = rest[..digits].parse::<u64>().ok()?;
        total = n.checked_mul(per).and_then(|p| total.checked_add(p)).filter(|t| *t < u64::MAX)?;
        parts += 1;
        rest = rest[digits + unit_len..].trim_start_matches(' ');
    }
    (parts > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journald_reads_what_systemd_reads() {
        assert_eq!(journald_bytes("1G"), Some(1 << 30));
        assert_eq!(journald_bytes("16777215T"), Some(16_777_215 << 40));
        for bad in ["16777216T", "1g", "1.5G", "", "G", "-1", "1 G"] {
            assert_eq!(journald_bytes(bad), None, "{bad}");
        }
        assert_eq!(journald_usec("1month"), Some(2_629_800_000_000));
        assert_eq!(journald_usec("2w 3d"), Some(17 * 86_400_000_000));
        assert_eq!(journald_usec("1h30min"), Some(5_400_000_000));
        for bad in ["1ns", "1nsec", "1µs", "1 s", "1S", "0", "", "584941y", "forever"] {
            assert_eq!(journald_usec(bad), None, "{bad}");
        }
    }
}
