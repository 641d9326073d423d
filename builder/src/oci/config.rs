//! An image's config: the base config with our layers appended and the spec's runtime settings
//! applied, written as canonical JSON so the digest is stable. It stays JSON (not oci-spec's
//! `ImageConfiguration`): a base config may carry fields oci-spec drops, and they are kept.

use crate::base::Base;
use crate::digest::Digest;
use crate::oci::canonical::canonical;
use crate::spec::{Image, Spec};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A layer as the manifest lists it, with what the config and history need.
#[derive(Clone, Debug)]
pub struct LayerRef {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub media_type: String,
    /// History line: what made this layer.
    pub created_by: String,
}

impl LayerRef {
    /// A built layer with the history line that says what made it.
    pub fn new(l: crate::layer::Layer, created_by: String) -> Self {
        LayerRef { digest: l.digest, diff_id: l.diff_id, size: l.size, media_type: l.media_type, created_by }
    }
}

/// RFC 3339 UTC time of `epoch`.
pub fn timestamp(epoch: u64) -> String {
    humantime::format_rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch)).to_string()
}

/// The image config JSON (canonical bytes).
pub fn config(base: &Base, img: &Image, spec: &Spec, layers: &[LayerRef], epoch: u64) -> Vec<u8> {
    let mut cfg = base.config.clone();
    let created = timestamp(epoch);
    let mut rc: Map<String, Value> = cfg["config"].as_object().cloned().unwrap_or_default();

    // Env: base first, ours override by name; kept in a stable order.
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for e in rc.get("Env").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        env.insert(k.into(), v.into());
    }
    env.entry("PATH".into()).or_insert_with(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let service = &img.service;
    env.extend(service.env.clone());
    rc.insert("Env".into(), json!(env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()));

    rc.insert("User".into(), json!(format!("{}:{}", service.user.uid, service.user.gid)));
    if !service.entrypoint.is_empty() {
        rc.insert("Entrypoint".into(), json!(service.entrypoint));
        // A base's Cmd belongs to the base's entrypoint, not ours.
        rc.remove("Cmd");
    }
    if let Some(cmd) = &service.cmd {
        rc.insert("Cmd".into(), json!(cmd));
    }
    if let Some(w) = &service.workdir {
        rc.insert("WorkingDir".into(), json!(w));
    }
    let set = |v: Vec<String>| Value::Object(v.into_iter().map(|k| (k, json!({}))).collect());
    if !service.ports.is_empty() {
        rc.insert("ExposedPorts".into(), set(service.ports.iter().map(|p| p.to_string()).collect()));
    }
    if !service.state_dirs.is_empty() {
        rc.insert("Volumes".into(), set(service.state_dirs.iter().cloned().collect()));
    }
    let mut labels: BTreeMap<String, String> = rc
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    labels.extend(default_labels(img, spec, base, &created));
    labels.extend(img.labels.clone());
    rc.insert("Labels".into(), json!(labels));
    rc.insert("StopSignal".into(), json!("SIGTERM"));

    cfg["config"] = Value::Object(rc);
    cfg["created"] = json!(created);
    let mut diff_ids = cfg["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
    diff_ids.extend(layers.iter().map(|l| json!(l.diff_id.to_string())));
    cfg["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    let mut history = cfg["history"].as_array().cloned().unwrap_or_default();
    history.extend(layers.iter().map(|l| json!({"created": created, "created_by": l.created_by, "comment": "lpbake"})));
    cfg["history"] = json!(history);
    if let Some(o) = cfg.as_object_mut() {
        // Builder-host details a base may carry have no place in a reproducible image.
        o.remove("container");
        o.remove("container_config");
        o.remove("docker_version");
        o.remove("hostname");
    }
    canonical(&cfg)
}

fn default_labels(img: &Image, spec: &Spec, base: &Base, created: &str) -> BTreeMap<String, String> {
    let comps: Vec<_> = img.components.iter().filter_map(|c| spec.components.get(c)).collect();
    let mut l = BTreeMap::new();
    l.insert("org.opencontainers.image.created".into(), created.to_string());
    l.insert("org.opencontainers.image.version".into(), img.version(spec).to_string());
    l.insert(
        "org.opencontainers.image.licenses".into(),
        comps.iter().map(|c| format!("({})", c.license)).collect::<Vec<_>>().join(" AND "),
    );
    if let Some(first) = comps.first() {
        if let Some(d) = first.source.download() {
            l.insert("org.opencontainers.image.source".into(), d.url.clone());
        }
        if let Some(r) = &first.revision {
            l.insert("org.opencontainers.image.revision".into(), r.clone());
        }
        if let Some(h) = &first.homepage {
            l.insert("org.opencontainers.image.url".into(), h.clone());
        }
    }
    if let Some(d) = base.digest {
        l.insert("org.opencontainers.image.base.digest".into(), d.to_string());
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_is_utc_rfc3339() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
