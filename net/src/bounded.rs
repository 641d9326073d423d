//! Reading a peer's response body with a size cap, so a huge or endless answer costs at most
//! `max` bytes of memory (the time bound is the request's own timeout).

use bytes::{Bytes, BytesMut};

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("response larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("timed out reading the response")]
    Timeout,
    #[error("reading the response failed: {0}")]
    Io(String),
}

/// Reads the whole body of `resp`, failing as soon as it exceeds `max` bytes.
pub async fn read_body(mut resp: reqwest::Response, max: usize) -> Result<Bytes, BodyError> {
    if let Some(len) = resp.content_length() {
        if len > max as u64 {
            return Err(BodyError::TooLarge { max });
        }
    }
    let mut buf = BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > max {
                    return Err(BodyError::TooLarge { max });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) if e.is_timeout() => return Err(BodyError::Timeout),
            Err(e) => return Err(BodyError::Io(crate::jsonrpc::transport_error(e))),
        }
    }
}
