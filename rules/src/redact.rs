//! How a config file's parse error is told: the line and the message, never the line's text
//! and a quoted part of the message only when it is a short name (a key, a check, a network). A
//! value may be an RPC URL with its key, or a key, so anything else quoted is shown as `…`. Used
//! for every TOML file lpbake and lpwatch read (spec files, the appliance, lpwatch's config, the
//! collector's).

/// The line (1-based) `e` points at in `text`, and its message, redacted.
pub fn toml_error(text: &str, e: &toml::de::Error) -> (Option<usize>, String) {
    let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let is_name = |q: &str| {
        (1..=24).contains(&q.len()) && q.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    let mut message = String::new();
    let mut rest = e.message().trim();
    while let Some(open) = rest.find(['"', '`']) {
        let quote = &rest[open..=open];
        message.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            message.push('…');
            rest = "";
            break;
        };
        let q = &after[..close];
        message.push_str(if is_name(q) { q } else { "…" });
        message.push_str(quote);
        rest = &after[close + 1..];
    }
    message.push_str(rest);
    (line, message)
}

/// The error as one line of text: `line N: message` (or the message alone without a line).
pub fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    match toml_error(text, e) {
        (Some(l), message) => format!("line {l}: {message}"),
        (None, message) => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_and_values_never_shown() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct C {
            interval: u64,
        }
        let text = "interval = \"https://rpc.example.org/v2/s3cretKEY\"\n";
        let (line, m) = toml_error(text, &toml::from_str::<C>(text).unwrap_err());
        assert_eq!(line, Some(1));
        assert!(!m.contains("s3cret") && m.contains('…'), "{m}");
        let text = "\nintervall = 5\n";
        let (line, m) = toml_error(text, &toml::from_str::<C>(text).unwrap_err());
        assert_eq!(line, Some(2));
        assert!(m.contains("intervall") && m.contains("interval"), "{m}");
    }
}
