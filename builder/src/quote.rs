//! Quoting for every line-oriented language lpbake writes, one function per language, each the
//! one home of its rule: POSIX shell (`lpbake ami-commands`), systemd unit files and systemd's
//! own config files, nftables, chrony, fstab, passwd and sysusers.d, limits.d and sysctl.d, debugfs
//! scripts, and
//! package URLs (purl, in the SBOM). Every
//! place that writes one of these languages builds its values (or whole lines) through here. A
//! value a language cannot hold is refused with [`Refused`], which names the rule and the
//! position, never the value, rather than written. Values reaching the renderer were validated
//! earlier; this is defence in depth, and it holds for any string.
//!
//! TOML, YAML and JSON are never quoted by hand: lpbake writes them only through their
//! serializers (`toml`, `serde_yaml_ng`, `serde_json`; `oci::canonical` orders keys and leaves
//! every string to serde_json's escaping).

use crate::error::Error;
use ipnet::IpNet;
use std::path::Path;

/// A value a language cannot hold: the language and why, with the offending character's
/// position, never the value itself (it may be anything, even a secret put in the wrong place).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{language} cannot hold this value: {why}")]
pub struct Refused {
    pub language: &'static str,
    pub why: String,
}

impl Refused {
    fn new(language: &'static str, why: impl Into<String>) -> Self {
        Refused { language, why: why.into() }
    }

    /// The library error for this refusal of `key`'s value in `file`, with the fix.
    pub fn at(self, file: impl AsRef<Path>, key: &str, fix: &str) -> Error {
        Error::config(file, None, format!("{key}: {self}"), fix)
    }
}

/// A value quoted for a language, or why it cannot be.
pub type Quoted<T = String> = Result<T, Refused>;

/// Refuses the first control character of `s` (Unicode Cc: U+0000-U+001F, U+007F-U+009F).
fn no_control(language: &'static str, s: &str, effect: &str) -> Quoted<()> {
    match s.chars().enumerate().find(|(_, c)| c.is_control()) {
        Some((i, c)) => Err(Refused::new(
            language,
            format!("the control character U+{:04X} at character {} {effect}", c as u32, i + 1),
        )),
        None => Ok(()),
    }
}

/// Refuses the first character of `s` that `bad` matches, saying what it would do.
fn refuse_any(language: &'static str, s: &str, bad: impl Fn(char) -> bool, effect: &str) -> Quoted<()> {
    match s.chars().enumerate().find(|(_, c)| bad(*c)) {
        Some((i, c)) => Err(Refused::new(language, format!("{c:?} at character {} {effect}", i + 1))),
        None => Ok(()),
    }
}

fn not_empty(language: &'static str, s: &str) -> Quoted<()> {
    if s.is_empty() {
        return Err(Refused::new(language, "it is empty"));
    }
    Ok(())
}

// --- POSIX shell ------------------------------------------------------------------------------

const SHELL: &str = "a shell command";
const PASTED: &str = "acts when pasted into a terminal, before the shell reads it (^C drops the line, tab \
                      completes, CR and LF end it) and NUL cannot be in an argument";

/// POSIX shell: `s` as one word of a command that a person pastes into a terminal or runs with
/// `sh`. As is when it is not empty and only `A-Za-z0-9_./:,+@%-`; else in single quotes, each
/// `'` written `'\''` (sh and bash alike expand nothing between single quotes). Refused: control
/// characters, which act when pasted into a terminal before the shell reads them (^C drops the
/// line, tab completes, CR and LF end it), and NUL, which no argument can hold. A word therefore
/// never ends a `#` comment it is printed in.
pub fn shell_word(s: &str) -> Quoted {
    no_control(SHELL, s, PASTED)?;
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:,+@%-".contains(c)) {
        return Ok(s.to_string());
    }
    Ok(format!("'{}'", s.replace('\'', r"'\''")))
}

/// POSIX shell: `s` as text between double quotes, for a word that also holds a `$VAR`: `\`,
/// `"`, `$` and `` ` `` each written after a `\`. Refused: control characters (as
/// [`shell_word`]) and `!`, which bash's history expansion rewrites between double quotes in an
/// interactive shell, with no escape that sh and bash both read the same.
pub fn shell_in_double_quotes(s: &str) -> Quoted {
    no_control(SHELL, s, PASTED)?;
    refuse_any(SHELL, s, |c| c == '!', "is rewritten by bash's history expansion between double quotes")?;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

// --- systemd ----------------------------------------------------------------------------------

const UNIT: &str = "a systemd unit file";
const CONF: &str = "a systemd config file";
const ONE_LINE: &str = "would end the line (and could start another directive)";

/// `s` as a C-escaped word as systemd reads it (extract_first_word with EXTRACT_UNQUOTE and
/// EXTRACT_CUNESCAPE): as is when it holds no whitespace, quote, `\`, `;` or control character,
/// else double-quoted with `\"`, `\\`, `\n`, `\t`, `\r`, `\xHH` and `\uHHHH` escapes.
fn c_word(s: &str) -> String {
    let special = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | ';');
    if !s.is_empty() && !s.contains(special) {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn no_nul(language: &'static str, s: &str) -> Quoted<()> {
    refuse_any(language, s, |c| c == '\0', "cannot be in an argument or a variable")
}

/// systemd unit file, a command line (`ExecStart=`, `ExecStartPre=`, ...): `argv` as the
/// directive's value. The program (the first word) must be an absolute path not ending in `/`
/// (so that none of systemd's prefixes `@-:+!|` can start it) and without `$` (systemd expands
/// no variable in it, so `$$` would stay). Every word: `%` written `%%` (a literal `%`, not a
/// specifier) and `$` written `$$` (a literal `$`, not a variable), then as [`c_word`] quotes it.
/// Refused: no program, another program, NUL in a word.
pub fn systemd_command<S: AsRef<str>>(argv: &[S]) -> Quoted {
    let Some(program) = argv.first().map(AsRef::as_ref) else {
        return Err(Refused::new(UNIT, "a command line needs a program"));
    };
    if !program.starts_with('/') || program.ends_with('/') || program.contains('$') {
        return Err(Refused::new(UNIT, "the program of a command line is an absolute path to a file, without `$`"));
    }
    let mut words = Vec::with_capacity(argv.len());
    for w in argv {
        let w = w.as_ref();
        no_nul(UNIT, w)?;
        words.push(c_word(&w.replace('%', "%%").replace('$', "$$")));
    }
    Ok(words.join(" "))
}

/// systemd unit file, `Environment=`: the assignment `name=value` as one word, quoted as in
/// [`systemd_command`] except that `$` stays as it is (this directive expands no variables).
/// Refused: a name other than `[A-Za-z_][A-Za-z0-9_]*` (what systemd accepts), NUL.
pub fn systemd_environment(name: &str, value: &str) -> Quoted {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(Refused::new(UNIT, "a variable name is a letter or `_`, then letters, digits and `_`"));
    }
    no_nul(UNIT, value)?;
    Ok(c_word(&format!("{name}={value}").replace('%', "%%")))
}

/// A value written as it is on a line of a systemd file. Refused: control characters (CR, LF and
/// NUL end the line; none has a use in a value), a trailing `\` (it continues the line into the
/// next one) and a space at either end (the parser strips it).
fn one_line(language: &'static str, s: &str) -> Quoted<()> {
    no_control(language, s, ONE_LINE)?;
    if s.ends_with('\\') {
        return Err(Refused::new(language, "a `\\` at the end continues the line into the next directive"));
    }
    if s.starts_with(' ') || s.ends_with(' ') {
        return Err(Refused::new(language, "a space at either end is stripped by systemd's parser"));
    }
    Ok(())
}

/// systemd unit file, the value of any directive that is neither a command line nor
/// `Environment=` (`Description=`, `User=`, paths, settings, sandboxing): written as it is (these
/// directives do not unquote), with `%` written `%%` (a literal `%`, not a specifier). Refused
/// as [`one_line`] says: control characters, a trailing `\`, a space at either end.
pub fn systemd_value(s: &str) -> Quoted {
    one_line(UNIT, s)?;
    Ok(s.replace('%', "%%"))
}

/// systemd's own config files (`journald.conf.d/`, `.network`): a value, written as it is (they
/// expand no specifiers). Refused as [`systemd_value`].
pub fn systemd_conf_value(s: &str) -> Quoted {
    one_line(CONF, s)?;
    Ok(s.to_string())
}

/// systemd unit file, `LoadCredential=ID:PATH`: the value. ID: 1 to 255 bytes, no `/` or `:`,
/// not `.` or `..` (systemd's credential names); PATH: absolute, without empty, `.` or `..`
/// components (systemd refuses others). Then as [`systemd_value`].
pub fn systemd_credential(id: &str, path: &str) -> Quoted {
    if id.is_empty() || id.len() > 255 || id == "." || id == ".." || id.contains(['/', ':']) {
        return Err(Refused::new(UNIT, "a credential name is 1 to 255 bytes without `/` or `:`, not `.` or `..`"));
    }
    let normalized = path.strip_prefix('/').is_some_and(|p| p.split('/').all(|c| !matches!(c, "" | "." | "..")));
    if !normalized {
        return Err(Refused::new(UNIT, "a credential's file is an absolute path without empty, `.` or `..` parts"));
    }
    systemd_value(&format!("{id}:{path}"))
}

/// systemd unit or config file: the line `key=text`, `text` being made by one of the functions
/// above. The key: a letter, then letters, digits and `-`. Checked here once more, whichever
/// function made it: `text` holds no control character and does not end in `\`, so the line
/// can neither end early nor continue into the next.
pub fn systemd_line(key: &str, text: &str) -> Quoted {
    let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(Refused::new(UNIT, "a directive's name is a letter, then letters, digits and `-`"));
    }
    no_control(UNIT, text, ONE_LINE)?;
    if text.ends_with('\\') {
        return Err(Refused::new(UNIT, "a `\\` at the end continues the line into the next directive"));
    }
    Ok(format!("{key}={text}\n"))
}

/// systemd unit names, which are also file names under `/etc/systemd/system/`: 1 to 255 of
/// `A-Za-z0-9:_.@-` and `\`, not starting with `.`.
pub fn systemd_unit_name(name: &str) -> Quoted<&str> {
    let valid = (1..=255).contains(&name.len())
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || ":_.@-\\".contains(c));
    if !valid {
        return Err(Refused::new(UNIT, "a unit name is 1 to 255 of `A-Za-z0-9:_.@-\\`, not starting with `.`"));
    }
    Ok(name)
}

// --- nftables ---------------------------------------------------------------------------------

/// The elements of an `ipv4_addr` and an `ipv6_addr` interval set, in nft's syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftNetworks {
    pub v4: Vec<String>,
    pub v6: Vec<String>,
}

/// nftables: the elements of the interval sets (`flags interval`) holding `networks`. Each must
/// be ADDRESS/PREFIX without host bits; the elements are the fewest networks covering them all,
/// since nft refuses a set whose elements overlap ("conflicting intervals"), written as nft reads
/// them (`10.0.0.0/8`, `2001:db8::/32`). Refused: anything else, as nothing else can be spelled
/// inside a set.
pub fn nft_networks<'a>(networks: impl IntoIterator<Item = &'a str>) -> Quoted<NftNetworks> {
    let mut nets = Vec::new();
    for (i, s) in networks.into_iter().enumerate() {
        let net: IpNet = s
            .parse()
            .map_err(|_| Refused::new("an nftables set", format!("element {} is not ADDRESS/PREFIX", i + 1)))?;
        if net.trunc() != net {
            return Err(Refused::new("an nftables set", format!("element {} has host bits set", i + 1)));
        }
        nets.push(net);
    }
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for net in IpNet::aggregate(&nets) {
        match net {
            IpNet::V4(n) => v4.push(n.to_string()),
            IpNet::V6(n) => v6.push(n.to_string()),
        }
    }
    Ok(NftNetworks { v4, v6 })
}

// --- chrony -----------------------------------------------------------------------------------

/// chrony: one word of a directive (the NAME of `server NAME iburst`). chrony splits its lines
/// at whitespace, has no quoting and reads at most 2047 bytes a line. Refused: empty, whitespace,
/// control characters, more than 255 bytes.
pub fn chrony_word(s: &str) -> Quoted<&str> {
    const CHRONY: &str = "a chrony directive";
    not_empty(CHRONY, s)?;
    no_control(CHRONY, s, "would end or split the directive")?;
    refuse_any(CHRONY, s, char::is_whitespace, "would split the directive (chrony has no quoting)")?;
    if s.len() > 255 {
        return Err(Refused::new(CHRONY, "a word is at most 255 bytes"));
    }
    Ok(s)
}

// --- fstab ------------------------------------------------------------------------------------

const FSTAB: &str = "an fstab field";

/// fstab(5): one field, with a space written `\040` and `\` written `\134` (the octal escapes
/// libmount and glibc decode). Refused: empty, control characters (LF ends the entry, tab
/// separates fields), a `#` first (a comment when it starts the line).
pub fn fstab_field(s: &str) -> Quoted {
    not_empty(FSTAB, s)?;
    no_control(FSTAB, s, "would end the entry or split the field")?;
    if s.starts_with('#') {
        return Err(Refused::new(FSTAB, "a `#` first makes the line a comment"));
    }
    Ok(s.replace('\\', r"\134").replace(' ', r"\040"))
}

/// fstab(5): the mount options field, `options` joined with `,`. Refused: an empty option or one
/// holding `,`, then as [`fstab_field`].
pub fn fstab_options<S: AsRef<str>>(options: &[S]) -> Quoted {
    if options.iter().any(|o| o.as_ref().is_empty() || o.as_ref().contains(',')) {
        return Err(Refused::new(FSTAB, "a mount option is not empty and holds no `,`"));
    }
    fstab_field(&options.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(","))
}

// --- passwd, sysusers.d -----------------------------------------------------------------------

/// `/etc/passwd`, `group`, `shadow`, `gshadow`: one field, as it is. Refused: `:` (the separator)
/// and control characters (LF ends the entry).
pub fn passwd_field(s: &str) -> Quoted<&str> {
    const PASSWD: &str = "a passwd field";
    no_control(PASSWD, s, "would end the entry")?;
    refuse_any(PASSWD, s, |c| c == ':', "separates passwd fields")?;
    Ok(s)
}

/// sysusers.d(5): one field of a line (name, description, home, shell), each of which becomes a
/// passwd field: refused as [`passwd_field`], and when empty or `-` (both mean "unset"). `%`
/// written `%%` (specifiers), then as is when it holds no whitespace, quote or `\`, else in double
/// quotes with `\"` and `\\`.
pub fn sysusers_field(s: &str) -> Quoted {
    passwd_field(s)?;
    if s.is_empty() || s == "-" {
        return Err(Refused::new("a sysusers.d field", "an empty field or `-` means unset"));
    }
    let s = s.replace('%', "%%");
    if !s.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\')) {
        return Ok(s);
    }
    Ok(format!("\"{}\"", s.replace('\\', r"\\").replace('"', "\\\"")))
}

// --- debugfs --------------------------------------------------------------------------------------

/// A path of the root tree (relative to `/`) as one argument of a debugfs script line: absolute,
/// in double quotes, a quote doubled (debugfs's own quoting). Refused: control characters (a
/// newline would end the command).
pub fn debugfs_path(path: &str) -> Quoted {
    no_control("a debugfs argument", path, "would end the command")?;
    Ok(format!("\"/{}\"", path.replace('"', "\"\"")))
}

// --- limits.d, sysctl.d -----------------------------------------------------------------------

/// limits.conf(5) (pam_limits): the line `domain type item value`. pam_limits splits at
/// whitespace, cuts the line at its first `#` and reads at most 1023 bytes a line. Refused: an
/// empty field, whitespace, `#`, control characters, a longer line.
pub fn limits_line(fields: [&str; 4]) -> Quoted {
    const LIMITS: &str = "a limits.conf line";
    for f in fields {
        not_empty(LIMITS, f)?;
        no_control(LIMITS, f, "would end or split the line")?;
        refuse_any(LIMITS, f, |c| c.is_whitespace() || c == '#', "would split the line or start a comment")?;
    }
    let line = format!("{}\n", fields.join(" "));
    if line.len() > 1023 {
        return Err(Refused::new(LIMITS, "pam_limits reads at most 1023 bytes a line"));
    }
    Ok(line)
}

/// sysctl.d(5): the line `key = value`. systemd-sysctl takes the key up to the first `=` and the
/// rest as the value, both stripped of whitespace; a line starting with `#` or `;` is a comment,
/// a key starting with `-` means "ignore failure". Refused: control characters; a key that is
/// empty, holds whitespace or `=`, or starts with `-`, `#` or `;`; a value that is empty or has
/// whitespace at either end.
pub fn sysctl_line(key: &str, value: &str) -> Quoted {
    const SYSCTL: &str = "a sysctl.d line";
    not_empty(SYSCTL, key)?;
    not_empty(SYSCTL, value)?;
    no_control(SYSCTL, key, ONE_LINE)?;
    no_control(SYSCTL, value, ONE_LINE)?;
    refuse_any(SYSCTL, key, |c| c.is_whitespace() || c == '=', "would end the key")?;
    if key.starts_with(['-', '#', ';']) {
        return Err(Refused::new(SYSCTL, "a key starting with `-`, `#` or `;` is read otherwise"));
    }
    if value.trim() != value {
        return Err(Refused::new(SYSCTL, "whitespace at either end of the value is stripped"));
    }
    Ok(format!("{key} = {value}\n"))
}

// --- package URLs (purl) ------------------------------------------------------------------------

/// Bytes a purl part keeps as they are: RFC 3986's unreserved characters.
const PURL: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `pkg:generic/NAME@VERSION?download_url=URL` (the purl specification): name and version
/// percent-encoded but for RFC 3986's unreserved characters; the URL's value also keeps `:` and
/// `/`, as the specification's own examples write it. Nothing can end a part or add a qualifier.
pub fn purl_generic(name: &str, version: &str, download_url: &str) -> String {
    const URL: &percent_encoding::AsciiSet = &PURL.remove(b':').remove(b'/');
    let enc =
        |s: &str, set: &'static percent_encoding::AsciiSet| percent_encoding::utf8_percent_encode(s, set).to_string();
    let url = enc(download_url, URL);
    format!("pkg:generic/{}@{}?download_url={url}", enc(name, PURL), enc(version, PURL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("lp-1.2_x").unwrap(), "lp-1.2_x");
        assert_eq!(shell_word("").unwrap(), "''");
        assert_eq!(shell_word("a b").unwrap(), "'a b'");
        assert_eq!(shell_word("it's").unwrap(), r"'it'\''s'");
        assert_eq!(shell_word("$(touch /tmp/pwned)").unwrap(), "'$(touch /tmp/pwned)'");
        assert_eq!(shell_word("~root").unwrap(), "'~root'");
        assert_eq!(shell_word("a=b").unwrap(), "'a=b'");
        // The example of the issue: a newline in a value printed into a comment.
        let err = shell_word("x\nrm -rf ~").unwrap_err();
        assert!(err.why.contains("U+000A at character 2") && !err.to_string().contains("rm -rf"), "{err}");
        assert!(shell_word("a\u{3}b").is_err());
        assert!(shell_word("a\u{85}b").is_err());
        assert_eq!(shell_in_double_quotes(r#"a"$`\b"#).unwrap(), r#"a\"\$\`\\b"#);
        assert!(shell_in_double_quotes("hi!").is_err());
    }

    #[test]
    fn systemd_words_and_values() {
        let cmd =
            systemd_command(&["/bin/x", "-network", "a b", "100%", "$HOME", "say \"hi\"", ";", "", "t\tn\n\u{1}"]);
        assert_eq!(cmd.unwrap(), r#"/bin/x -network "a b" 100%% $$HOME "say \"hi\"" ";" "" "t\tn\n\x01""#);
        assert!(systemd_command::<&str>(&[]).is_err());
        for program in ["-/bin/x", "x", "/bin/", "/bin/$X", "@/bin/x"] {
            assert!(systemd_command(&[program]).is_err(), "{program}");
        }
        assert!(systemd_command(&["/bin/x", "a\0b"]).is_err());
        assert_eq!(systemd_environment("HOME", "/var/$x 100%").unwrap(), r#""HOME=/var/$x 100%%""#);
        assert!(systemd_environment("1X", "v").is_err() && systemd_environment("A=B", "v").is_err());
        assert_eq!(systemd_value("Livepeer node (100%)").unwrap(), "Livepeer node (100%%)");
        assert_eq!(systemd_value("").unwrap(), "");
        for bad in ["a\nExecStartPost=/bin/evil", "a\rb", "a\\", " a", "a ", "a\0"] {
            assert!(systemd_value(bad).is_err(), "{bad:?}");
        }
        assert_eq!(systemd_conf_value("2%").unwrap(), "2%");
        assert_eq!(systemd_credential("eth-password", "/a/b").unwrap(), "eth-password:/a/b");
        for (id, path) in
            [("a:b", "/p"), ("a/b", "/p"), ("..", "/p"), ("", "/p"), ("a", "p"), ("a", "/p/../q"), ("a", "//p")]
        {
            assert!(systemd_credential(id, path).is_err(), "{id} {path}");
        }
        assert_eq!(systemd_line("After", "x.target").unwrap(), "After=x.target\n");
        assert!(
            systemd_line("A\nB", "x").is_err()
                && systemd_line("A", "x\n").is_err()
                && systemd_line("A", "x\\").is_err()
        );
        assert!(systemd_unit_name("livepeer.service").is_ok());
        assert!(systemd_unit_name("../x.service").is_err() && systemd_unit_name("a\n.service").is_err());
    }

    #[test]
    fn nft_sets_hold_the_fewest_networks() {
        let n =
            nft_networks(["10.1.0.0/16", "10.0.0.0/8", "2001:db8::/32", "2001:db8:1::/48", "192.0.2.0/24"]).unwrap();
        assert_eq!(n.v4, ["10.0.0.0/8", "192.0.2.0/24"]);
        assert_eq!(n.v6, ["2001:db8::/32"]);
        assert!(nft_networks(["10.0.0.1/8"]).is_err());
        assert!(nft_networks(["10.0.0.0/8 }"]).is_err());
        assert!(nft_networks(["10.0.0.0"]).is_err());
    }

    #[test]
    fn chrony_fstab_passwd_limits_sysctl() {
        assert_eq!(chrony_word("169.254.169.123").unwrap(), "169.254.169.123");
        for bad in ["", "a b", "a\nlogdir /x", "a\u{b}", &"a".repeat(256)] {
            assert!(chrony_word(bad).is_err(), "{bad:?}");
        }
        assert_eq!(fstab_field(r"/mnt/a b\c").unwrap(), r"/mnt/a\040b\134c");
        assert!(fstab_field("").is_err() && fstab_field("#x").is_err() && fstab_field("a\nb").is_err());
        assert_eq!(fstab_options(&["nofail", "noatime"]).unwrap(), "nofail,noatime");
        assert!(fstab_options(&["a,b"]).is_err() && fstab_options(&[""]).is_err());
        assert!(passwd_field("a:b").is_err() && passwd_field("a\nb").is_err());
        assert_eq!(sysusers_field("livepeer").unwrap(), "livepeer");
        assert_eq!(sysusers_field(r#"Live "peer" 100% \"#).unwrap(), r#""Live \"peer\" 100%% \\""#);
        assert!(sysusers_field("-").is_err() && sysusers_field("").is_err() && sysusers_field("a:b").is_err());
        assert_eq!(limits_line(["livepeer", "soft", "nofile", "65536"]).unwrap(), "livepeer soft nofile 65536\n");
        assert!(limits_line(["a#", "b", "c", "d"]).is_err() && limits_line(["a b", "b", "c", "d"]).is_err());
        assert!(limits_line([&"a".repeat(1020), "b", "c", "d"]).is_err());
        assert_eq!(sysctl_line("net.core.somaxconn", "4096 1").unwrap(), "net.core.somaxconn = 4096 1\n");
        for (k, v) in [("-a", "1"), ("a=b", "1"), ("a", " 1"), ("a", ""), ("a", "1\nkernel.x = 1"), ("#a", "1")] {
            assert!(sysctl_line(k, v).is_err(), "{k:?} {v:?}");
        }
    }

    #[test]
    fn purl_parts_cannot_end_early_or_add_qualifiers() {
        assert_eq!(
            purl_generic("livepeer", "0.9.1", "https://example.org/v0.9.1/livepeer-linux-amd64.tar.gz"),
            "pkg:generic/livepeer@0.9.1?download_url=https://example.org/v0.9.1/livepeer-linux-amd64.tar.gz"
        );
        let p = purl_generic("a", "1 #&?x=@/", "https://h/a&checksum=sha256:00#x");
        assert_eq!(p, "pkg:generic/a@1%20%23%26%3Fx%3D%40%2F?download_url=https://h/a%26checksum%3Dsha256:00%23x");
    }

    #[test]
    fn debugfs_gets_a_path_quoted_and_refuses_a_control_character() {
        assert_eq!(debugfs_path("usr/bin/a \"b\" c").unwrap(), "\"/usr/bin/a \"\"b\"\" c\"");
        assert!(debugfs_path("usr/bin/x\nsif <2> mode 0").is_err());
    }
}
