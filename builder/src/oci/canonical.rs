//! Canonical JSON for everything that is hashed into a digest: object keys sorted at every
//! level, no whitespace, strings escaped as serde_json escapes them. Independent of serde_json's
//! map ordering feature and of the HashMaps inside oci-spec's types. (olpc-cjson, in the tree via
//! oci-client, prints control characters raw, which is not JSON and would change the bytes of a
//! base config whose history holds a tab or newline: it does not fit.)

use serde::Serialize;
use serde_json::Value;

/// `v` (any serializable value, maps in any order) as canonical JSON bytes.
pub fn to_vec<T: Serialize>(v: &T) -> Vec<u8> {
    canonical(&serde_json::to_value(v).expect("lpbake's JSON types serialize"))
}

/// `v` as canonical JSON bytes.
pub fn canonical(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).expect("string serializes"));
                out.push(b':');
                write(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).expect("scalar serializes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"z": [3, {"y": true, "x": null}], "c": "é"}});
        assert_eq!(String::from_utf8(canonical(&v)).unwrap(), r#"{"a":{"c":"é","z":[3,{"x":null,"y":true}]},"b":1}"#);
    }

    #[test]
    fn hash_maps_are_written_sorted_and_control_characters_escaped() {
        let m: std::collections::HashMap<String, String> =
            (0..32).map(|i| (format!("k{i:02}"), format!("line\t{i}\n"))).collect();
        let text = String::from_utf8(to_vec(&m)).unwrap();
        assert!(text.starts_with(r#"{"k00":"line\t0\n","k01":"#), "{text}");
        assert!(text.ends_with(r#""k31":"line\t31\n"}"#), "{text}");
    }
}
