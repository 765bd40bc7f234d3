//! Who is signed in: a person signs in as a directory user of a tenant, checked against
//! the switch's own directory (`user_data`), never a second user database. A sign-in is
//! a random token with an end; whether the user is an operator is asked of the directory
//! again at every action, so that taking the variable away takes effect at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::{is_domain, is_user};
use crate::esl::Esl;

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub domain: String,
    pub operator: bool,
    pub ends: Instant,
}

impl Session {
    pub fn who(&self) -> String {
        format!("{}@{}", self.user, self.domain)
    }
}

pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    ttl: Duration,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions { map: Mutex::new(HashMap::new()), ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn open(&self, user: &str, domain: &str, operator: bool) -> (String, Session) {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).expect("the system's random source");
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let s = Session { user: user.into(), domain: domain.into(), operator, ends: Instant::now() + self.ttl };
        let mut map = self.map.lock().unwrap();
        let now = Instant::now();
        map.retain(|_, s| s.ends > now);
        map.insert(token.clone(), s.clone());
        (token, s)
    }

    /// The session of `token`, if it has not ended.
    pub fn get(&self, token: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap();
        match map.get(token) {
            Some(s) if s.ends > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(token);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, token: &str) {
        self.map.lock().unwrap().remove(token);
    }
}

/// Wrong guesses per user: after FAILURES within WINDOW, that user's sign-ins are refused
/// (429) until the window has passed, without asking the switch; and at most
/// CONCURRENT sign-ins are checked at once, so that a flood of them cannot crowd the
/// event socket out.
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    pub concurrent: tokio::sync::Semaphore,
}

pub const FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(300);
const CONCURRENT: usize = 4;

impl Default for Throttle {
    fn default() -> Self {
        Throttle { failures: Mutex::new(HashMap::new()), concurrent: tokio::sync::Semaphore::new(CONCURRENT) }
    }
}

impl Throttle {
    /// Whether `who` may try now.
    pub fn allows(&self, who: &str) -> bool {
        let mut f = self.failures.lock().unwrap();
        f.retain(|_, (_, since)| since.elapsed() < WINDOW);
        f.get(who).is_none_or(|(n, _)| *n < FAILURES)
    }

    pub fn failed(&self, who: &str) {
        let mut f = self.failures.lock().unwrap();
        let e = f.entry(who.to_string()).or_insert((0, Instant::now()));
        e.0 += 1;
    }

    pub fn succeeded(&self, who: &str) {
        self.failures.lock().unwrap().remove(who);
    }
}

/// Splits `103@acme.example` (or takes `domain` when the user has no `@`).
pub fn split_login(login: &str, domain: &str) -> Result<(String, String), String> {
    let (u, d) = match login.trim().split_once('@') {
        Some((u, d)) => (u.to_string(), d.to_ascii_lowercase()),
        None => (login.trim().to_string(), domain.trim().to_ascii_lowercase()),
    };
    if !is_user(&u) {
        return Err("the user is letters, digits, '.', '-', '_' or '+'".into());
    }
    if !is_domain(&d) {
        return Err("the domain is missing or not a domain".into());
    }
    Ok((u, d))
}

/// What the directory says of `user@domain`'s password: `Ok(true)` when it matches the
/// user's `password` parameter (or its `a1-hash`, md5 of `user:domain:password`).
pub async fn password_matches(esl: &Esl, user: &str, domain: &str, password: &str) -> Result<bool, String> {
    let exists = esl.api(&format!("user_exists id {user} {domain}")).await?;
    if exists.trim() != "true" {
        return Ok(false);
    }
    let stored = esl.api(&format!("user_data {user}@{domain} param password")).await?;
    let stored = stored.trim_end_matches(['\r', '\n']);
    if !stored.is_empty() && !stored.starts_with("-ERR") {
        // Digests of equal length, compared in constant time: neither the password nor
        // its length shows in the time taken.
        return Ok(Sha256::digest(stored.as_bytes()).ct_eq(&Sha256::digest(password.as_bytes())).into());
    }
    let a1 = esl.api(&format!("user_data {user}@{domain} param a1-hash")).await?;
    let a1 = a1.trim().to_ascii_lowercase();
    if a1.len() == 32 {
        let mine: String =
            Md5::digest(format!("{user}:{domain}:{password}")).iter().map(|b| format!("{b:02x}")).collect();
        return Ok(mine.as_bytes().ct_eq(a1.as_bytes()).into());
    }
    // A user without a password cannot sign in.
    Ok(false)
}

/// Whether the directory marks `user@domain` an operator (`<variable name="callpark_operator"
/// value="true"/>`, the variable's name configurable).
pub async fn is_operator(esl: &Esl, variable: &str, user: &str, domain: &str) -> Result<bool, String> {
    let v = esl.api(&format!("user_data {user}@{domain} var {variable}")).await?;
    Ok(v.trim().eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_split_and_checked() {
        assert_eq!(split_login("103@ACME.example", "").unwrap(), ("103".into(), "acme.example".into()));
        assert_eq!(split_login("alice", "acme.example").unwrap(), ("alice".into(), "acme.example".into()));
        assert!(split_login("103", "").is_err());
        assert!(split_login("10 3@acme.example", "").is_err());
        assert!(split_login("103@acme.example param password", "").is_err());
    }

    #[test]
    fn five_wrong_guesses_lock_a_user_out() {
        let t = Throttle::default();
        for _ in 0..FAILURES {
            assert!(t.allows("103@acme.example"));
            t.failed("103@acme.example");
        }
        assert!(!t.allows("103@acme.example"));
        assert!(t.allows("104@acme.example"), "only that user");
        t.succeeded("103@acme.example");
        assert!(t.allows("103@acme.example"));
    }

    #[test]
    fn sessions_end() {
        let s = Sessions::new(Duration::from_millis(50));
        let (t, _) = s.open("103", "acme.example", true);
        assert_eq!(s.get(&t).unwrap().who(), "103@acme.example");
        assert!(s.get("nope").is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.get(&t).is_none());
        let (t2, _) = s.open("103", "acme.example", true);
        assert_eq!(t2.len(), 64);
        s.close(&t2);
        assert!(s.get(&t2).is_none());
    }
}
