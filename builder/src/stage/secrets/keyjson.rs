//! The Ethereum keystore shape, recognised the way go-ethereum reads a key file: a streaming
//! walk of a JSON document with the syntax Go's `encoding/json` accepts, matching object keys to
//! the key file's field names as Go does. Fed a file in pieces, it keeps a bounded state (at
//! most one byte per open container, within Go's nesting limit, and one short key), however big
//! the file.
//!
//! go-ethereum (and livepeer, through its keystore) decodes a key file with `encoding/json`: the
//! whole document must be valid JSON (any whitespace around it, duplicate keys, invalid UTF-8
//! inside strings are all accepted), and a key matches a field name after unescaping, ignoring
//! case by Unicode simple folding. The encrypted key is the `ciphertext` of the `crypto` object,
//! in v3 and v1 files alike.

/// Go's `encoding/json` refuses a document whose containers nest deeper than this.
const MAX_DEPTH: usize = 10_000;
/// The longest key kept for matching, in bytes: a longer one is none of the names (`ciphertext`
/// has 10 letters, each at most 3 bytes long in UTF-8).
const NAME_MAX: usize = 32;

/// The walk of one document, fed in pieces with [`KeyJson::feed`].
#[derive(Default)]
pub struct KeyJson {
    state: State,
    /// The open containers, outermost first: what each expects next (Go's parse state).
    open: Vec<Expect>,
    /// The key being read, when it is one that can matter: a key of the top-level object, or
    /// of a `crypto` object inside it.
    name: Option<Name>,
    /// The last key of the top-level object is `crypto`.
    crypto_key: bool,
    /// The object at depth 2 is the value of a `crypto` key.
    in_crypto: bool,
    /// A `crypto` object holds a `ciphertext` key.
    found: bool,
}

/// What an open container expects after its current value (Go's `parseObjectKey`, ...).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Before the top-level value: whitespace, then `{` (any other value is no key file).
    #[default]
    Start,
    /// A value is next.
    Value,
    /// Just after `[`: a value or `]`.
    ValueOrClose,
    /// Just after `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key.
    Key,
    InString,
    Escape,
    /// Inside `\uXXXX`: `left` hex digits to come, `code` so far.
    Unicode {
        left: u8,
        code: u32,
    },
    Minus,
    Zero,
    Int,
    Dot,
    Fraction,
    Exponent,
    ExponentSign,
    ExponentDigits,
    /// Inside `true`, `false` or `null`: the bytes still to come.
    Literal(&'static [u8]),
    /// After a value: whitespace, then `,`, `:` or the container's end.
    AfterValue,
    /// The top-level object is closed: only whitespace may follow.
    End,
    /// Not JSON, or not an object at the top: no key file.
    Refused,
}

impl KeyJson {
    /// Walks the next piece of the document.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut at = 0;
        while at < bytes.len() {
            // Runs that change nothing are skipped whole: whitespace between tokens, and the
            // content of a string that is not a key being matched.
            let rest = &bytes[at..];
            let run = match self.state {
                State::Refused => return,
                State::InString if self.name.is_none() => {
                    rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(rest.len())
                }
                s if s.between_tokens() => rest.iter().position(|&b| !is_space(b)).unwrap_or(rest.len()),
                _ => 0,
            };
            if run == 0 {
                self.state = self.step(rest[0]);
                at += 1;
            }
            at += run;
        }
    }

    /// The whole document was an object of the key file's shape: a key Go matches to `crypto`
    /// holding an object with a key Go matches to `ciphertext`. `version` does not matter (it
    /// picks the format, v1 or v3; the encrypted key is there either way), nor which of
    /// duplicate `crypto` keys Go would keep.
    pub fn is_keystore(&self) -> bool {
        self.found && self.state == State::End
    }

    fn step(&mut self, b: u8) -> State {
        use State::*;
        match self.state {
            Start => match b {
                b'{' => self.open(Expect::ObjectKey, KeyOrClose),
                _ => Refused,
            },
            Value => self.value(b),
            ValueOrClose if b == b']' => self.close(),
            ValueOrClose => self.value(b),
            KeyOrClose if b == b'}' => self.close(),
            KeyOrClose | Key => self.key(b),
            InString => match b {
                b'"' => self.end_string(),
                b'\\' => Escape,
                0..0x20 => Refused,
                _ => self.push(b, InString),
            },
            Escape => match b {
                b'"' | b'\\' | b'/' => self.push(b, InString),
                b'b' => self.push(0x08, InString),
                b'f' => self.push(0x0c, InString),
                b'n' => self.push(b'\n', InString),
                b'r' => self.push(b'\r', InString),
                b't' => self.push(b'\t', InString),
                b'u' => Unicode { left: 4, code: 0 },
                _ => Refused,
            },
            Unicode { left, code } => match (b as char).to_digit(16) {
                Some(d) if left > 1 => Unicode { left: left - 1, code: (code << 4) | d },
                Some(d) => {
                    // A surrogate, paired or not, decodes to a character outside every name
                    // (Go turns a lone one into U+FFFD): either way the key matches nothing.
                    let c = char::from_u32((code << 4) | d).unwrap_or(char::REPLACEMENT_CHARACTER);
                    if let Some(name) = &mut self.name {
                        name.push_char(c);
                    }
                    InString
                }
                None => Refused,
            },
            Minus => match b {
                b'0' => Zero,
                b'1'..=b'9' => Int,
                _ => Refused,
            },
            Int if b.is_ascii_digit() => Int,
            Int | Zero => match b {
                b'.' => Dot,
                b'e' | b'E' => Exponent,
                _ => self.after_value(b),
            },
            Dot | Fraction if b.is_ascii_digit() => Fraction,
            Dot => Refused,
            Fraction => match b {
                b'e' | b'E' => Exponent,
                _ => self.after_value(b),
            },
            Exponent if b == b'+' || b == b'-' => ExponentSign,
            Exponent | ExponentSign | ExponentDigits if b.is_ascii_digit() => ExponentDigits,
            Exponent | ExponentSign => Refused,
            ExponentDigits => self.after_value(b),
            Literal([first, rest @ ..]) if b == *first => match rest {
                [] => AfterValue,
                _ => Literal(rest),
            },
            Literal(_) => Refused,
            AfterValue => self.after_value(b),
            End if is_space(b) => End,
            End | Refused => Refused,
        }
    }

    /// The first byte of a value (Go's `stateBeginValue`).
    fn value(&mut self, b: u8) -> State {
        match b {
            b'{' => {
                // An object at depth 2 is a crypto object when its top-level key is `crypto`.
                if self.open.len() == 1 {
                    self.in_crypto = self.crypto_key;
                }
                self.open(Expect::ObjectKey, State::KeyOrClose)
            }
            b'[' => self.open(Expect::ArrayValue, State::ValueOrClose),
            b'"' => State::InString,
            b'-' => State::Minus,
            b'0' => State::Zero,
            b'1'..=b'9' => State::Int,
            b't' => State::Literal(b"rue"),
            b'f' => State::Literal(b"alse"),
            b'n' => State::Literal(b"ull"),
            _ => State::Refused,
        }
    }

    /// The opening quote of a key; the key is kept for matching when it can matter.
    fn key(&mut self, b: u8) -> State {
        if b != b'"' {
            return State::Refused;
        }
        let depth = self.open.len();
        self.name = (depth == 1 || depth == 2 && self.in_crypto).then(Name::default);
        State::InString
    }

    fn end_string(&mut self) -> State {
        if let Some(name) = self.name.take() {
            if self.open.len() == 1 {
                self.crypto_key = name.is("crypto");
            } else if name.is("ciphertext") {
                self.found = true;
            }
        }
        State::AfterValue
    }

    /// After a value (Go's `stateEndValue`): the separator or end its container expects.
    fn after_value(&mut self, b: u8) -> State {
        if is_space(b) {
            return State::AfterValue;
        }
        let Some(top) = self.open.last_mut() else { return State::Refused };
        match (*top, b) {
            (Expect::ObjectKey, b':') => {
                *top = Expect::ObjectValue;
                State::Value
            }
            (Expect::ObjectValue, b',') => {
                *top = Expect::ObjectKey;
                State::Key
            }
            (Expect::ArrayValue, b',') => State::Value,
            (Expect::ObjectValue, b'}') | (Expect::ArrayValue, b']') => self.close(),
            _ => State::Refused,
        }
    }

    fn open(&mut self, expect: Expect, next: State) -> State {
        if self.open.len() == MAX_DEPTH {
            return State::Refused;
        }
        self.open.push(expect);
        next
    }

    fn close(&mut self) -> State {
        self.open.pop();
        if self.open.is_empty() {
            State::End
        } else {
            State::AfterValue
        }
    }

    fn push(&mut self, b: u8, next: State) -> State {
        if let Some(name) = &mut self.name {
            name.push(b);
        }
        next
    }
}

impl State {
    /// Whitespace here is skipped, as Go's scanner does.
    fn between_tokens(self) -> bool {
        use State::*;
        matches!(self, Start | Value | ValueOrClose | KeyOrClose | Key | AfterValue | End)
    }
}

/// JSON whitespace (Go's `isSpace`).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A key's unescaped bytes, up to [`NAME_MAX`] of them.
#[derive(Default)]
struct Name {
    bytes: [u8; NAME_MAX],
    len: usize,
}

impl Name {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
        }
        self.len = self.len.saturating_add(1);
    }

    fn push_char(&mut self, c: char) {
        c.encode_utf8(&mut [0; 4]).bytes().for_each(|b| self.push(b));
    }

    /// The key matches the field `name` (lower-case ASCII) as Go matches it: equal after Unicode
    /// simple case folding, invalid UTF-8 read as U+FFFD (which matches nothing).
    fn is(&self, name: &str) -> bool {
        self.len <= NAME_MAX && String::from_utf8_lossy(&self.bytes[..self.len]).chars().map(fold).eq(name.chars())
    }
}

/// `c` folded for comparison with a lower-case ASCII name: ASCII letters to lower case, and the
/// two other characters whose simple case folding reaches ASCII, `ſ` (U+017F, to `s`) and the
/// Kelvin sign (U+212A, to `k`). Go (1.21 and before alike) folds no other character to ASCII.
fn fold(c: char) -> char {
    match c {
        '\u{17f}' => 's',
        '\u{212a}' => 'k',
        c => c.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyJson, Name, MAX_DEPTH};

    fn name(key: &str) -> Name {
        let mut n = Name::default();
        key.bytes().for_each(|b| n.push(b));
        n
    }

    #[test]
    fn keys_fold_as_go_folds_them() {
        for (key, field) in
            [("verſion", "version"), ("VERſION", "version"), ("\u{212a}df", "kdf"), ("CipherText", "ciphertext")]
        {
            assert!(name(key).is(field), "{key} is {field}");
        }
        // Dotless and dotted i are not simple case variants of `i`; an overlong key is no name.
        for (key, field) in
            [("c\u{131}phertext", "ciphertext"), ("c\u{130}phertext", "ciphertext"), ("cryptos", "crypto")]
        {
            assert!(!name(key).is(field), "{key} is not {field}");
        }
        assert!(!name(&"crypto".repeat(10)).is("crypto"));
    }

    fn walk(doc: &str) -> bool {
        let mut k = KeyJson::default();
        k.feed(doc.as_bytes());
        k.is_keystore()
    }

    #[test]
    fn only_the_syntax_go_accepts_is_a_key_file() {
        let key = r#""crypto":{"ciphertext":"00"}"#;
        assert!(walk(&format!(r#"{{"n":[-0.5e+3,1E9,0,true,false,null,{{}},[]],{key}}}"#)));
        for bad in ["{'a':1,", "{\"a\":01,", "{\"a\":1.,", "{\"a\":tru,", "{\"a\":\"\t\",", "{\"a\":[1,],", "{,"] {
            assert!(!walk(&format!("{bad}{key}}}")), "{bad}");
        }
        assert!(!walk(&format!("\u{feff}{{{key}}}")), "a byte order mark is not whitespace to Go");
        assert!(!walk(&format!("{{{key}}}{{}}")), "one value only");
    }

    #[test]
    fn nesting_stops_at_gos_limit() {
        let nested = |depth: usize| {
            format!(r#"{{"n":{}{},"crypto":{{"ciphertext":"00"}}}}"#, "[".repeat(depth - 1), "]".repeat(depth - 1))
        };
        assert!(walk(&nested(MAX_DEPTH)));
        assert!(!walk(&nested(MAX_DEPTH + 1)));
    }
}
