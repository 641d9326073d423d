//! The one async runtime of the library. Fetches, registry pulls, pushes and engine loads are
//! async (reqwest, oci-client, bollard) while the build is threads; each blocking call goes
//! through [`block_on`], which drives it on a runtime made once per process.

use crate::error::{Error, Result};
use std::future::Future;
use std::path::Path;
use std::sync::OnceLock;
use tokio::runtime::{Builder, Runtime};

/// Runs `future` to completion on the process's runtime (made on first use). Callable from
/// any number of threads at once, as the build's component threads do.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    static RUNTIME: OnceLock<std::result::Result<Runtime, std::io::ErrorKind>> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lpbake-io")
            .enable_all()
            .build()
            .map_err(|e| e.kind())
    });
    match runtime {
        Ok(rt) => Ok(rt.block_on(future)),
        Err(kind) => Err(Error::io(Path::new("tokio runtime"), std::io::Error::from(*kind))),
    }
}
