//! Who a share is from, and the proof of it, one definition for the node that signs and the
//! collector that checks. lpwatch keeps a reporting key of its own; the orchestrator's account
//! delegates it once, by signing a delegation text through livepeer's `/signMessage` (the
//! account's key never leaves livepeer); each push is signed by the reporting key over its
//! timestamp and the Keccak-256 of its body. All signatures are EIP-191 text signatures.

use lpbake_keystore::{keccak256, recover_text, sign_text, Address, SecretKey};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// The headers of a signed push.
pub const DELEGATION: &str = "lpshare-delegation";
pub const DELEGATION_SIGNATURE: &str = "lpshare-delegation-signature";
pub const TIMESTAMP: &str = "lpshare-timestamp";
pub const SIGNATURE: &str = "lpshare-signature";

/// Largest reporting key file read: 64 hex digits and a newline.
const MAX_KEY_FILE_BYTES: u64 = 4 << 10;

/// The text an orchestrator's account signs to let `reporter` share for it on `chain_id`.
pub fn delegation_text(orchestrator: &Address, reporter: &Address, chain_id: u64) -> String {
    format!("lpshare delegation v1 orchestrator={orchestrator} reporter={reporter} chain={chain_id}")
}

/// The orchestrator, reporter and chain a delegation text names; `None` if it is not one.
fn parse_delegation(text: &str) -> Option<(Address, Address, u64)> {
    let rest = text.strip_prefix("lpshare delegation v1 orchestrator=")?;
    let (orchestrator, rest) = rest.split_once(" reporter=")?;
    let (reporter, chain) = rest.split_once(" chain=")?;
    Some((orchestrator.parse().ok()?, reporter.parse().ok()?, chain.parse().ok()?))
}

/// The orchestrator a delegation text names, unchecked: for a collector to refuse an account it
/// does not know before it recovers any signature.
pub fn claimed_orchestrator(text: &str) -> Option<Address> {
    parse_delegation(text).map(|(orchestrator, _, _)| orchestrator)
}

/// The text a reporting key signs for one push.
fn push_text(timestamp_ms: i64, body: &[u8]) -> String {
    format!("lpshare push v1 timestamp={timestamp_ms} body=0x{}", hex::encode(keccak256(body)))
}

/// A delegation as the orchestrator's account signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegation {
    pub text: String,
    pub signature: Vec<u8>,
}

/// lpwatch's reporting key.
pub struct Reporter {
    key: SecretKey,
    pub address: Address,
}

impl Reporter {
    /// The key in `path` (64 hex digits, read through the bounded reader), created there (0600,
    /// written whole) if missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Reporter> {
        let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let key = match lpbake_rules::read::text(path, MAX_KEY_FILE_BYTES) {
            Ok(text) => {
                hex::decode(text.trim()).ok().and_then(|b| SecretKey::from_slice(&b).ok()).ok_or_else(|| {
                    named(std::io::Error::other("not a reporting key (64 hex digits); delete it to make a new one"))
                })?
            }
            Err(e) if e.is_not_found() => {
                let key = lpbake_keystore::random_key();
                write_private(path, hex::encode(key.to_bytes()).as_bytes()).map_err(named)?;
                key
            }
            // Names the file and the fix; never the content.
            Err(e) => return Err(e.into_io()),
        };
        Ok(Reporter { address: Address(lpbake_keystore::address(&key)), key })
    }

    /// The headers that sign `body`, pushed at `timestamp_ms` under `delegation`.
    pub fn sign(&self, delegation: &Delegation, timestamp_ms: i64, body: &[u8]) -> [(&'static str, String); 4] {
        let signature = sign_text(&self.key, push_text(timestamp_ms, body).as_bytes());
        [
            (DELEGATION, delegation.text.clone()),
            (DELEGATION_SIGNATURE, format!("0x{}", hex::encode(&delegation.signature))),
            (TIMESTAMP, timestamp_ms.to_string()),
            (SIGNATURE, format!("0x{}", hex::encode(signature))),
        ]
    }
}

/// Writes `bytes` to `path` mode 0600, through a new temporary file renamed into place (whatever
/// sat at the temporary name, a FIFO or a link included, is removed first, never opened).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Why a push is refused before its orchestrator is looked up on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Unsigned,
    Stale,
    NotDelegated,
    BadSignature,
}

/// A push whose signatures hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub orchestrator: Address,
    pub timestamp_ms: i64,
    /// The push signature: what a replay repeats.
    pub signature: Vec<u8>,
}

/// The collector's check of pushes, for one chain and timestamp window. A delegation that held
/// is remembered (every push of a node carries the same one), so a push costs one signature
/// recovery, not two.
pub struct Verifier {
    chain_id: u64,
    window_ms: i64,
    delegations: Mutex<HashMap<(String, String), (Address, Address)>>,
}

/// The most delegations remembered; past it the memory starts again.
const KNOWN_DELEGATIONS: usize = 100_000;

impl Verifier {
    pub fn new(chain_id: u64, window: Duration) -> Verifier {
        Verifier { chain_id, window_ms: window.as_millis() as i64, delegations: Mutex::new(HashMap::new()) }
    }

    /// Checks a push at `now_ms`: `header` gives each header's value. The delegation must be for
    /// this chain and signed by the orchestrator it names, the push signed by the reporter it
    /// names, its timestamp within the window.
    pub fn verify<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now_ms: i64,
    ) -> Result<Signed, Refusal> {
        let (Some(text), Some(dsig), Some(ts), Some(sig)) =
            (header(DELEGATION), header(DELEGATION_SIGNATURE), header(TIMESTAMP), header(SIGNATURE))
        else {
            return Err(Refusal::Unsigned);
        };
        let timestamp_ms: i64 = ts.trim().parse().map_err(|_| Refusal::Stale)?;
        if now_ms.abs_diff(timestamp_ms) > self.window_ms.unsigned_abs() {
            return Err(Refusal::Stale);
        }
        let (orchestrator, reporter) = self.delegation(text, dsig)?;
        let signature = unhex(sig).ok_or(Refusal::BadSignature)?;
        let signed_by = recover_text(push_text(timestamp_ms, body).as_bytes(), &signature).ok();
        if signed_by != Some(reporter.0) {
            return Err(Refusal::BadSignature);
        }
        Ok(Signed { orchestrator, timestamp_ms, signature })
    }

    /// The orchestrator and reporter of a delegation that holds.
    fn delegation(&self, text: &str, signature: &str) -> Result<(Address, Address), Refusal> {
        let key = (text.to_string(), signature.to_string());
        if let Some(known) = self.delegations.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(*known);
        }
        let (orchestrator, reporter, chain) = parse_delegation(text).ok_or(Refusal::NotDelegated)?;
        let delegated_by = unhex(signature).and_then(|d| recover_text(text.as_bytes(), &d).ok());
        if chain != self.chain_id || delegated_by != Some(orchestrator.0) {
            return Err(Refusal::NotDelegated);
        }
        let mut known = self.delegations.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= KNOWN_DELEGATIONS {
            known.clear();
        }
        known.insert(key, (orchestrator, reporter));
        Ok((orchestrator, reporter))
    }
}

/// Bytes from hex, with or without `0x`.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.trim().trim_start_matches("0x")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delegated(orchestrator: &SecretKey, reporter: &Reporter, chain: u64) -> Delegation {
        let text = delegation_text(&Address(lpbake_keystore::address(orchestrator)), &reporter.address, chain);
        Delegation { signature: sign_text(orchestrator, text.as_bytes()).to_vec(), text }
    }

    #[test]
    fn the_claimed_account_is_read_from_the_delegation_text() {
        let a: Address = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23".parse().unwrap();
        let r: Address = "0x00000000000000000000000000000000000000aa".parse().unwrap();
        assert_eq!(claimed_orchestrator(&delegation_text(&a, &r, 42161)), Some(a));
        assert_eq!(claimed_orchestrator("lpshare delegation v1 orchestrator=0x12 reporter=0x"), None);
        assert_eq!(claimed_orchestrator("something else"), None);
    }

    #[test]
    fn a_signed_push_verifies_and_each_fault_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let reporter = Reporter::load_or_create(&dir.path().join("key")).unwrap();
        // The same key again from the file, which is private.
        assert_eq!(Reporter::load_or_create(&dir.path().join("key")).unwrap().address, reporter.address);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.path().join("key")).unwrap().permissions().mode() & 0o777, 0o600);

        let orch = lpbake_keystore::random_key();
        let d = delegated(&orch, &reporter, 42161);
        let body = b"remote write body";
        let verifier = Verifier::new(42161, Duration::from_secs(60));
        let check = |headers: &[(&'static str, String)], body: &[u8]| {
            verifier.verify(|n| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str()), body, 1_000_000)
        };
        let good = reporter.sign(&d, 1_000_000, body);
        let signed = check(&good, body).unwrap();
        assert_eq!(signed.orchestrator, Address(lpbake_keystore::address(&orch)));

        assert_eq!(check(&good[..3], body), Err(Refusal::Unsigned));
        assert_eq!(check(&good, b"another body"), Err(Refusal::BadSignature));
        assert_eq!(check(&reporter.sign(&d, 1_000_000 - 61_000, body), body), Err(Refusal::Stale));
        // A reporter that delegates itself for someone else's account.
        let mut forged = d.clone();
        forged.signature = sign_text(&lpbake_keystore::random_key(), d.text.as_bytes()).to_vec();
        assert_eq!(check(&reporter.sign(&forged, 1_000_000, body), body), Err(Refusal::NotDelegated));
        // A delegation for another chain.
        assert_eq!(
            check(&reporter.sign(&delegated(&orch, &reporter, 1), 1_000_000, body), body),
            Err(Refusal::NotDelegated)
        );
        // Another reporting key under this one's delegation.
        let other = Reporter::load_or_create(&dir.path().join("other")).unwrap();
        assert_eq!(check(&other.sign(&d, 1_000_000, body), body), Err(Refusal::BadSignature));
    }
}
