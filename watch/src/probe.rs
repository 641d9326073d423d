//! `lpwatch probe URL`: one GET of a local endpoint, for container health checks (the images
//! have no curl). Prints the body (Docker keeps a health check's output: `docker inspect` then
//! shows why /healthz failed) and exits 0 only on a 2xx answer. Only loopback hosts, judged by
//! the parsed URL, and plain http: a probe never leaves the machine.

use std::time::Duration;

/// The largest body printed; more is cut (a health check's output is kept to 4 KiB anyway).
const MAX_BODY: usize = 64 * 1024;

/// Why a probe failed (the message says what was asked and what came back).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}: only http:// URLs on a loopback host (127.0.0.1, [::1], localhost) can be probed")]
    NotLocal(String),
    #[error("GET {0}: {1}")]
    Transport(String, String),
    #[error("GET {0}: HTTP {1}")]
    Status(String, u16, String),
}

impl ProbeError {
    /// What the endpoint answered, when it answered.
    pub fn body(&self) -> Option<&str> {
        match self {
            ProbeError::Status(_, _, body) => Some(body),
            _ => None,
        }
    }
}

/// The URL, if it is plain http on a loopback host.
pub fn local_url(s: &str) -> Result<reqwest::Url, ProbeError> {
    let url = reqwest::Url::parse(s).map_err(|_| ProbeError::NotLocal(s.to_string()))?;
    if url.scheme() != "http"
        || !lpbake_rules::host::is_loopback(&url)
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(ProbeError::NotLocal(s.to_string()));
    }
    Ok(url)
}

/// GET `url` within `timeout`: the body of a 2xx answer, else the error.
pub fn run(url: &str, timeout: Duration) -> Result<String, ProbeError> {
    let url = local_url(url)?;
    let shown = url.to_string();
    let transport = |e: reqwest::Error| ProbeError::Transport(shown.clone(), crate::jsonrpc::transport_error(e));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ProbeError::Transport(shown.clone(), e.to_string()))?;
    runtime.block_on(async {
        let client = crate::client::builder(crate::USER_AGENT, [&url]).timeout(timeout).build().map_err(transport)?;
        let resp = client.get(url.clone()).send().await.map_err(transport)?;
        let status = resp.status();
        let mut body = resp.text().await.map_err(transport)?;
        if body.len() > MAX_BODY {
            let cut = (0..=MAX_BODY).rev().find(|&i| body.is_char_boundary(i)).unwrap_or(0);
            body.truncate(cut);
        }
        if status.is_success() {
            Ok(body)
        } else {
            Err(ProbeError::Status(shown.clone(), status.as_u16(), body))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http() {
        for ok in
            ["http://127.0.0.1:7936/healthz", "http://[::1]:7935/status", "http://localhost:1/", "http://127.9.9.9/"]
        {
            assert!(local_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1/",
            "http://10.0.0.1:7936/healthz",
            "http://127.0.0.1.example.org/",
            "http://localhost.example.org/",
            "http://user:pw@127.0.0.1/",
            "file:///etc/passwd",
            "127.0.0.1:7936",
        ] {
            assert!(matches!(local_url(bad), Err(ProbeError::NotLocal(_))), "{bad}");
        }
    }

    #[test]
    fn nothing_listening_is_a_transport_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = run(&format!("http://127.0.0.1:{port}/healthz"), Duration::from_secs(2)).unwrap_err();
        assert!(matches!(e, ProbeError::Transport(..)), "{e}");
    }
}
