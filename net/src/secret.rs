//! URLs that may hold an API key (hosted RPC providers put it in the path, the query or the user
//! info): kept whole only for the HTTP client, shown redacted everywhere else, and read from a
//! file of their own (a systemd credential) without ever being quoted back.

use lpbake_rules::read::ReadError;
use std::fmt;
use std::path::Path;

/// Largest file read that holds one URL (`url_file`, the collector's `rpc_url_file`): a URL with
/// its API key is a few hundred bytes.
pub const MAX_URL_FILE_BYTES: u64 = 64 << 10;

/// The URL in the file `path`, trimmed. The file holds a secret: no error quotes its content.
pub fn url_file(path: &Path) -> Result<String, ReadError> {
    Ok(lpbake_rules::read::text(path, MAX_URL_FILE_BYTES)?.trim().to_string())
}

/// An upstream URL. Hosted RPC providers put the API key in the path, the query or the user
/// info, so this has no `Display`, its `Debug` shows only [`SecretUrl::redacted`], and only the
/// HTTP client ever sees it whole ([`SecretUrl::expose`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(reqwest::Url);

impl SecretUrl {
    /// Wraps `url`, from here on shown only redacted.
    pub fn new(url: reqwest::Url) -> SecretUrl {
        SecretUrl(url)
    }

    /// The whole URL, API key included: for the HTTP client only.
    pub fn expose(&self) -> &reqwest::Url {
        &self.0
    }

    /// The part that is safe to print: scheme, host and port, never user info, path or query.
    pub fn redacted(&self) -> String {
        let host = self.0.host_str().unwrap_or("?");
        match self.0.port() {
            Some(p) => format!("{}://{host}:{p}", self.0.scheme()),
            None => format!("{}://{host}", self.0.scheme()),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/... (redacted)", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_file_is_read_trimmed_and_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpc-primary");
        std::fs::write(&path, "https://rpc.example/v2/s3cr3t\n").unwrap();
        assert_eq!(url_file(&path).unwrap(), "https://rpc.example/v2/s3cr3t");
        let secret = "https://rpc.example/v2/s3cr3t".repeat(4096);
        std::fs::write(&path, &secret).unwrap();
        let msg = url_file(&path).unwrap_err().to_string();
        assert!(msg.contains("rpc-primary") && msg.contains("larger than") && msg.contains("fix:"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
    }
}
