//! Sign-in for the raw series: an orchestrator proves its account by signing a one-time
//! challenge (EIP-191 text, e.g. through livepeer's `/signMessage`), and gets a bearer token
//! for an hour. Challenges are single use and expire; both maps are bounded.

use lpbake_keystore::recover_text;
use lpbake_keystore::Address;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a challenge may be answered, and how long a token opens the raw series.
const CHALLENGE_FOR: Duration = Duration::from_secs(120);
const TOKEN_FOR: Duration = Duration::from_secs(3600);
/// The most challenges and tokens held; past it the oldest are dropped.
const HELD: usize = 10_000;

/// Why a sign-in failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("unknown, used or expired challenge: GET /api/challenge for a new one")]
    Challenge,
    #[error("the signature does not recover to an account")]
    Signature,
}

#[derive(Default)]
pub struct Sessions {
    challenges: Mutex<HashMap<String, Instant>>,
    tokens: Mutex<HashMap<String, (Address, Instant)>>,
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source");
    hex::encode(b)
}

/// Drops what expired and, past [`HELD`], the oldest half.
fn prune<V>(map: &mut HashMap<String, V>, until: impl Fn(&V) -> Instant) {
    let now = Instant::now();
    map.retain(|_, v| until(v) > now);
    if map.len() >= HELD {
        let mut ends: Vec<Instant> = map.values().map(&until).collect();
        ends.sort();
        let cut = ends[ends.len() / 2];
        map.retain(|_, v| until(v) > cut);
    }
}

impl Sessions {
    /// A new challenge text.
    pub fn challenge(&self) -> String {
        let text = format!("lpshare sign-in v1 nonce={}", random_hex());
        let mut challenges = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut challenges, |t| *t);
        challenges.insert(text.clone(), Instant::now() + CHALLENGE_FOR);
        text
    }

    /// The account that signed `challenge` (which is used up).
    pub fn answer(&self, challenge: &str, signature: &str) -> Result<Address, SignInError> {
        let live = self.challenges.lock().unwrap_or_else(|p| p.into_inner()).remove(challenge);
        if live.is_none_or(|until| until <= Instant::now()) {
            return Err(SignInError::Challenge);
        }
        let sig = lpshare::proof::unhex(signature).ok_or(SignInError::Signature)?;
        recover_text(challenge.as_bytes(), &sig).map(Address).map_err(|_| SignInError::Signature)
    }

    /// A token for `who`.
    pub fn open(&self, who: Address) -> String {
        let token = random_hex();
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut tokens, |(_, t)| *t);
        tokens.insert(token.clone(), (who, Instant::now() + TOKEN_FOR));
        token
    }

    /// Whose `token` is, while it lasts.
    pub fn holder(&self, token: &str) -> Option<Address> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.get(token).filter(|(_, until)| *until > Instant::now()).map(|(who, _)| *who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_challenge_opens_a_token_once() {
        let s = Sessions::default();
        let key = lpbake_keystore::random_key();
        let c = s.challenge();
        let sig = format!("0x{}", hex::encode(lpbake_keystore::sign_text(&key, c.as_bytes())));
        let who = s.answer(&c, &sig).unwrap();
        assert_eq!(who, Address(lpbake_keystore::address(&key)));
        assert_eq!(s.answer(&c, &sig), Err(SignInError::Challenge), "a challenge is single use");
        assert_eq!(s.answer("lpshare sign-in v1 nonce=made-up", &sig), Err(SignInError::Challenge));
        let token = s.open(who);
        assert_eq!(s.holder(&token), Some(who));
        assert_eq!(s.holder("nope"), None);
        let c2 = s.challenge();
        assert_eq!(s.answer(&c2, "0x1234"), Err(SignInError::Signature));
    }
}
