//! HTTP basic auth against bcrypt hashes, as exporter-toolkit does it: the
//! password is checked by bcrypt (a constant-time compare of the derived
//! hash, never of the text), an unknown user costs the same bcrypt as a
//! known one, and a successful check is remembered by a SHA-256 of what was
//! checked so a scrape every 15 s does not pay bcrypt's cost every time.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Mutex,
};

use base64::Engine as _;

/// Remembered successful checks; the set is emptied when full.
const CACHE_LIMIT: usize = 256;

/// A valid bcrypt hash of a password nobody knows, checked for unknown user
/// names so their answer takes as long as a known user's.
const DUMMY_HASH: &str = "$2y$10$W3XbBJwNGLldgfAvl4BbNegA.4N/sksp5oMacnvOMrJs9TT4bMYbq";

pub struct Users {
    hashes: BTreeMap<String, String>,
    passed: Mutex<HashSet<[u8; 32]>>,
}

impl Users {
    pub fn new(hashes: BTreeMap<String, String>) -> Self {
        Self {
            hashes,
            passed: Mutex::new(HashSet::new()),
        }
    }

    /// Whether the header's credentials passed a check before: cheap (a
    /// SHA-256 and a lookup), so a known client never queues behind the
    /// bcrypt checks of a flood of wrong passwords.
    pub fn passed_before(&self, authorization: Option<&[u8]>) -> bool {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        self.hashes
            .get(&user)
            .is_some_and(|hash| self.remembered(&cache_key(&user, &password, hash)))
    }

    /// Whether an `Authorization` header value names a user whose password
    /// matches. Blocking (bcrypt takes tens of milliseconds): call it off
    /// the runtime's threads.
    pub fn check(&self, authorization: Option<&[u8]>) -> bool {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let (hash, known) = match self.hashes.get(&user) {
            Some(hash) => (hash.as_str(), true),
            None => (DUMMY_HASH, false),
        };
        let key = cache_key(&user, &password, hash);
        if known && self.remembered(&key) {
            return true;
        }
        let matches = bcrypt::verify(&password, hash).unwrap_or(false);
        if matches && known {
            self.remember(key);
        }
        matches && known
    }

    fn remembered(&self, key: &[u8; 32]) -> bool {
        self.passed
            .lock()
            .map(|set| set.contains(key))
            .unwrap_or(false)
    }

    fn remember(&self, key: [u8; 32]) {
        if let Ok(mut set) = self.passed.lock() {
            if set.len() >= CACHE_LIMIT {
                set.clear();
            }
            set.insert(key);
        }
    }
}

/// User and password of a `Basic` authorization header.
fn basic_credentials(header: &[u8]) -> Option<(String, Vec<u8>)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

fn cache_key(user: &str, password: &[u8], hash: &str) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user.as_bytes(), password, hash.as_bytes()] {
        context.update(&(part.len() as u64).to_le_bytes());
        context.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    // `htpasswd -nbBC 4 prom secret`
    const HASH: &str = "$2y$04$fTLqXt7z972hXdCtD8n1rebPXq5Jys/YIKMBnmn/pRPPNWUVT4cPC";

    fn header(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    fn users() -> Users {
        Users::new(BTreeMap::from([("prom".to_string(), HASH.to_string())]))
    }

    #[test]
    fn the_right_password_passes_and_is_remembered() {
        let users = users();
        assert!(users.check(Some(&header("prom", "secret"))));
        assert_eq!(users.passed.lock().unwrap().len(), 1);
        assert!(users.check(Some(&header("prom", "secret"))));
        assert!(users.passed_before(Some(&header("prom", "secret"))));
        assert!(!users.passed_before(Some(&header("prom", "Secret"))));
    }

    #[test]
    fn wrong_passwords_users_and_headers_fail_and_are_not_remembered() {
        let users = users();
        assert!(!users.passed_before(Some(&header("prom", "secret"))));
        for bad in [
            header("prom", "Secret"),
            header("prom", "secret "),
            header("prom", ""),
            header("other", "secret"),
            // The hash itself is not the password: no plain compare.
            header("prom", HASH),
            b"Basic !!!".to_vec(),
            b"Bearer abc".to_vec(),
            b"Basic cHJvbQ==".to_vec(),
        ] {
            assert!(
                !users.check(Some(&bad)),
                "{}",
                String::from_utf8_lossy(&bad)
            );
        }
        assert!(!users.check(None));
        assert!(users.passed.lock().unwrap().is_empty());
    }

    #[test]
    fn the_dummy_hash_is_a_real_bcrypt_hash() {
        assert!(DUMMY_HASH.parse::<bcrypt::HashParts>().is_ok());
        assert!(!bcrypt::verify("", DUMMY_HASH).unwrap());
    }
}
