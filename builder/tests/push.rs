//! Acceptance of `lpbake push` against the loopback registry (127.0.0.1:5000, from `make deps`):
//! a first push uploads the images, a second one finds every blob there and uploads nothing;
//! skopeo pulls back by digest the very bytes that were built; each SBOM is reachable as a
//! referrer through the tag-schema fallback; memory stays flat while 150 MB go up; a layer that
//! is not its digest is never committed; and `--insecure` is refused for a remote registry,
//! decided on the parsed host (`lpbake::urls`).

mod common;
use common::*;
use lpbake::digest::Digest;
use lpbake::oci::summary::Summary;
use lpbake::publish::registry::{push, PushStats};
use lpbake::report::{Mode, Reporter};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::{Client, Reference};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const REGISTRY: &str = "127.0.0.1:5000";

fn registry_answers() {
    let addr = REGISTRY.parse().unwrap();
    if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        panic!("the test registry does not answer on {REGISTRY} ({e}): run `make deps`");
    }
}

/// Peak resident memory of this process so far (VmHWM; unlike getrusage, it does not start from
/// the parent's peak), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap();
    line.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
}

/// A Docker config folder with no config.json: anonymous access, whatever the user's own says.
fn no_docker_config() -> &'static Path {
    Path::new("/nonexistent/lpbake-test-docker-config")
}

fn timed_push(out: &Path, target: &str) -> BTreeMap<String, PushStats> {
    let start = Instant::now();
    let stats = push(out, target, &[], false, no_docker_config(), &Reporter::new(Mode::Human))
        .unwrap_or_else(|e| panic!("{e}"));
    let took = start.elapsed();
    eprintln!("push to {target} took {took:.2?}: {stats:#?}");
    stats
}

/// `skopeo inspect --raw` of `reference` on the test registry.
fn raw_manifest(reference: &str) -> Vec<u8> {
    let o = Command::new(tool("skopeo"))
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{REGISTRY}/{reference}"))
        .output()
        .unwrap();
    ok(&o);
    o.stdout
}

#[test]
fn push_uploads_once_and_pulls_back_identical_bytes() {
    registry_answers();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    ok(&build_offline(&tmp.path().join("cache"), &out));
    let summary = Summary::read(&out).unwrap().unwrap().images;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let prefix = format!("test-{:x}", nanos ^ std::process::id());
    let target = format!("{REGISTRY}/{prefix}");

    // A registry that does not answer: one error naming it and the fix.
    let quiet = Reporter::new(Mode::Quiet);
    let msg =
        push(&out, "127.0.0.1:1/x", &["livepeer".into()], false, no_docker_config(), &quiet).unwrap_err().to_string();
    assert!(msg.contains("127.0.0.1:1") && msg.contains("not answering") && msg.contains("make deps"), "{msg}");
    let msg = push(&out, &target, &["nope".into()], false, no_docker_config(), &quiet).unwrap_err().to_string();
    assert!(msg.contains("no image `nope`") && msg.contains("livepeer"), "{msg}");

    // First push: everything goes up (shared layers once, then mounted), memory stays flat.
    let rss = peak_rss();
    let first = timed_push(&out, &target);
    let growth = peak_rss().saturating_sub(rss);
    eprintln!("peak memory grew by {} KiB during the first push", growth >> 10);
    assert!(growth < 32 << 20, "peak memory grew by {} MiB during the push", growth >> 20);
    assert_eq!(first.keys().collect::<Vec<_>>(), summary.keys().collect::<Vec<_>>());
    for (name, s) in &first {
        // Distinct config and layers, the empty config and the SBOM.
        let mut blobs: Vec<Digest> = summary[name].layers.clone();
        blobs.push(summary[name].config);
        blobs.sort();
        blobs.dedup();
        assert_eq!(s.blobs_uploaded + s.blobs_mounted + s.blobs_present, blobs.len() + 2, "{name}: {s:?}");
        assert_eq!(s.manifests, 3, "{name}: image manifest, SBOM manifest, referrers index: {s:?}");
    }
    let uploaded: u64 = first.values().map(|s| s.bytes_uploaded).sum();
    assert!(uploaded > 50 << 20, "only {uploaded} bytes uploaded");
    assert!(first.values().map(|s| s.blobs_mounted).sum::<usize>() > 0, "shared layers were not mounted");

    // Second push: every blob is there, nothing is sent, the referrers index is unchanged.
    let second = timed_push(&out, &target);
    for (name, s) in &second {
        assert_eq!((s.blobs_uploaded, s.blobs_mounted, s.bytes_uploaded), (0, 0, 0), "{name}: {s:?}");
        assert_eq!(s.blobs_present, first[name].blobs_uploaded + first[name].blobs_mounted + first[name].blobs_present);
        assert_eq!(s.manifests, 2, "{name}: {s:?}");
    }

    // Pulled back by digest, with skopeo: the same manifest, config and layers, byte for byte.
    let livepeer = &summary["livepeer"];
    let digest = livepeer.manifest.to_string();
    let digest = digest.as_str();
    let back = tmp.path().join("back");
    let o = Command::new(tool("skopeo"))
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{target}/livepeer@{digest}"))
        .arg(format!("oci:{}:x", back.display()))
        .output()
        .unwrap();
    ok(&o);
    let pulled: Vec<(String, String)> = tree_digests(&back.join("blobs"));
    for (path, sha) in &pulled {
        assert_eq!(format!("sha256/{}", &sha["sha256:".len()..]), *path, "pulled blob {path} is not its digest");
    }
    let mut want: Vec<String> = livepeer.layers.iter().map(Digest::to_string).collect();
    want.extend([digest.to_string(), livepeer.config.to_string()]);
    want.sort();
    assert_eq!(pulled.into_iter().map(|(_, d)| d).collect::<Vec<_>>(), want);
    for tag in ["0.9.1", "latest"] {
        let m = raw_manifest(&format!("{prefix}/livepeer:{tag}"));
        assert_eq!(Digest::of(&m).to_string(), digest, "tag {tag}");
    }

    // The SBOM: listed under the fallback tag, found by an OCI client's referrers look-up, and
    // its layer is OUT/livepeer.spdx.json.
    let hex = &digest["sha256:".len()..];
    let index: Value = serde_json::from_slice(&raw_manifest(&format!("{prefix}/livepeer:sha256-{hex}"))).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(entries[0]["artifactType"], "application/spdx+json");
    let artifact_digest = entries[0]["digest"].as_str().unwrap();
    let artifact: Value =
        serde_json::from_slice(&raw_manifest(&format!("{prefix}/livepeer@{artifact_digest}"))).unwrap();
    assert_eq!(artifact["subject"]["digest"], digest);
    assert_eq!(artifact["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
    assert_eq!(artifact["layers"][0]["digest"], livepeer.sbom.to_string());

    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![REGISTRY.into()]),
        ..Default::default()
    });
    let image = Reference::with_digest(REGISTRY.into(), format!("{prefix}/livepeer"), digest.into());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sbom = rt.block_on(async {
        let referrers = client.pull_referrers(&image, Some("application/spdx+json")).await.unwrap();
        assert_eq!(referrers.manifests.len(), 1);
        assert_eq!(referrers.manifests[0].digest, artifact_digest);
        let mut sbom = Vec::new();
        client.pull_blob(&image, livepeer.sbom.to_string().as_str(), &mut sbom).await.unwrap();
        sbom
    });
    assert!(sbom == std::fs::read(out.join("livepeer.spdx.json")).unwrap(), "pulled SBOM differs from the built one");

    // A large layer that is no longer its digest: its streamed upload (one PUT, of many 4 MiB
    // stream items) breaks off at the end, before the registry commits it.
    let blob_path = |d: &Digest| out.join("oci/livepeer/blobs/sha256").join(d.hex());
    let layer = livepeer.layers.iter().find(|l| std::fs::metadata(blob_path(l)).unwrap().len() > 16 << 20);
    let layer = &layer.expect("a layer of more than 16 MiB").to_string();
    let path = blob_path(&layer.parse().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let tampered = format!("{target}-tampered");
    let msg = push(&out, &tampered, &["livepeer".into()], false, no_docker_config(), &quiet).unwrap_err().to_string();
    assert!(msg.contains("sha256 mismatch") && msg.contains(&path.display().to_string()), "{msg}");
    let repo = Reference::with_digest(REGISTRY.into(), format!("{prefix}-tampered/livepeer"), layer.into());
    assert!(!rt.block_on(client.blob_exists(&repo, layer)).unwrap(), "the tampered layer was committed");
}

#[test]
fn insecure_is_decided_on_the_parsed_host_before_any_traffic() {
    let report = Reporter::new(Mode::Quiet);
    // Names that start like a loopback address but are not one: refused, naming the target.
    for target in ["127.0.0.1.nip.io:5000/team", "127.0.0.1@evil:5000/team", "localhost.example:5000"] {
        let msg =
            push(Path::new("/nonexistent"), target, &[], true, no_docker_config(), &report).unwrap_err().to_string();
        let host = target.split('/').next().unwrap();
        assert!(msg.contains(host) && msg.contains("fix:") && !msg.contains("/nonexistent"), "{target}: {msg}");
    }
    // Loopback registries as the one URL policy knows them (all of 127.0.0.0/8, localhost in any
    // case): --insecure passes, and the push goes on to read the (missing) output.
    for target in ["127.0.0.2:5000/team", "localhost:5000", "LOCALHOST:5000"] {
        let msg =
            push(Path::new("/nonexistent"), target, &[], true, no_docker_config(), &report).unwrap_err().to_string();
        assert!(!msg.contains("--insecure") && msg.contains("/nonexistent"), "{target}: {msg}");
    }
}

#[test]
fn insecure_is_refused_for_a_remote_registry_without_traffic() {
    let report = Reporter::new(Mode::Quiet);
    // No output and an unresolvable host: any attempt to read or connect would fail differently.
    let err = push(Path::new("/nonexistent"), "registry.invalid:5000/team", &[], true, no_docker_config(), &report)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("--insecure") && msg.contains("registry.invalid:5000") && msg.contains("fix:"), "{msg}");
}
