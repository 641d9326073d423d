//! AMF0, the encoding of RTMP command messages: the types publishers send and the replies need.

use std::io;

#[derive(Clone, Debug, PartialEq)]
pub enum Amf {
    Number(f64),
    Bool(bool),
    Str(String),
    Object(Vec<(String, Amf)>),
    Null,
    Undefined,
    Array(Vec<Amf>),
}

impl Amf {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A property of an object (or ECMA array).
    pub fn get(&self, key: &str) -> Option<&Amf> {
        match self {
            Amf::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("AMF0: {what}"))
}

/// Decodes every value in `buf`.
pub fn decode_all(mut buf: &[u8]) -> io::Result<Vec<Amf>> {
    let mut values = Vec::new();
    while !buf.is_empty() {
        values.push(decode(&mut buf)?);
    }
    Ok(values)
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
    if buf.len() < n {
        return Err(bad("truncated"));
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn decode_string(buf: &mut &[u8], long: bool) -> io::Result<String> {
    let len = if long {
        u32::from_be_bytes(take(buf, 4)?.try_into().unwrap()) as usize
    } else {
        u16::from_be_bytes(take(buf, 2)?.try_into().unwrap()) as usize
    };
    Ok(String::from_utf8_lossy(take(buf, len)?).into_owned())
}

fn decode_properties(buf: &mut &[u8]) -> io::Result<Vec<(String, Amf)>> {
    let mut props = Vec::new();
    loop {
        let key = decode_string(buf, false)?;
        if key.is_empty() && buf.first() == Some(&0x09) {
            *buf = &buf[1..];
            return Ok(props);
        }
        props.push((key, decode(buf)?));
    }
}

fn decode(buf: &mut &[u8]) -> io::Result<Amf> {
    let marker = take(buf, 1)?[0];
    Ok(match marker {
        0x00 => Amf::Number(f64::from_be_bytes(take(buf, 8)?.try_into().unwrap())),
        0x01 => Amf::Bool(take(buf, 1)?[0] != 0),
        0x02 => Amf::Str(decode_string(buf, false)?),
        0x03 => Amf::Object(decode_properties(buf)?),
        0x05 => Amf::Null,
        0x06 => Amf::Undefined,
        0x08 => {
            take(buf, 4)?; // ECMA array count hint
            Amf::Object(decode_properties(buf)?)
        }
        0x0a => {
            let n = u32::from_be_bytes(take(buf, 4)?.try_into().unwrap());
            Amf::Array((0..n).map(|_| decode(buf)).collect::<io::Result<_>>()?)
        }
        0x0b => {
            take(buf, 10)?; // date: f64 millis + i16 timezone
            Amf::Undefined
        }
        0x0c => Amf::Str(decode_string(buf, true)?),
        other => return Err(bad(&format!("unsupported marker {other:#04x}"))),
    })
}

/// Encodes a sequence of values, as one command message payload.
pub fn encode(values: &[Amf]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        encode_value(v, &mut out);
    }
    out
}

fn encode_key(key: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
}

fn encode_value(value: &Amf, out: &mut Vec<u8>) {
    match value {
        Amf::Number(n) => {
            out.push(0x00);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Amf::Bool(b) => out.extend_from_slice(&[0x01, *b as u8]),
        Amf::Str(s) => {
            out.push(0x02);
            encode_key(s, out);
        }
        Amf::Object(props) => {
            out.push(0x03);
            for (k, v) in props {
                encode_key(k, out);
                encode_value(v, out);
            }
            out.extend_from_slice(&[0, 0, 0x09]);
        }
        Amf::Null => out.push(0x05),
        Amf::Undefined => out.push(0x06),
        Amf::Array(items) => {
            out.push(0x0a);
            out.extend_from_slice(&(items.len() as u32).to_be_bytes());
            for item in items {
                encode_value(item, out);
            }
        }
    }
}

/// An AMF0 object from string keys.
pub fn object(props: &[(&str, Amf)]) -> Amf {
    Amf::Object(props.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let values = vec![
            Amf::Str("connect".into()),
            Amf::Number(1.0),
            object(&[("app", Amf::Str("stream".into())), ("fpad", Amf::Bool(false)), ("x", Amf::Null)]),
            Amf::Undefined,
            Amf::Array(vec![Amf::Number(2.5)]),
        ];
        assert_eq!(decode_all(&encode(&values)).unwrap(), values);
        assert_eq!(values[2].get("app").and_then(Amf::as_str), Some("stream"));
    }

    #[test]
    fn ecma_array_reads_as_object() {
        let mut buf = vec![0x08, 0, 0, 0, 1];
        encode_key("duration", &mut buf);
        encode_value(&Amf::Number(3.0), &mut buf);
        buf.extend_from_slice(&[0, 0, 9]);
        assert_eq!(decode_all(&buf).unwrap(), vec![object(&[("duration", Amf::Number(3.0))])]);
    }

    #[test]
    fn truncation_is_an_error() {
        assert!(decode_all(&[0x00, 1, 2]).is_err());
    }
}
