//! Acceptance of https-style fetching against a real HTTP server on loopback: a download that
//! breaks off mid-way is resumed with a Range request and verified; a server that keeps failing
//! ends in one clear error and nothing in the cache; plain http goes to loopback hosts only, judged
//! by the parsed host (look-alike hosts and redirects refused before any connection); a body
//! larger than its pin is refused; a killed download's temp file is removed by the next build.

mod common;
use common::*;
use lpbake::digest::Digest;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    spec_and_sized_lock(dir, url, sha, None)
}

fn spec_and_sized_lock(
    dir: &std::path::Path,
    url: &str,
    sha: Digest,
    size: Option<u64>,
) -> (std::path::PathBuf, std::path::PathBuf) {
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
        format!(
            "version = 1\nepoch = 0\n[[file]]\nurl = \"{url}/tool\"\nsha256 = \"{}\"\n{}",
            sha.hex(),
            size.map(|s| format!("size = {s}\n")).unwrap_or_default()
        ),
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

/// A loopback server answering every connection with `answer` (raw HTTP, after reading the
/// request head), then holding the connection open for `hold`. Returns its `127.0.0.1:port` and
/// the number of connections it accepted.
fn raw_server(answer: Vec<u8>, hold: std::time::Duration) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut conn = conn.unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let _ = conn.write_all(&answer);
            std::thread::sleep(hold);
        }
    });
    (addr, count)
}

fn ok_answer(body: &[u8]) -> Vec<u8> {
    let mut a = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    a.extend_from_slice(body);
    a
}

/// Builds the one-file spec fetching `base`/tool pinned to `sha`: the output text, and how long it took.
fn build_from(base: &str, sha: Digest, size: Option<u64>) -> (std::process::Output, std::time::Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock) = spec_and_sized_lock(tmp.path(), base, sha, size);
    let t = std::time::Instant::now();
    let o = build_spec(&tmp.path().join("cache"), &spec, &lock, &tmp.path().join("out"), &["--locked".into()]);
    (o, t.elapsed())
}

#[test]
fn plain_http_to_a_look_alike_host_is_refused_before_any_connection() {
    let body = b"#!/bin/sh\n".to_vec();
    let (addr, conns) = raw_server(ok_answer(&body), std::time::Duration::ZERO);
    let port = addr.rsplit(':').next().unwrap();
    let sha = Digest::of(&body);
    // Before: string prefixes let these through to plain http (and a retry loop of ~15 s).
    for (base, why) in [
        ("http://127.0.0.1.example".to_string(), "plain http to 127.0.0.1.example is refused"),
        ("http://localhost.example.invalid".to_string(), "plain http to localhost.example.invalid is refused"),
        ("http://127.0.0.1@example.invalid".to_string(), "credentials"),
        (format!("http://127.0.0.1@127.0.0.1:{port}"), "credentials"),
        (format!("http://[::1]@127.0.0.1:{port}"), "credentials"),
    ] {
        let (o, took) = build_from(&base, sha, None);
        let text = failed(&o);
        assert!(text.contains(why), "{base}: {text}");
        assert!(took < std::time::Duration::from_secs(3), "{base}: refused only after {took:?}: {text}");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 0, "a refused URL was connected to");

    // Loopback http by name still works.
    let (o, _) = build_from(&format!("http://localhost:{port}"), sha, None);
    ok(&o);
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[test]
fn a_redirect_from_loopback_to_remote_plain_http_is_refused() {
    let answer = b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1.example/tool\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let (addr, conns) = raw_server(answer.to_vec(), std::time::Duration::ZERO);
    let (o, took) = build_from(&format!("http://{addr}"), Digest::of(b"x"), None);
    let text = failed(&o);
    assert!(text.contains("refused a redirect to http://127.0.0.1.example"), "{text}");
    assert!(took < std::time::Duration::from_secs(3), "refused only after {took:?} of retries: {text}");
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[test]
fn a_body_larger_than_the_pinned_size_is_refused() {
    let body = vec![5u8; 100_000];
    let sha = Digest::of(&body);
    let big = vec![5u8; 3_000_000];
    // Announced by Content-Length: refused before the body is read.
    let (addr, _) = raw_server(ok_answer(&big), std::time::Duration::ZERO);
    let (o, _) = build_from(&format!("http://{addr}"), sha, Some(100_000));
    let text = failed(&o);
    assert!(text.contains("3000000 bytes where the pin says 100000 bytes"), "{text}");
    // Not announced (the body runs until the connection closes): refused by the running count.
    let mut answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    answer.extend_from_slice(&big);
    let (addr, _) = raw_server(answer, std::time::Duration::ZERO);
    let (o, _) = build_from(&format!("http://{addr}"), sha, Some(100_000));
    let text = failed(&o);
    assert!(text.contains("where the pin says 100000 bytes"), "{text}");
}

#[test]
fn a_killed_builds_download_temp_is_removed_by_the_next_build_but_a_live_one_is_kept() {
    // Announces 4 MB, sends 1 MB, then stalls: the build hangs mid-download.
    let mut answer = b"HTTP/1.1 200 OK\r\nContent-Length: 4000000\r\nConnection: close\r\n\r\n".to_vec();
    answer.extend_from_slice(&vec![1u8; 1_000_000]);
    let (addr, _) = raw_server(answer, std::time::Duration::from_secs(120));
    let tmp = tempfile::tempdir().unwrap();
    let (spec, lock) = spec_and_lock(tmp.path(), &format!("http://{addr}"), Digest::of(b"x"));
    let cache = tmp.path().join("cache");
    let temps = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(cache.join("tmp")).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default()
    };
    let mut child = lpbake(&cache)
        .args(["build", "--locked", "--spec"])
        .arg(&spec)
        .arg("--lock")
        .arg(&lock)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !temps().iter().any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() >= 1_000_000)) {
        assert!(t.elapsed() < std::time::Duration::from_secs(60), "the download never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Another build opening the cache now leaves the live download alone.
    let other = |out: &str| {
        let o = lpbake(&cache)
            .args(["build", "--spec"])
            .arg(tmp.path().join("no-such-spec"))
            .arg("--out")
            .arg(tmp.path().join(out))
            .output()
            .unwrap();
        failed(&o);
    };
    other("o1");
    assert_eq!(temps().len(), 1, "a live writer's temp file was removed");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(temps().len(), 1, "the killed build's temp file");
    // The next build removes what the dead one left.
    other("o2");
    assert_eq!(temps(), Vec::<std::path::PathBuf>::new(), "a dead writer's temp file is left in the cache");
}
