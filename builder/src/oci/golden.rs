//! Golden-file tests of the OCI model: a fixed spec, lock, base and layers give exactly the
//! config, manifest, SBOM, layout index and summary bytes checked in under `testdata/`. The base
//! config carries fields oci-spec does not know (kept), builder-host fields (dropped), a history
//! line with a tab and a newline (escaped), and HashMap-backed maps (written sorted).
//! After an intended change of output: `LPBAKE_BLESS=1 cargo test -p lpbake --lib oci::golden`.

use crate::base::{Base, BaseLayer};
use crate::digest::Digest;
use crate::fetch::ImageRef;
use crate::lock::{FilePin, Lock};
use crate::oci::config::{self, LayerRef};
use crate::oci::summary::{ImageSummary, Summary};
use crate::oci::{index, manifest, sbom};
use std::path::{Path, PathBuf};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/oci/testdata")
}

fn golden(name: &str, bytes: &[u8]) {
    let path = testdata().join(name);
    if std::env::var_os("LPBAKE_BLESS").is_some() {
        std::fs::write(&path, bytes).unwrap();
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        want == bytes,
        "{} differs from what is checked in:\n{}\nwant:\n{}",
        path.display(),
        String::from_utf8_lossy(bytes),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn config_manifest_sbom_index_and_summary_are_the_checked_in_bytes() {
    let spec = crate::spec::load(&testdata().join("spec")).unwrap();
    let img = &spec.images["tool"];
    let url = &spec.components["tool"].source.download().expect("a downloaded source").url;
    let base_manifest = Digest::of(b"base manifest");
    let lock = Lock {
        epoch: 1_700_000_000,
        files: [(url.clone(), FilePin { sha256: Digest::of(b"tool archive"), size: Some(1 << 20) })].into(),
        images: [(img.base.clone(), base_manifest)].into(),
    };
    let base = Base {
        image: Some(ImageRef::parse(&img.base).unwrap()),
        digest: Some(base_manifest),
        config: serde_json::from_slice(&std::fs::read(testdata().join("base-config.json")).unwrap()).unwrap(),
        layers: vec![BaseLayer {
            digest: Digest::of(b"base layer"),
            size: 29_000_000,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        }],
    };
    let layers = vec![
        LayerRef {
            digest: Digest::of(b"tool layer"),
            diff_id: Digest::of(b"tool layer, uncompressed"),
            size: 4321,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            created_by: format!("lpbake: tool 1.2.3 from {url}"),
        },
        LayerRef {
            digest: Digest::of(b"dirs layer"),
            diff_id: Digest::of(b"dirs layer, uncompressed"),
            size: 120,
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            created_by: "lpbake: tool runtime directories".into(),
        },
    ];
    let epoch = lock.epoch;
    let cfg = config::config(&base, img, &spec, &layers, epoch);
    let man = manifest::image(&cfg, &base, &layers);
    let doc = sbom::document(img, &spec, &lock, &Default::default(), &base, Digest::of(&man), epoch);
    let version = img.version(&spec).to_string();
    let mut all: Vec<Digest> = base.layers.iter().map(|l| l.digest).collect();
    all.extend(layers.iter().map(|l| l.digest));
    let summary = Summary {
        images: [(
            "tool".to_string(),
            ImageSummary {
                manifest: Digest::of(&man),
                config: Digest::of(&cfg),
                layers: all,
                sbom: Digest::of(&doc),
                tags: vec![format!("lpbake/tool:{version}"), "lpbake/tool:latest".into()],
            },
        )]
        .into(),
    };
    golden("tool.config.json", &cfg);
    golden("tool.manifest.json", &man);
    golden("tool.spdx.json", &doc);
    golden("tool.index.json", &index::layout(&man, &version));
    golden("images.json", &summary.to_bytes());
}

#[test]
fn scratch_config_is_the_checked_in_bytes() {
    let spec = crate::spec::load(&testdata().join("spec")).unwrap();
    let cfg = config::config(&Base::scratch(), &spec.images["tool"], &spec, &[], 0);
    golden("scratch.config.json", &cfg);
}
