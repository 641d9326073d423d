//! Go's value syntax for flags: `strconv.ParseBool/ParseInt/ParseUint/ParseFloat` and `time.ParseDuration`.
//!
//! Errors carry the text Go's `flag` package shows: "parse error" or "value out of range".

/// Why a value was refused, worded as Go's `flag` package words it.
#[derive(Debug, PartialEq)]
pub enum ValueError {
    Syntax,
    Range,
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValueError::Syntax => "parse error",
            ValueError::Range => "value out of range",
        })
    }
}

/// `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Result<bool, ValueError> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(ValueError::Syntax),
    }
}

/// `strconv.ParseInt(s, 0, 64)`: optional sign, then as `parse_uint`.
pub fn parse_int(s: &str) -> Result<i64, ValueError> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_uint(digits)? as i128;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).map_err(|_| ValueError::Range)
}

/// `strconv.ParseUint(s, 0, 64)`: base from the prefix (0x, 0o, 0b, leading 0), underscores between digits.
pub fn parse_uint(s: &str) -> Result<u64, ValueError> {
    let lower = s.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.is_empty() || digits.ends_with('_') || digits.contains("__") {
        return Err(ValueError::Syntax);
    }
    if digits.starts_with('_') && !prefixed {
        return Err(ValueError::Syntax);
    }
    let mut value: u64 = 0;
    let mut overflow = false;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix).ok_or(ValueError::Syntax)?;
        match value.checked_mul(radix as u64).and_then(|v| v.checked_add(d as u64)) {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    if overflow {
        Err(ValueError::Range)
    } else {
        Ok(value)
    }
}

/// `strconv.ParseFloat(s, 64)` for decimal notation, `inf`, `infinity` and `nan`.
pub fn parse_float(s: &str) -> Result<f64, ValueError> {
    let v: f64 = s.parse().map_err(|_| ValueError::Syntax)?;
    let spelled_infinite = s.trim_start_matches(['+', '-']).to_ascii_lowercase().starts_with("inf");
    if v.is_infinite() && !spelled_infinite {
        return Err(ValueError::Range);
    }
    Ok(v)
}

/// `time.ParseDuration`, in nanoseconds: `[-+]?([0-9]*(\.[0-9]*)?unit)+` or a bare `0`.
pub fn parse_duration(s: &str) -> Result<i64, ValueError> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(ValueError::Syntax);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| c != '.' && !c.is_ascii_digit()).unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(ValueError::Syntax);
        }
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(ValueError::Syntax),
        };
        rest = &rest[unit_len..];
        let number: f64 = if number.starts_with('.') { format!("0{number}") } else { number.to_string() }
            .trim_end_matches('.')
            .parse()
            .map_err(|_| ValueError::Syntax)?;
        total += number * unit;
    }
    if total > i64::MAX as f64 {
        return Err(ValueError::Syntax);
    }
    Ok(if negative { -(total as i64) } else { total as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools() {
        assert_eq!(parse_bool("T"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(parse_bool("yes"), Err(ValueError::Syntax));
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int("42"), Ok(42));
        assert_eq!(parse_int("-0x10"), Ok(-16));
        assert_eq!(parse_int("010"), Ok(8));
        assert_eq!(parse_int("0b101"), Ok(5));
        assert_eq!(parse_int("1_000"), Ok(1000));
        assert_eq!(parse_int("9223372036854775808"), Err(ValueError::Range));
        assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int("1.5"), Err(ValueError::Syntax));
        assert_eq!(parse_int(""), Err(ValueError::Syntax));
        assert_eq!(parse_uint("-1"), Err(ValueError::Syntax));
    }

    #[test]
    fn floats() {
        assert_eq!(parse_float("0.25"), Ok(0.25));
        assert_eq!(parse_float("1e3"), Ok(1000.0));
        assert_eq!(parse_float("1e400"), Err(ValueError::Range));
        assert!(parse_float("-Inf").unwrap().is_infinite());
        assert_eq!(parse_float("abc"), Err(ValueError::Syntax));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("-2us"), Ok(-2000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("10"), Err(ValueError::Syntax));
        assert_eq!(parse_duration("1d"), Err(ValueError::Syntax));
        assert_eq!(parse_duration(""), Err(ValueError::Syntax));
        assert_eq!(parse_duration("s"), Err(ValueError::Syntax));
    }
}
