//! External tools the tests and benches need: found on PATH, or a panic naming `make deps`
//! (never a skip).

use std::path::PathBuf;

/// An external tool, or a panic naming `make deps`.
pub fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()));
    found.unwrap_or_else(|| panic!("`{name}` is not installed: run `make deps`"))
}
