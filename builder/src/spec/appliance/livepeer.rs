//! `[livepeer]`: each key maps to one livepeer flag; checked against the role, with the value
//! rules (hosts, prices, addresses) livepeer applies.

use super::file::LivepeerDef;
use super::share::ErrFn;
use super::{Livepeer, Role};
use crate::error::{Error, Result};
use std::path::Path;
use toml::Spanned;

/// `[livepeer]`, checked against the role; `at` is the file and the line of `role`, where a
/// missing key the role needs is reported.
pub(super) fn parse(
    l: LivepeerDef,
    role: Role,
    offchain: bool,
    at: (&Path, Option<usize>),
    err: &ErrFn,
) -> Result<Livepeer> {
    let (file, role_line) = at;
    let only = |v: &Option<Spanned<String>>, key: &str, ok: bool, roles: &str| -> Result<()> {
        match v {
            Some(v) if !ok => Err(err(
                v.span(),
                key,
                format!("does not apply to role {}", role.as_str()),
                &format!("remove it: it is for {roles}"),
            )),
            _ => Ok(()),
        }
    };
    only(&l.service_addr, "livepeer.service_addr", role.is_orchestrator(), "orchestrator roles")?;
    only(&l.price_per_unit, "livepeer.price_per_unit", role.is_orchestrator(), "orchestrator roles")?;
    only(&l.pixels_per_unit, "livepeer.pixels_per_unit", role.is_orchestrator(), "orchestrator roles")?;
    only(&l.max_price_per_unit, "livepeer.max_price_per_unit", role == Role::Gateway, "the gateway role")?;
    only(
        &l.orch_addr,
        "livepeer.orch_addr",
        matches!(role, Role::Transcoder | Role::Gateway),
        "the transcoder and gateway roles",
    )?;

    let text = |v: Option<Spanned<String>>, key: &str, check: fn(&str) -> bool, fix: &str| -> Result<Option<String>> {
        match v {
            Some(v) if !check(v.get_ref()) => {
                Err(err(v.span(), key, format!("`{}` is not a valid value", v.get_ref()), fix))
            }
            v => Ok(v.map(Spanned::into_inner)),
        }
    };
    let out = Livepeer {
        service_addr: text(
            l.service_addr,
            "livepeer.service_addr",
            is_host_port,
            "write the public HOST:PORT transcoding clients reach, e.g. \"orch.example.org:8935\"",
        )?,
        price_per_unit: text(
            l.price_per_unit,
            "livepeer.price_per_unit",
            is_amount,
            "write a price in wei per pixels_per_unit, e.g. \"1000\" (or with a currency, e.g. \"0.5USD\")",
        )?,
        pixels_per_unit: text(
            l.pixels_per_unit,
            "livepeer.pixels_per_unit",
            is_amount,
            "write a whole number of pixels, e.g. \"1\"",
        )?,
        max_sessions: text(
            l.max_sessions,
            "livepeer.max_sessions",
            |s| s == "auto" || s.parse::<u32>().is_ok_and(|n| n > 0),
            "write a number of sessions, e.g. \"10\", or \"auto\"",
        )?,
        max_price_per_unit: text(
            l.max_price_per_unit,
            "livepeer.max_price_per_unit",
            is_amount,
            "write the highest price in wei per pixel unit the gateway pays, e.g. \"1200\"",
        )?,
        transcoding_options: text(
            l.transcoding_options,
            "livepeer.transcoding_options",
            |s| !s.is_empty() && !s.contains(char::is_whitespace),
            "write livepeer's -transcodingOptions: profile names like \"P240p30fps16x9,P360p30fps16x9\" or a file path",
        )?,
        orch_addr: text(
            l.orch_addr,
            "livepeer.orch_addr",
            |s| s.split(',').all(is_host_port),
            "write HOST:PORT of the orchestrator(s), comma-separated, e.g. \"orch.example.org:8935\"",
        )?,
        eth_acct_addr: text(
            l.eth_acct_addr,
            "livepeer.eth_acct_addr",
            is_eth_address,
            "write the account as 0x and 40 hex digits (its key must be in the keystore on the data volume)",
        )?,
        reward: l.reward,
        monitor: l.monitor.unwrap_or(true),
        light_kdf: l.light_kdf.unwrap_or(false),
    };
    if matches!(role, Role::Transcoder | Role::Gateway)
        && out.orch_addr.is_none()
        && (role == Role::Transcoder || offchain)
    {
        return Err(Error::config(
            file,
            role_line,
            format!("livepeer.orch_addr: role {} needs the orchestrator's address", role.as_str()),
            "set [livepeer] orch_addr = \"HOST:8935\"",
        ));
    }
    if role.is_orchestrator() && !offchain && out.price_per_unit.is_none() {
        return Err(Error::config(
            file,
            role_line,
            "livepeer.price_per_unit: an on-chain orchestrator must set its price",
            "set [livepeer] price_per_unit = \"WEI\" (per pixels_per_unit pixels)",
        ));
    }
    Ok(out)
}

pub(super) fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        && !s.starts_with('-')
}

fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else { return false };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    is_host(host) && port.parse::<u16>().is_ok_and(|p| p > 0)
}

fn is_amount(s: &str) -> bool {
    let num = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !num.is_empty() && num.parse::<f64>().is_ok_and(|v| v.is_finite() && v >= 0.0) && s.len() - num.len() <= 4
}

fn is_eth_address(s: &str) -> bool {
    s.strip_prefix("0x").is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}
