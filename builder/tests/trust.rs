//! Acceptance (issue 8): what the cache holds is checked before it is used (an edited layer
//! index never ships another component's layer or file), and key material is refused by its
//! content whatever name it is installed under.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A .tar.gz with the given (path, content) regular files.
fn tarball(path: &Path, files: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

/// Adds to `spec` an image `name` of one component from a tarball holding `files`, installing
/// each (member, destination).
fn component(spec: &Path, name: &str, files: &[(&str, &[u8])], installs: &[(&str, &str)]) {
    std::fs::create_dir_all(spec).unwrap();
    let tgz = spec.join(format!("{name}.tar.gz"));
    tarball(&tgz, files);
    let mut text = format!(
        "[component]\nversion = \"1.0\"\nlicense = \"MIT\"\n[component.source]\nurl = \"file://{}\"\n",
        tgz.display()
    );
    for (from, to) in installs {
        text.push_str(&format!("[[component.install]]\nfrom = \"{from}\"\nto = \"{to}\"\nmode = 0o755\n"));
    }
    text.push_str(&format!(
        "[image]\nbase = \"scratch\"\ncomponents = [\"{name}\"]\nuser = \"65532:65532\"\nentrypoint = [\"/x\"]\n"
    ));
    std::fs::write(spec.join(format!("{name}.toml")), text).unwrap();
}

struct Project {
    _tmp: tempfile::TempDir,
    spec: PathBuf,
    cache: PathBuf,
    out: PathBuf,
}

impl Project {
    /// Two images, `tool` and `other`, each of one component with one file.
    fn two_images() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let spec = tmp.path().join("spec");
        component(&spec, "tool", &[("bin/tool", b"the tool\n")], &[("bin/tool", "/usr/local/bin/tool")]);
        component(&spec, "other", &[("bin/other", b"the other\n")], &[("bin/other", "/usr/local/bin/other")]);
        Project { spec, cache: tmp.path().join("cache"), out: tmp.path().join("out"), _tmp: tmp }
    }

    fn build(&self) -> std::process::Output {
        build_spec(&self.cache, &self.spec, &self.spec.join("lpbake.lock"), &self.out, &[])
    }

    fn summary(&self) -> Vec<u8> {
        std::fs::read(self.out.join("images.json")).unwrap()
    }

    /// The files of image `name`'s only layer, path -> content.
    fn files(&self, name: &str) -> BTreeMap<String, String> {
        let summary: serde_json::Value = serde_json::from_slice(&self.summary()).unwrap();
        let layer = summary[name]["layers"][0].as_str().unwrap().trim_start_matches("sha256:").to_string();
        let gz = std::fs::File::open(self.out.join("oci").join(name).join("blobs/sha256").join(layer)).unwrap();
        let mut files = BTreeMap::new();
        for e in tar::Archive::new(flate2::read::GzDecoder::new(gz)).entries().unwrap() {
            let mut e = e.unwrap();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            files.insert(e.path().unwrap().display().to_string(), body);
        }
        files
    }

    /// The layer index entries of the cache, by file, with the layer digest each names.
    fn layer_index(&self) -> Vec<(PathBuf, String)> {
        let mut entries: Vec<(PathBuf, String)> = std::fs::read_dir(self.cache.join("layers"))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let text = std::fs::read_to_string(&p).unwrap();
                let digest = text.split("\"digest\":\"").nth(1).unwrap()[..71].to_string();
                (p, digest)
            })
            .collect();
        entries.sort();
        entries
    }
}

/// The index entry that names the layer of image `name` in the current output, and another.
fn entries_of(p: &Project, name: &str) -> (PathBuf, PathBuf) {
    let summary: serde_json::Value = serde_json::from_slice(&p.summary()).unwrap();
    let layer = summary[name]["layers"][0].as_str().unwrap().to_string();
    let index = p.layer_index();
    assert_eq!(index.len(), 2, "{index:?}");
    let (mine, theirs): (Vec<_>, Vec<_>) = index.into_iter().partition(|(_, d)| *d == layer);
    (mine[0].0.clone(), theirs[0].0.clone())
}

#[test]
fn layer_index_entry_copied_from_another_component_is_refused_and_rebuilt() {
    let p = Project::two_images();
    ok(&p.build());
    let before = p.summary();
    let (tool, other) = entries_of(&p, "tool");
    std::fs::copy(&other, &tool).unwrap();

    let text = ok(&p.build());
    assert_eq!(p.files("tool")["usr/local/bin/tool"], "the tool\n");
    assert!(!p.files("tool").contains_key("usr/local/bin/other"), "the other component's layer shipped");
    assert_eq!(p.summary(), before);
    assert!(text.contains("warning:") && text.contains(&tool.display().to_string()), "{text}");
}

#[test]
fn layer_index_entry_forged_for_its_key_is_found_out_before_the_image_is_written() {
    let p = Project::two_images();
    ok(&p.build());
    let before = p.summary();
    let (tool, other) = entries_of(&p, "tool");
    // The other component's entry, rewritten to claim the tool's key: the cheap checks pass.
    let key = format!("sha256:{}", tool.file_name().unwrap().to_str().unwrap());
    let forged = std::fs::read_to_string(&other).unwrap();
    let other_key = forged.split("\"key\":\"").nth(1).unwrap()[..71].to_string();
    std::fs::write(&tool, forged.replace(&other_key, &key)).unwrap();

    let text = ok(&p.build());
    assert_eq!(p.files("tool")["usr/local/bin/tool"], "the tool\n");
    assert_eq!(p.summary(), before);
    assert!(text.contains("not the layer of this tree") && text.contains(&tool.display().to_string()), "{text}");
}

#[test]
fn forged_cache_index_of_unpacked_members_is_not_believed_when_a_layer_is_rebuilt() {
    let p = Project::two_images();
    ok(&p.build());
    let before = p.summary();
    let (tool_file, other_file) =
        (lpbake::digest::Digest::of(b"the tool\n"), lpbake::digest::Digest::of(b"the other\n"));
    // Every other index the cache holds: point the tool's file at the other's (a valid blob).
    for e in walk(&p.cache).into_iter().filter(|f| !f.starts_with(p.cache.join("blobs"))) {
        let text = std::fs::read_to_string(&e).unwrap_or_default();
        if text.contains(&tool_file.to_string()) {
            let forged =
                text.replace(&tool_file.to_string(), &other_file.to_string()).replace("\"size\":9", "\"size\":10");
            std::fs::write(&e, forged).unwrap();
        }
    }
    // The layers must be made again, from whatever the cache says the files are.
    std::fs::remove_dir_all(p.cache.join("layers")).unwrap();
    std::fs::remove_dir_all(&p.out).unwrap();
    ok(&p.build());
    assert_eq!(p.files("tool")["usr/local/bin/tool"], "the tool\n");
    assert_eq!(p.summary(), before);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

const KEYSTORE: &[u8] = br#"{"address":"c0ffee00","crypto":{"cipher":"aes-128-ctr","ciphertext":"5f1e","cipherparams":{"iv":"00"},"kdf":"scrypt","kdfparams":{"n":262144},"mac":"ab"},"id":"1","version":3}"#;

/// Builds one image whose component installs `content` as `to`; the build's output.
fn build_with_file(to: &str, content: &[u8]) -> (std::process::Output, PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec");
    component(
        &spec,
        "tool",
        &[("bin/tool", b"\x7fELF\x02\x01\x01 a binary"), ("share/data", content)],
        &[("bin/tool", "/usr/local/bin/tool"), ("share/data", to)],
    );
    let out = tmp.path().join("out");
    let o = build_spec(&tmp.path().join("cache"), &spec, &spec.join("lpbake.lock"), &out, &[]);
    (o, out, tmp)
}

#[test]
fn keystore_under_an_innocent_name_is_refused_naming_component_path_and_source() {
    let (o, out, _tmp) = build_with_file("/etc/tool/settings.json", KEYSTORE);
    let text = failed(&o);
    for want in
        ["component `tool`", "/etc/tool/settings.json", "member `share/data`", "tool.tar.gz", "keystore", "fix:"]
    {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    assert!(!out.exists());
}

#[test]
fn private_keys_under_innocent_names_are_refused() {
    for (to, key) in [
        (
            "/etc/tool/tls.pem",
            &b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"[..],
        ),
        ("/usr/share/tool/banner.txt", b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n"),
    ] {
        let (o, out, _tmp) = build_with_file(to, key);
        let text = failed(&o);
        assert!(text.contains(to) && text.contains("private key"), "{text}");
        assert!(!out.exists());
    }
}

#[test]
fn ordinary_files_pass_the_content_check() {
    let (o, out, _tmp) = build_with_file("/etc/tool/settings.json", br#"{"version":3,"listen":"0.0.0.0:8935"}"#);
    ok(&o);
    assert!(out.join("images.json").is_file());
}
