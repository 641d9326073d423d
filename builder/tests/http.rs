//! Acceptance of https-style fetching against a real HTTP server on loopback: a download that
//! breaks off mid-way is resumed with a Range request and verified; a server that keeps failing
//! ends in one clear error and nothing in the cache.

mod common;
use common::*;
use lpbake::digest::Digest;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Serves `body` at any path: the first answer breaks off after half the bytes, later ones
/// honour `Range: bytes=N-`. Returns the base URL and the request heads seen.
fn flaky_server(body: Vec<u8>, always_fail: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().take(8).enumerate() {
            let mut conn = conn.unwrap();
            let mut head = String::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            log.lock().unwrap().push(head.clone());
            let from = head.lines().find_map(|l| {
                let range =
                    l.to_ascii_lowercase().strip_prefix("range: bytes=")?.trim().trim_end_matches('-').to_string();
                range.parse::<usize>().ok()
            });
            if n == 0 || always_fail {
                let half = body.len() / 2;
                let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = conn.write_all(&body[..half]);
            } else if let Some(from) = from {
                let _ = write!(
                    conn,
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
                    body.len() - from,
                    body.len() - 1,
                    body.len()
                );
                let _ = conn.write_all(&body[from..]);
            } else {
                let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = conn.write_all(&body);
            }
        }
    });
    (url, seen)
}

fn spec_and_lock(dir: &std::path::Path, url: &str, sha: Digest) -> (std::path::PathBuf, std::path::PathBuf) {
    let spec = dir.join("spec");
    std::fs::create_dir_all(&spec).unwrap();
    std::fs::write(
        spec.join("tool.toml"),
        format!(
            "[component]\nversion = \"1\"\nlicense = \"MIT\"\n[component.source]\nurl = \"{url}/tool\"\nformat = \"file\"\n[[component.install]]\nto = \"/usr/local/bin/tool\"\nmode = 0o755\n[image]\nbase = \"scratch\"\ncomponents = [\"tool\"]\nuser = \"65532:65532\"\n"
        ),
    )
    .unwrap();
    let lock = dir.join("lpbake.lock");
    std::fs::write(
        &lock,
        format!("version = 1\nepoch = 0\n[[file]]\nurl = \"{url}/tool\"\nsha256 = \"{}\"\n", sha.hex()),
    )
    .unwrap();
    (spec, lock)
}

#[test]
fn broken_download_resumes_with_a_range_request() {
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = Digest::of(&body);
    let (url, seen) = flaky_server(body, false);
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock) = spec_and_lock(tmp.path(), &url, sha);
    let cache = tmp.path().join("cache");
    ok(&build_spec(&cache, &spec, &lock, &tmp.path().join("out"), &["--locked".into()]));
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(heads[1].to_ascii_lowercase().contains("range: bytes=1500000-"), "second request must resume: {heads:?}");
    assert!(cache.join("blobs/sha256").join(sha.hex()).is_file());
}

#[test]
fn a_server_that_keeps_failing_is_one_error_and_caches_nothing() {
    let body = vec![7u8; 100_000];
    let sha = Digest::of(&body);
    let (url, _) = flaky_server(body, true);
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock) = spec_and_lock(tmp.path(), &url, sha);
    let cache = tmp.path().join("cache");
    let text = failed(&build_spec(&cache, &spec, &lock, &tmp.path().join("out"), &["--locked".into()]));
    assert!(text.contains("gave up after") && text.contains(&url), "{text}");
    assert!(!cache.join("blobs/sha256").join(sha.hex()).exists());
    assert_eq!(std::fs::read_dir(cache.join("tmp")).unwrap().count(), 0, "partial download left in the cache");
}
