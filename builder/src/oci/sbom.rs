//! SPDX 2.3 software bill of materials of one image: every pinned input (version, source URL,
//! sha256, license), every binary built from the workspace (sha256, Cargo.lock sha256, rustc)
//! and the base image by digest. Deterministic: same inputs, same bytes.

use crate::base::Base;
use crate::digest::Digest;
use crate::lock::Lock;
use crate::oci::canonical::canonical;
use crate::oci::config::timestamp;
use crate::spec::{Image, Source, Spec};
use crate::workspace;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// SPDX ids allow letters, digits, `.` and `-` only.
fn spdx_id(kind: &str, name: &str) -> String {
    let clean: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect();
    format!("SPDXRef-{kind}-{clean}")
}

/// The SBOM of `img`, whose manifest has digest `manifest`, as canonical JSON bytes.
pub fn document(
    img: &Image,
    spec: &Spec,
    lock: &Lock,
    built: &BTreeMap<String, workspace::Built>,
    base: &Base,
    manifest: Digest,
    epoch: u64,
) -> Vec<u8> {
    let version = img.version(spec);
    let image_id = spdx_id("Image", &img.name);
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": format!("lpbake/{}", img.name),
        "versionInfo": version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "checksums": [{"algorithm": "SHA256", "checksumValue": manifest.hex()}],
        "primaryPackagePurpose": "CONTAINER",
    })];
    let mut relationships = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id}),
    ];
    for name in &img.components {
        let c = &spec.components[name.as_str()];
        let id = spdx_id("Package", &c.name);
        let mut p = json!({
            "SPDXID": id,
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": c.license,
            "primaryPackagePurpose": "APPLICATION",
        });
        let sha256 = match &c.source {
            Source::Download(d) => {
                p["downloadLocation"] = json!(d.url);
                p["externalRefs"] = json!([{
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": crate::quote::purl_generic(&c.name, &c.version, &d.url),
                }]);
                lock.files.get(&d.url).map(|pin| pin.sha256)
            }
            Source::Workspace(w) => built.get(&c.name).map(|b| {
                p["sourceInfo"] = json!(format!(
                    "built by lpbake from package {} (binary {}) of its cargo workspace: Cargo.lock sha256:{}, {}, cargo build --locked --release",
                    w.package, w.binary, b.cargo_lock.hex(), b.rustc
                ));
                b.sha256
            }),
        };
        if let Some(sha256) = sha256 {
            p["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": sha256.hex()}]);
        }
        if let Some(h) = &c.homepage {
            p["homepage"] = json!(h);
        }
        packages.push(p);
        relationships
            .push(json!({"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": id}));
    }
    if let (Some(image), Some(d)) = (&base.image, base.digest) {
        let id = spdx_id("Base", &img.base);
        let repo = image.to_string();
        let repo = repo.split(['@', ':']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string();
        packages.push(json!({
            "SPDXID": id,
            "name": img.base,
            "versionInfo": d.to_string(),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "checksums": [{"algorithm": "SHA256", "checksumValue": d.hex()}],
            "primaryPackagePurpose": "CONTAINER",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": format!("pkg:oci/{repo}@{d}")}],
        }));
        relationships
            .push(json!({"spdxElementId": image_id, "relationshipType": "DESCENDANT_OF", "relatedSpdxElement": id}));
    }
    let doc: Value = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("lpbake/{}:{version}", img.name),
        "documentNamespace": format!("https://spdx.org/spdxdocs/lpbake/{}-{}", img.name, manifest.hex()),
        "creationInfo": {"created": timestamp(epoch), "creators": [concat!("Tool: lpbake-", env!("CARGO_PKG_VERSION"))]},
        "packages": packages,
        "relationships": relationships,
    });
    let mut bytes = canonical(&doc);
    bytes.push(b'\n');
    bytes
}
