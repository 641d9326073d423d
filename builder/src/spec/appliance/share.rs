//! `[lpwatch.share]` of `images/appliance.toml`: the opt-in shared network metrics of an
//! orchestrator (lpwatch's `[share]`, watch/src/share). Off unless `enable = true`; checked here
//! once, with the rules lpwatch reads its own config with (`lpbake_rules::share`: the cell
//! size, the extras, the interval), so a bad value fails the build and not the node; the
//! collector endpoint is baked, so it follows [`crate::urls::baked`] (pushes are signed: no token
//! is needed).

use super::Role;
use crate::error::{Error, Result};
use lpbake_rules::share::{CellSize, Extra};
use lpbake_rules::units::parse_duration;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// The geo database's file name on the data volume's `geo/` directory by default.
pub const DEFAULT_MMDB: &str = "GeoLite2-City.mmdb";

/// What the node shares, validated; the defaults are lpwatch's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The collector's remote-write URL; `None`: the share is only on lpwatch's `/metrics`
    /// (for the operator's own Prometheus, `lpwatch share --remote-write`).
    pub endpoint: Option<String>,
    /// `Ndeg`, `country` or `continent`.
    pub cell: String,
    /// k: the fewest distinct gateways a named cell may show.
    pub min_gateways: u32,
    pub extras: Vec<String>,
    pub interval: String,
    /// The file name of the operator's MaxMind-format database under the data volume's `geo/`.
    pub mmdb: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ShareDef {
    #[serde(default)]
    enable: bool,
    endpoint: Option<Spanned<String>>,
    cell: Option<Spanned<String>>,
    min_gateways: Option<Spanned<u32>>,
    extras: Option<Vec<Spanned<String>>>,
    interval: Option<Spanned<String>>,
    mmdb: Option<Spanned<String>>,
}

/// `err(span, key, message, fix)`: an error at the span's line of the appliance file.
pub(super) type ErrFn<'a> = dyn Fn(Range<usize>, &str, String, &str) -> Error + 'a;

/// `[lpwatch.share]`: `None` unless enabled. The role's span is where a role that has no service
/// port is reported.
pub(super) fn parse(d: ShareDef, role: (Role, Range<usize>), offchain: bool, err: &ErrFn) -> Result<Option<Share>> {
    if !d.enable {
        return Ok(None);
    }
    let (role, role_span) = role;
    if !role.is_orchestrator() {
        return Err(err(
            role_span,
            "lpwatch.share",
            format!("a {} has no service port for gateways to connect to", role.as_str()),
            "share from the orchestrator, or set enable = false",
        ));
    }
    let endpoint = match d.endpoint {
        None => None,
        Some(e) => {
            let fix = "name the collector's remote-write URL, e.g. \"https://collector.example.org/api/v1/write\" (pushes are signed: no token is needed)";
            crate::urls::baked(e.get_ref(), fix).map_err(|r| err(e.span(), "lpwatch.share.endpoint", r.msg, &r.fix))?;
            if offchain {
                return Err(err(
                    e.span(),
                    "lpwatch.share.endpoint",
                    "pushes are signed under the orchestrator account's delegation, which an offchain node has not"
                        .into(),
                    "remove the endpoint (the share stays on lpwatch's /metrics), or run on arbitrum-one-mainnet",
                ));
            }
            Some(e.into_inner())
        }
    };
    let cell = match d.cell {
        None => "5deg".to_string(),
        Some(c) if c.get_ref().parse::<CellSize>().is_ok() => c.into_inner(),
        Some(c) => return Err(err(
            c.span(),
            "lpwatch.share.cell",
            format!("`{}` is not a cell size", c.get_ref()),
            "use \"Ndeg\" with N dividing 90 (1, 2, 3, 5, 6, 9, 10, 15, 18, 30, 45, 90), \"country\" or \"continent\"",
        )),
    };
    let min_gateways = match d.min_gateways {
        None => lpbake_rules::disclosure::K_FLOOR as u32,
        Some(k) => match lpbake_rules::disclosure::min_gateways(*k.get_ref() as usize) {
            Ok(_) => k.into_inner(),
            Err(why) => return Err(err(k.span(), "lpwatch.share.min_gateways", why, "3 is the default and the least")),
        },
    };
    let mut extras = Vec::new();
    for e in d.extras.unwrap_or_default() {
        if e.get_ref().parse::<Extra>().is_err() {
            return Err(err(
                e.span(),
                "lpwatch.share.extras",
                format!("`{}` is not a shared extra", e.get_ref()),
                &format!("use some of {}", Extra::ALL.map(Extra::as_str).join(", ")),
            ));
        }
        extras.push(e.into_inner());
    }
    extras.sort();
    extras.dedup();
    let interval = match d.interval {
        None => "2m".to_string(),
        Some(i) => {
            let ok = parse_duration(i.get_ref()).is_ok_and(|d| lpbake_rules::share::interval(d).is_ok());
            if !ok {
                return Err(err(
                    i.span(),
                    "lpwatch.share.interval",
                    format!("`{}` is not a duration from 1s to under 5m", i.get_ref()),
                    "write a duration like \"2m\" (the default)",
                ));
            }
            i.into_inner()
        }
    };
    let mmdb = match d.mmdb {
        None => DEFAULT_MMDB.to_string(),
        Some(m) => {
            let name = m.get_ref();
            let ok = !name.is_empty()
                && name.len() <= 64
                && !name.starts_with('.')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            if !ok {
                return Err(err(
                    m.span(),
                    "lpwatch.share.mmdb",
                    format!("`{name}` is not a file name"),
                    "name the database file you put in the data volume's geo/ directory, e.g. \"GeoLite2-City.mmdb\"",
                ));
            }
            m.into_inner()
        }
    };
    Ok(Some(Share { endpoint, cell, min_gateways, extras, interval, mmdb }))
}
