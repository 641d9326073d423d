//! Acceptance of the Docker side: `lpbake build --load` puts the images into a real engine,
//! where they run read-only, as a non-root user, with the real binaries; `docker inspect`
//! shows the declared ports and no secret-looking Env; a missing engine is one clear error.

mod common;
use common::*;
use std::process::Command;

fn docker(args: &[&str]) -> String {
    let o = Command::new(tool("docker")).args(args).output().unwrap();
    ok(&o)
}

#[test]
fn build_load_then_images_run_read_only_as_non_root() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("A");
    let o = build_offline_with(&tmp.path().join("cache"), &out, &["--load"]);
    let text = ok(&o);
    for tag in ["lpbake/livepeer:0.9.1", "lpbake/livepeer:latest", "lpbake/geth:1.17.7", "lpbake/ffmpeg:latest"] {
        assert!(text.contains(&format!("loaded {tag}")), "{tag} not loaded:\n{text}");
    }
    // The engine's image id is the config digest lpbake computed.
    let summary = lpbake::oci::summary::Summary::read(&out).unwrap().unwrap();
    for name in ["livepeer", "geth", "ffmpeg"] {
        let id = docker(&["image", "inspect", "--format", "{{.Id}}", &format!("lpbake/{name}:latest")]);
        assert_eq!(id.trim(), summary.images[name].config.to_string(), "{name}");
    }

    let ffmpeg = docker(&["run", "--rm", "--read-only", "--network", "none", "lpbake/ffmpeg", "-version"]);
    assert!(ffmpeg.starts_with("ffmpeg version n9.0.2"), "{ffmpeg}");
    let geth = docker(&["run", "--rm", "--read-only", "--network", "none", "lpbake/geth", "version"]);
    assert!(geth.contains("Version: 1.17.7-stable"), "{geth}");
    let lp = docker(&["run", "--rm", "--read-only", "--network", "none", "lpbake/livepeer", "-version"]);
    assert!(lp.contains("Livepeer Node Version: 0.9.1"), "{lp}");
    let uid =
        docker(&["run", "--rm", "--read-only", "--network", "none", "--entrypoint", "id", "lpbake/livepeer", "-u"]);
    assert_eq!(uid.trim(), "65532");
    // The data volume is writable by that user on a read-only root.
    let w = docker(&[
        "run",
        "--rm",
        "--read-only",
        "--network",
        "none",
        "--entrypoint",
        "touch",
        "lpbake/livepeer",
        "/var/lib/livepeer/data/ok",
    ]);
    assert!(w.is_empty(), "{w}");

    let expected_ports = [("livepeer", vec!["8935/tcp"]), ("geth", vec!["30303/tcp", "30303/udp"]), ("ffmpeg", vec![])];
    for (name, ports) in expected_ports {
        let cfg: serde_json::Value = serde_json::from_str(&docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config}}",
            &format!("lpbake/{name}:latest"),
        ]))
        .unwrap();
        let user = cfg["User"].as_str().unwrap();
        assert!(!user.is_empty() && !user.starts_with("0:") && user != "0" && user != "root", "{name}: user {user}");
        let got: Vec<&str> =
            cfg["ExposedPorts"].as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        assert_eq!(got, ports, "{name}: exposed ports");
        for e in cfg["Env"].as_array().unwrap() {
            let (k, v) = e.as_str().unwrap().split_once('=').unwrap();
            let k = k.to_ascii_uppercase();
            assert!(
                !["PASSWORD", "SECRET", "TOKEN", "PRIVATE", "KEY"].iter().any(|w| k.contains(w)),
                "{name}: Env {k}={v} looks secret"
            );
        }
    }
}

#[test]
fn load_without_an_engine_says_how_to_start_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let d = lpbake::digest::Digest::of(b"x");
    let x = lpbake::oci::summary::ImageSummary { manifest: d, config: d, layers: vec![], sbom: d, tags: vec![] };
    lpbake::oci::summary::Summary { images: [("x".to_string(), x)].into() }.write(&out).unwrap();
    std::fs::write(out.join("x.docker.tar"), b"").unwrap();
    let o = lpbake(&tmp.path().join("cache"))
        .env("DOCKER_HOST", format!("unix://{}/no.sock", tmp.path().display()))
        .args(["load", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = failed(&o);
    assert!(
        text.contains("no Docker engine answers") && text.contains("no.sock") && text.contains("dockerd"),
        "{text}"
    );
}
