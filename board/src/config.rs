//! The board's configuration: a short file of `key = value` lines (`#` starts a comment),
//! every key optional but `esl`. A wrong line is an error naming its line; nothing starts
//! half-configured.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    /// Only this tenant's events; every tenant's when `None`.
    pub tenant: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the board listens (`listen`, default 127.0.0.1:8089).
    pub listen: SocketAddr,
    /// The event sockets of the switch, or of every node of a cluster (`esl`, repeated
    /// or comma-separated): events are taken from all, commands go to the first one up.
    pub esl: Vec<String>,
    /// mod_event_socket's password (`esl-password`, or `esl-password-file`).
    pub esl_password: String,
    /// How long a sign-in lasts (`session-minutes`, default 480).
    pub session: Duration,
    /// The cookie only over HTTPS (`secure-cookie`, default false: set it behind an
    /// HTTPS proxy).
    pub secure_cookie: bool,
    /// The directory variable that makes a user an operator (`operator-variable`,
    /// default `callpark_operator`; its value must be `true`).
    pub operator_variable: String,
    pub webhooks: Vec<Webhook>,
    /// The key webhooks are signed with (`webhook-secret` or `webhook-secret-file`).
    pub webhook_secret: String,
    /// Attempts per webhook delivery before it is given up (`webhook-attempts`, default 6:
    /// after 1, 2, 4, 8, 16 s).
    pub webhook_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8089".parse().unwrap(),
            esl: Vec::new(),
            esl_password: "ClueCon".into(),
            session: Duration::from_secs(480 * 60),
            secure_cookie: false,
            operator_variable: "callpark_operator".into(),
            webhooks: Vec::new(),
            webhook_secret: String::new(),
            webhook_attempts: 6,
        }
    }
}

fn read_secret(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|e| format!("cannot read {path}: {e}"))
}

/// A value that goes into an ESL command line or a directory look-up: no whitespace, no
/// control characters.
pub fn is_word(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

/// A tenant's domain, by the rule of callpark's `domain=`: letters, digits, `.`, `-`, `_`.
pub fn is_domain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A directory user's id as the board accepts it: letters, digits, `.`, `-`, `_`, `+`.
pub fn is_user(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut c = Config::default();
        let mut errors = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                errors.push(format!("line {}: \"{line}\" is not key = value", n + 1));
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            if let Err(e) = c.set(key, value) {
                errors.push(format!("line {}: {e}", n + 1));
            }
        }
        if c.esl.is_empty() {
            errors.push("no event socket: esl = 127.0.0.1:8021".into());
        }
        if !c.webhooks.is_empty() && c.webhook_secret.is_empty() {
            errors.push("webhooks need a webhook-secret (or webhook-secret-file) to sign with".into());
        }
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors.join("\n"))
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "listen" => {
                self.listen = value.parse().map_err(|_| format!("listen: \"{value}\" is not an address:port"))?
            }
            "esl" => {
                for a in value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                    let ok = a.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                    if !ok {
                        return Err(format!("esl: \"{a}\" is not host:port"));
                    }
                    self.esl.push(a.to_string());
                }
            }
            "esl-password" => self.esl_password = value.to_string(),
            "esl-password-file" => self.esl_password = read_secret(value)?,
            "session-minutes" => {
                let m: u64 = value.parse().ok().filter(|m| (1..=7 * 24 * 60).contains(m)).ok_or_else(|| {
                    format!("session-minutes: \"{value}\" is not a number of minutes from 1 to 10080")
                })?;
                self.session = Duration::from_secs(m * 60);
            }
            "secure-cookie" => {
                self.secure_cookie = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("secure-cookie: \"{value}\" is not true or false")),
                }
            }
            "operator-variable" => {
                if !is_word(value) {
                    return Err(format!("operator-variable: \"{value}\" is not a variable name"));
                }
                self.operator_variable = value.to_string();
            }
            "webhook" => {
                let mut words = value.split_whitespace();
                let url = words.next().unwrap_or("");
                if !(url.starts_with("http://") || url.starts_with("https://")) || reqwest::Url::parse(url).is_err() {
                    return Err(format!("webhook: \"{url}\" is not an http:// or https:// URL"));
                }
                let tenant = words.next().map(str::to_string);
                if let Some(t) = &tenant {
                    if !is_domain(t) {
                        return Err(format!("webhook: \"{t}\" is not a domain"));
                    }
                }
                if let Some(extra) = words.next() {
                    return Err(format!("webhook: \"{extra}\" after the tenant"));
                }
                self.webhooks.push(Webhook { url: url.to_string(), tenant });
            }
            "webhook-secret" => self.webhook_secret = value.to_string(),
            "webhook-secret-file" => self.webhook_secret = read_secret(value)?,
            "webhook-attempts" => {
                self.webhook_attempts = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=20).contains(n))
                    .ok_or_else(|| format!("webhook-attempts: \"{value}\" is not a number from 1 to 20"))?
            }
            _ => return Err(format!("unknown key \"{key}\"")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let c = Config::parse(
            "# the board\nlisten = 127.0.0.1:9000\nesl = 10.0.0.1:8021, 10.0.0.2:8021\nesl-password = s3cret\n\
             session-minutes = 60\nwebhook = https://crm.example/hook acme.example\nwebhook-secret = k\n",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.esl, ["10.0.0.1:8021", "10.0.0.2:8021"]);
        assert_eq!(c.esl_password, "s3cret");
        assert_eq!(c.session, Duration::from_secs(3600));
        assert_eq!(c.webhooks[0].tenant.as_deref(), Some("acme.example"));
    }

    #[test]
    fn every_wrong_line_is_named() {
        let e = Config::parse("esl = nowhere\nsession-minutes = 0\nfoo = 1\nwebhook = ftp://x\njunk\n").unwrap_err();
        for want in
            ["line 1: esl", "line 2: session-minutes", "line 3: unknown key \"foo\"", "line 4: webhook", "line 5"]
        {
            assert!(e.contains(want), "{want} in {e}");
        }
        assert!(e.contains("no event socket"), "{e}");
    }

    #[test]
    fn webhooks_need_a_secret() {
        let e = Config::parse("esl = 127.0.0.1:8021\nwebhook = http://127.0.0.1:1/h\n").unwrap_err();
        assert!(e.contains("webhook-secret"), "{e}");
    }

    #[test]
    fn words_users_and_domains() {
        assert!(is_user("alice") && is_user("103") && !is_user("1 03") && !is_user("x\ny") && !is_user(""));
        assert!(is_domain("acme.example") && !is_domain("acme.example;x"));
        assert!(!is_word("a b") && is_word("callpark_operator"));
    }
}
