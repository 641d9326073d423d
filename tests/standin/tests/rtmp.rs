//! A real ffmpeg publishes to the stand-in gateway over RTMP and finishes with exit 0; the gateway counts the
//! stream and its bytes in `/status` and `/metrics`. ffmpeg comes from `LPBAKE_TEST_FFMPEG` (set up by `make deps`).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{free_port, get, status, wait_until, Node};

/// The ffmpeg binary the tests use; a missing one fails the test, it never skips it.
fn ffmpeg() -> String {
    let path = std::env::var("LPBAKE_TEST_FFMPEG").unwrap_or_default();
    assert!(
        !path.is_empty() && std::path::Path::new(&path).is_file(),
        "LPBAKE_TEST_FFMPEG must name an ffmpeg binary (got {path:?}); run `make deps` to install it"
    );
    path
}

/// The value of the first sample of `metric` in a Prometheus text exposition.
fn sample(exposition: &str, metric: &str) -> Option<u64> {
    exposition.lines().find(|l| l.starts_with(&format!("{metric}{{")))?.rsplit(' ').next()?.parse().ok()
}

#[test]
fn ffmpeg_publishes_and_the_gateway_counts_it() {
    let ffmpeg = ffmpeg();
    let [cli, http, rtmp] = [0; 3].map(|_| format!("127.0.0.1:{}", free_port()));
    let mut gateway =
        Node::start(&["-gateway", "-monitor", "-cliAddr", &cli, "-httpAddr", &http, "-rtmpAddr", &rtmp], &[]);
    gateway.wait_ready(&cli);

    let publish_url = format!("rtmp://{rtmp}/stream/test");
    let mut publisher = Command::new(&ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15"])
        .args(["-t", "3", "-c:v", "libx264", "-f", "flv", &publish_url])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start ffmpeg");

    let live = wait_until(Duration::from_secs(10), || {
        status(&cli)["StreamInfo"]["test"]["SourceBytes"].as_u64().is_some_and(|b| b > 0)
    });
    let mut exit = None;
    wait_until(Duration::from_secs(30), || {
        exit = publisher.try_wait().unwrap();
        exit.is_some()
    });
    let Some(exit) = exit else {
        let _ = publisher.kill();
        panic!("ffmpeg did not finish within 30 s; gateway log:\n{}", gateway.log());
    };
    assert!(live, "the stream never showed in /status; log:\n{}", gateway.log());
    assert!(exit.success(), "ffmpeg failed ({exit}); gateway log:\n{}", gateway.log());

    assert!(wait_until(Duration::from_secs(5), || status(&cli)["StreamInfo"] == serde_json::json!({})));
    let metrics = get(&cli, "/metrics").unwrap().body;
    assert_eq!(sample(&metrics, "livepeer_stream_created_total"), Some(1), "{metrics}");
    assert_eq!(sample(&metrics, "livepeer_stream_ended_total"), Some(1));
    assert_eq!(sample(&metrics, "livepeer_current_sessions_total"), Some(0));
    let bytes = sample(&metrics, "livepeer_standin_rtmp_bytes_received_total").unwrap();
    assert!(bytes > 10_000, "3 s of 320x240 H.264 is more than {bytes} bytes");
    assert!(gateway.log().contains("RTMP stream started manifestID=test"));
}
