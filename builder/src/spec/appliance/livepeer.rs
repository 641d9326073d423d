//! `[livepeer]`: each key maps to one livepeer flag; checked against the role, with the value
//! rules (hosts, prices, counts, addresses) livepeer v0.9.1 applies when it starts.

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
            is_price,
            "write a price in wei per pixels_per_unit, e.g. \"1000\" (or with a currency, e.g. \"0.5USD\")",
        )?,
        pixels_per_unit: text(
            l.pixels_per_unit,
            "livepeer.pixels_per_unit",
            is_count,
            "write a whole number of pixels above zero, e.g. \"1\"",
        )?,
        max_sessions: match l.max_sessions {
            // livepeer measures its capacity only as a plain orchestrator (-maxSessions auto with
            // -transcoder, or without -orchestrator, makes it exit).
            Some(m) if m.get_ref() == "auto" && role != Role::Orchestrator => {
                return Err(err(
                    m.span(),
                    "livepeer.max_sessions",
                    format!("\"auto\" is for role orchestrator only; livepeer refuses it as {}", role.as_str()),
                    "write a number of sessions, e.g. \"10\"",
                ))
            }
            m => text(
                m,
                "livepeer.max_sessions",
                |s| s == "auto" || is_count(s),
                "write a number of sessions above zero, e.g. \"10\" (or \"auto\" for role orchestrator)",
            )?,
        },
        max_price_per_unit: text(
            l.max_price_per_unit,
            "livepeer.max_price_per_unit",
            is_price,
            "write the highest price in wei per pixel unit the gateway pays, e.g. \"1200\" (or with a currency, e.g. \"0.5USD\")",
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

/// A price as livepeer reads `-pricePerUnit` and `-maxPricePerUnit`
/// (`^\d+(\.\d+)?([A-Za-z][A-Za-z0-9]*)?$`): a decimal number, then an optional currency.
fn is_price(s: &str) -> bool {
    let (number, currency) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let (int, frac) = match number.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (number, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits) && currency.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A whole number above zero, as livepeer reads `-pixelsPerUnit` and `-maxSessions` (at most 18
/// digits: `-maxSessions` is a Go int).
fn is_count(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.bytes().any(|b| b != b'0') && s.len() <= 18
}

fn is_eth_address(s: &str) -> bool {
    s.strip_prefix("0x").is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}
