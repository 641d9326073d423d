//! The flag set of go-livepeer v0.9.1 (from `flags.tsv`) and Go `flag` package command-line parsing.

use std::collections::{BTreeMap, BTreeSet};

use crate::values::{self, ValueError};

/// The flag table, `name<TAB>type` per line, copied from the shared reference.
const TABLE: &str = include_str!("../flags.tsv");

/// The Go type behind a flag; it decides the syntax a value must have.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Duration,
    Str,
}

impl Kind {
    fn from_go(name: &str) -> Option<Kind> {
        Some(match name {
            "bool" => Kind::Bool,
            "int" | "int64" => Kind::Int,
            "uint" | "uint64" => Kind::Uint,
            "float64" => Kind::Float,
            "duration" => Kind::Duration,
            "string" => Kind::Str,
            _ => return None,
        })
    }

    /// The type word `flag.PrintDefaults` shows after the flag name.
    fn usage_word(self) -> &'static str {
        match self {
            Kind::Bool => "",
            Kind::Int => " int",
            Kind::Uint => " uint",
            Kind::Float => " float",
            Kind::Duration => " duration",
            Kind::Str => " string",
        }
    }
}

/// Why the command line was refused; `Help` is `-h`/`-help`, which Go answers with usage and exit 0.
#[derive(Debug, PartialEq)]
pub enum CliError {
    Help,
    Invalid(String),
}

/// All flags with the values given so far, and which ones were given (Go's `actual` set).
pub struct FlagSet {
    kinds: BTreeMap<&'static str, Kind>,
    values: BTreeMap<&'static str, String>,
}

impl FlagSet {
    /// The v0.9.1 flag set, with no value given yet.
    pub fn livepeer() -> FlagSet {
        let kinds = TABLE
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (name, kind) = l.split_once('\t').expect("flags.tsv: name<TAB>type");
                (name, Kind::from_go(kind.trim()).expect("flags.tsv: known Go type"))
            })
            .collect();
        FlagSet { kinds, values: BTreeMap::new() }
    }

    /// All flag names, in the lexicographic order of Go's `VisitAll`.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    pub fn is_defined(&self, name: &str) -> bool {
        self.kinds.contains_key(name)
    }

    /// Names of the flags given a value so far (Go's `Visit`).
    pub fn given(&self) -> BTreeSet<&'static str> {
        self.values.keys().copied().collect()
    }

    /// `FlagSet.Set`: checks the value against the flag's type and records it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ValueError> {
        let (&name, &kind) = self.kinds.get_key_value(name).ok_or(ValueError::Syntax)?;
        let stored = match kind {
            Kind::Bool => values::parse_bool(value)?.to_string(),
            Kind::Int => values::parse_int(value).map(|_| value.to_string())?,
            Kind::Uint => values::parse_uint(value).map(|_| value.to_string())?,
            Kind::Float => values::parse_float(value).map(|_| value.to_string())?,
            Kind::Duration => values::parse_duration(value).map(|_| value.to_string())?,
            Kind::Str => value.to_string(),
        };
        self.values.insert(name, stored);
        Ok(())
    }

    /// The value given to a flag, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(self.is_defined(name), "undefined flag {name}");
        self.values.get(name).map(String::as_str)
    }

    /// A string flag's value, or its default.
    pub fn str_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    /// A bool flag's value; every bool flag the stand-in reads defaults to false.
    pub fn bool(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }

    /// `FlagSet.Parse`: flags up to `--` or the first non-flag argument; returns the rest.
    pub fn parse_args(&mut self, args: &[String]) -> Result<Vec<String>, CliError> {
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            if arg.len() < 2 || !arg.starts_with('-') {
                break;
            }
            let dashes = if arg.starts_with("--") { 2 } else { 1 };
            if arg == "--" {
                i += 1;
                break;
            }
            let body = &arg[dashes..];
            if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
                return Err(CliError::Invalid(format!("bad flag syntax: {arg}")));
            }
            i += 1;
            let (name, inline) = match body[1..].find('=') {
                Some(at) => (&body[..at + 1], Some(&body[at + 2..])),
                None => (body, None),
            };
            let Some(&kind) = self.kinds.get(name) else {
                if name == "help" || name == "h" {
                    return Err(CliError::Help);
                }
                return Err(CliError::Invalid(format!("flag provided but not defined: -{name}")));
            };
            if kind == Kind::Bool {
                let value = inline.unwrap_or("true");
                self.set(name, value)
                    .map_err(|e| CliError::Invalid(format!("invalid boolean value {value:?} for -{name}: {e}")))?;
                continue;
            }
            let value = match inline {
                Some(v) => v.to_string(),
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                None => return Err(CliError::Invalid(format!("flag needs an argument: -{name}"))),
            };
            self.set(name, &value)
                .map_err(|e| CliError::Invalid(format!("invalid value {value:?} for flag -{name}: {e}")))?;
        }
        Ok(args[i..].to_vec())
    }

    /// `flag.Usage`: the header and one line per flag (the stand-in has no help texts).
    pub fn usage(&self, program: &str) -> String {
        let mut out = format!("Usage of {program}:\n");
        for (name, kind) in &self.kinds {
            out.push_str(&format!("  -{name}{}\n", kind.usage_word()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table_has_the_v091_flags() {
        let fs = FlagSet::livepeer();
        assert_eq!(fs.names().count(), 124);
        for name in ["orchestrator", "transcoder", "gateway", "cliAddr", "serviceAddr", "pricePerUnit", "config"] {
            assert!(fs.is_defined(name), "{name}");
        }
        assert!(!fs.is_defined("0"));
    }

    #[test]
    fn go_syntax() {
        let mut fs = FlagSet::livepeer();
        let rest = fs
            .parse_args(&args(&["-orchestrator", "--cliAddr=:1", "-maxSessions", "5", "-monitor=false", "pos", "-x"]))
            .unwrap();
        assert_eq!(rest, args(&["pos", "-x"]));
        assert!(fs.bool("orchestrator"));
        assert!(!fs.bool("monitor"));
        assert_eq!(fs.get("cliAddr"), Some(":1"));
        assert_eq!(fs.get("maxSessions"), Some("5"));
        assert_eq!(fs.given().len(), 4);
    }

    #[test]
    fn double_dash_ends_flags() {
        let mut fs = FlagSet::livepeer();
        assert_eq!(fs.parse_args(&args(&["-gateway", "--", "-nope"])).unwrap(), args(&["-nope"]));
    }

    #[test]
    fn go_errors() {
        let err = |list: &[&str]| FlagSet::livepeer().parse_args(&args(list)).unwrap_err();
        assert_eq!(err(&["-nope"]), CliError::Invalid("flag provided but not defined: -nope".into()));
        assert_eq!(err(&["-h"]), CliError::Help);
        assert_eq!(err(&["--help"]), CliError::Help);
        assert_eq!(
            err(&["-extraNodes", "x"]),
            CliError::Invalid("invalid value \"x\" for flag -extraNodes: parse error".into())
        );
        assert_eq!(
            err(&["-orchestrator=maybe"]),
            CliError::Invalid("invalid boolean value \"maybe\" for -orchestrator: parse error".into())
        );
        assert_eq!(
            err(&["-discoveryTimeout=10"]),
            CliError::Invalid("invalid value \"10\" for flag -discoveryTimeout: parse error".into())
        );
        assert_eq!(err(&["-cliAddr"]), CliError::Invalid("flag needs an argument: -cliAddr".into()));
        assert_eq!(err(&["---x"]), CliError::Invalid("bad flag syntax: ---x".into()));
        assert_eq!(err(&["-=x"]), CliError::Invalid("bad flag syntax: -=x".into()));
    }
}
