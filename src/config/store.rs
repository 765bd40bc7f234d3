//! Where the park is kept: `store`, `node` and `node-address` in `<settings>`.
//!
//! `memory` (the default) is one switch's park. `redis://host[:port][/db]` shares one
//! park among several switches (nodes); each names itself (`node`) and gives the SIP
//! address the other nodes reach it at (`node-address`), where a retriever on another
//! node is sent for a call this node holds.

use super::{At, ConfigError};

/// How long a node may go without renewing its heartbeat before the others take it for
/// dead and remove its calls (`node-grace`), unless configured.
pub const DEFAULT_GRACE_MS: u64 = 10_000;

/// How a retriever here reaches a call another node holds (`cross-node-pickup`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrossNodePickup {
    /// This node calls the holding node and bridges the retriever to that call: the
    /// conversation's media passes through both switches (phones need reach only their
    /// own node).
    #[default]
    Bridge,
    /// The retriever's INVITE is answered with a 302 to the holding node's hand-over
    /// URI: the phone calls that node itself and the media passes through one switch
    /// (phones must reach every node's `node-address`).
    Redirect,
}

/// A park shared on Redis, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTarget {
    /// `redis[s]://[user[:password]@]host[:port][/db]`, or through Sentinel
    /// `redis[s]+sentinel://[user[:password]@]host[:port][,host[:port]...]/master[/db]`.
    pub url: String,
    /// This node's name, unique among the nodes.
    pub node: String,
    /// This node's SIP address as the others reach it: `host:port`.
    pub address: String,
    /// The prefix of every key (`callpark:` when empty): several parks in one Redis.
    pub prefix: String,
    /// How long this node's heartbeat lasts without renewal (`node-grace`): past it, the
    /// others take the node for dead and remove its calls.
    pub grace_ms: u64,
    /// A file holding the password (`store-password-file`), read when the store is made:
    /// instead of one in the URL. Empty: none.
    pub password_file: String,
    /// A file holding the Sentinels' own password (`store-sentinel-password-file`), for
    /// Sentinels run with `requirepass`. Empty: the Sentinels ask none.
    pub sentinel_password_file: String,
    /// PEM files of TLS (`rediss://`): the CA that signed Redis's certificate
    /// (`store-tls-ca`; empty: the system's), and this node's certificate and key when
    /// Redis asks for one (`store-tls-cert`, `store-tls-key`).
    pub tls_ca: String,
    pub tls_cert: String,
    pub tls_key: String,
    /// How a retriever here reaches a call another node holds (`cross-node-pickup`).
    pub pickup: CrossNodePickup,
}

impl RedisTarget {
    /// The URL as it may be shown: the password written `***`.
    pub fn shown_url(&self) -> String {
        redacted(&self.url)
    }
}

impl Default for RedisTarget {
    fn default() -> Self {
        RedisTarget {
            url: String::new(),
            node: String::new(),
            address: String::new(),
            prefix: String::new(),
            grace_ms: DEFAULT_GRACE_MS,
            password_file: String::new(),
            sentinel_password_file: String::new(),
            tls_ca: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            pickup: CrossNodePickup::Bridge,
        }
    }
}

/// The `store` setting.
// Read once per load: its size is of no account.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreSetting {
    #[default]
    Memory,
    Redis(RedisTarget),
}

impl StoreSetting {
    /// Whether a retriever here is redirected to the node holding the call
    /// (`cross-node-pickup` `redirect`, a shared store only).
    pub fn redirects(&self) -> bool {
        matches!(self, StoreSetting::Redis(t) if t.pickup == CrossNodePickup::Redirect)
    }
}

/// What `<settings>` said of the store, before validation.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawStore {
    pub store: Option<At<String>>,
    pub node: Option<At<String>>,
    pub address: Option<At<String>>,
    pub prefix: Option<At<String>>,
    pub grace: Option<At<String>>,
    pub password_file: Option<At<String>>,
    pub sentinel_password_file: Option<At<String>>,
    pub tls_ca: Option<At<String>>,
    pub tls_cert: Option<At<String>>,
    pub tls_key: Option<At<String>>,
    pub pickup: Option<At<String>>,
}

fn name_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A node's name as `node` may be: letters, digits and `._-`, at most 64. What a node
/// reads back from Redis passes the same check.
pub fn valid_node_name(s: &str) -> bool {
    name_ok(s, 64)
}

/// `host[:port]`: a host name or IPv4 address, a port from 1 to 65535.
fn host_port_ok(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    name_ok(host, 253) && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

/// What a store URL names: Redis itself, or the Sentinels that know which server is
/// the master of the name given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreUrl {
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `host` and port of Redis, or of each Sentinel (26379 unless said).
    pub hosts: Vec<(String, u16)>,
    /// The master's name known to the Sentinels; `None`: no Sentinel.
    pub master: Option<String>,
    pub db: i64,
}

/// Parses `redis[s]://[user[:password]@]host[:port][/db]` and
/// `redis[s]+sentinel://[user[:password]@]host[:port][,host[:port]...]/master[/db]`.
pub fn parse_store_url(url: &str) -> Result<StoreUrl, String> {
    let shown = redacted(url);
    let forms = "redis://[user[:password]@]host:port/db, rediss:// for TLS, or \
                 redis+sentinel://[user[:password]@]host:port,host:port.../master/db";
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| format!("store \"{shown}\" is neither memory nor {forms}"))?;
    let (tls, sentinel) = match scheme {
        "redis" => (false, false),
        "rediss" => (true, false),
        "redis+sentinel" => (false, true),
        "rediss+sentinel" => (true, true),
        _ => return Err(format!("store \"{shown}\" is neither memory nor {forms}")),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((h, d)) => (h, d),
        None => (rest, ""),
    };
    let (cred, hostlist) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    let (username, password) = match cred {
        None => (None, None),
        Some(c) => {
            let (u, p) = match c.split_once(':') {
                Some((u, p)) => (u, Some(p.to_string())),
                None => (c, None),
            };
            if !u.is_empty() && !name_ok(u, 128) {
                return Err(format!("store \"{shown}\": the user may hold letters, digits and ._-"));
            }
            ((!u.is_empty()).then(|| u.to_string()), p.filter(|p| !p.is_empty()))
        }
    };
    let default_port = if sentinel { 26379 } else { 6379 };
    let mut hosts = Vec::new();
    for hp in hostlist.split(',') {
        if !host_port_ok(hp) {
            return Err(format!("store \"{shown}\": \"{hp}\" is not host:port"));
        }
        let (h, p) = match hp.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().unwrap_or(default_port)),
            None => (hp, default_port),
        };
        hosts.push((h.to_string(), p));
    }
    if hosts.len() > 1 && !sentinel {
        return Err(format!("store \"{shown}\": several hosts are Sentinels (redis+sentinel://...)"));
    }
    let (master, db) = if sentinel {
        let (m, d) = match path.split_once('/') {
            Some((m, d)) => (m, Some(d)),
            None => (path, None),
        };
        if !name_ok(m, 128) {
            return Err(format!(
                "store \"{shown}\": name the master the Sentinels know after the hosts (redis+sentinel://h1,h2,h3/mymaster)"
            ));
        }
        (Some(m.to_string()), d)
    } else {
        (None, Some(path))
    };
    let db = match db.filter(|d| !d.is_empty()) {
        None => 0,
        Some(d) => {
            d.parse::<u8>().map_err(|_| format!("store \"{shown}\": the database must be a number from 0 to 255"))?
                as i64
        }
    };
    Ok(StoreUrl { tls, username, password, hosts, master, db })
}

/// `url` with its password, if any, written `***`: what logs, `callpark status` and
/// errors show of a store.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((cred, host)) => {
            let user = cred.split_once(':').map_or(cred, |(u, _)| u);
            let hidden = if cred.contains(':') { format!("{user}:***") } else { user.to_string() };
            format!("{scheme}://{hidden}@{host}{path}")
        }
        None => url.to_string(),
    }
}

impl RawStore {
    /// The store setting, or the errors of its parameters.
    pub(crate) fn resolve(&self, errors: &mut Vec<ConfigError>) -> StoreSetting {
        let mut found = Vec::new();
        let mut err = |at: &Option<At<String>>, message: String| {
            found.push(ConfigError { line: at.as_ref().and_then(|a| a.line), place: String::new(), message })
        };
        let value = |a: &Option<At<String>>| a.as_ref().map(|a| a.value.trim().to_string());
        let url = value(&self.store).unwrap_or_else(|| "memory".into());
        if url == "memory" {
            for (a, name) in [
                (&self.node, "node"),
                (&self.address, "node-address"),
                (&self.prefix, "store-prefix"),
                (&self.grace, "node-grace"),
                (&self.password_file, "store-password-file"),
                (&self.sentinel_password_file, "store-sentinel-password-file"),
                (&self.tls_ca, "store-tls-ca"),
                (&self.tls_cert, "store-tls-cert"),
                (&self.tls_key, "store-tls-key"),
                (&self.pickup, "cross-node-pickup"),
            ] {
                if a.is_some() {
                    err(a, format!("{name} is for a shared store (store=\"redis://...\"); the store is memory"));
                }
            }
            errors.append(&mut found);
            return StoreSetting::Memory;
        }
        let parsed = match parse_store_url(&url) {
            Ok(u) => Some(u),
            Err(e) => {
                err(&self.store, e);
                None
            }
        };
        let node = value(&self.node).unwrap_or_default();
        if node.is_empty() {
            err(&self.store, "a shared store needs this node's name (<param name=\"node\" .../>)".into());
        } else if !valid_node_name(&node) {
            err(&self.node, format!("node \"{node}\" may hold letters, digits and ._- (at most 64)"));
        }
        let address = value(&self.address).unwrap_or_default();
        if address.is_empty() {
            err(
                &self.store,
                "a shared store needs this node's SIP address for the other nodes (<param name=\"node-address\" \
                 value=\"host:port\"/>)"
                    .into(),
            );
        } else if !host_port_ok(&address) {
            err(&self.address, format!("node-address \"{address}\" is not host:port"));
        } else if address.rsplit_once(':').map_or(address.as_str(), |(h, _)| h).parse::<std::net::IpAddr>().is_err() {
            // The holding node knows a hand-over by the address it comes from.
            err(&self.address, format!("node-address \"{address}\" must be an IPv4 address (the one this node's calls to the others come from), not a name"));
        }
        let prefix = value(&self.prefix).unwrap_or_default();
        if !prefix.is_empty() && (prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_graphic() && b != b'|')) {
            err(&self.prefix, format!("store-prefix \"{prefix}\" may hold printable characters but '|' (at most 64)"));
        }
        // Whole seconds, from 2 (two renewals a second apart) to an hour.
        let grace_ms = match value(&self.grace) {
            None => DEFAULT_GRACE_MS,
            Some(g) => match g.parse::<u64>() {
                Ok(s) if (2..=3600).contains(&s) => s * 1000,
                _ => {
                    err(&self.grace, format!("node-grace \"{g}\" must be a number of seconds from 2 to 3600"));
                    DEFAULT_GRACE_MS
                }
            },
        };
        let path = |a: &Option<At<String>>| value(a).unwrap_or_default();
        let (password_file, tls_ca, tls_cert, tls_key) =
            (path(&self.password_file), path(&self.tls_ca), path(&self.tls_cert), path(&self.tls_key));
        let tls = parsed.as_ref().is_some_and(|u| u.tls);
        let sentinel_password_file = path(&self.sentinel_password_file);
        if !sentinel_password_file.is_empty() && parsed.as_ref().is_some_and(|u| u.master.is_none()) {
            err(
                &self.sentinel_password_file,
                "store-sentinel-password-file is for a store through Sentinel (redis+sentinel://...)".into(),
            );
        }
        for (p, a, name) in [
            (&tls_ca, &self.tls_ca, "store-tls-ca"),
            (&tls_cert, &self.tls_cert, "store-tls-cert"),
            (&tls_key, &self.tls_key, "store-tls-key"),
        ] {
            if !p.is_empty() && !tls {
                err(a, format!("{name} is for a store over TLS (rediss://...)"));
            }
        }
        if tls_cert.is_empty() != tls_key.is_empty() {
            let a = if tls_cert.is_empty() { &self.tls_key } else { &self.tls_cert };
            err(a, "store-tls-cert and store-tls-key go together (this node's certificate and its key)".into());
        }
        let pickup = match value(&self.pickup).as_deref() {
            None | Some("bridge") => CrossNodePickup::Bridge,
            Some("redirect") => CrossNodePickup::Redirect,
            Some(other) => {
                err(&self.pickup, format!("cross-node-pickup \"{other}\" must be bridge or redirect"));
                CrossNodePickup::Bridge
            }
        };
        if !found.is_empty() {
            errors.append(&mut found);
            return StoreSetting::Memory;
        }
        StoreSetting::Redis(RedisTarget {
            url,
            node,
            address,
            prefix,
            grace_ms,
            password_file,
            sentinel_password_file,
            tls_ca,
            tls_cert,
            tls_key,
            pickup,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::from_xml;

    use super::*;

    fn conf(params: &str) -> String {
        format!(r#"<configuration name="callpark.conf"><settings>{params}</settings></configuration>"#)
    }

    fn errors(params: &str) -> Vec<String> {
        match from_xml("c", &conf(params)) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|e| e.message).collect(),
        }
    }

    #[test]
    fn memory_by_default_and_redis_with_a_node() {
        assert_eq!(from_xml("c", &conf("")).unwrap().store, StoreSetting::Memory);
        let c = from_xml(
            "c",
            &conf(
                r#"<param name="store" value="redis://127.0.0.1:6379/2"/><param name="node" value="fs-a"/>
                   <param name="node-address" value="10.0.0.5:5080"/>"#,
            ),
        )
        .unwrap();
        assert_eq!(
            c.store,
            StoreSetting::Redis(RedisTarget {
                url: "redis://127.0.0.1:6379/2".into(),
                node: "fs-a".into(),
                address: "10.0.0.5:5080".into(),
                prefix: String::new(),
                grace_ms: DEFAULT_GRACE_MS,
                ..RedisTarget::default()
            })
        );
    }

    #[test]
    fn cross_node_pickup_bridges_unless_told_to_redirect() {
        let base = r#"<param name="store" value="redis://h"/><param name="node" value="a"/><param name="node-address" value="10.0.0.5:5060"/>"#;
        let pickup = |extra: &str| match from_xml("c", &conf(&format!("{base}{extra}"))).unwrap().store {
            StoreSetting::Redis(t) => t.pickup,
            StoreSetting::Memory => panic!("a shared store"),
        };
        assert_eq!(pickup(""), CrossNodePickup::Bridge);
        assert_eq!(pickup(r#"<param name="cross-node-pickup" value="bridge"/>"#), CrossNodePickup::Bridge);
        assert_eq!(pickup(r#"<param name="cross-node-pickup" value="redirect"/>"#), CrossNodePickup::Redirect);
        let e = errors(&format!(r#"{base}<param name="cross-node-pickup" value="302"/>"#));
        assert!(e.len() == 1 && e[0].contains("cross-node-pickup \"302\" must be bridge or redirect"), "{e:?}");
        let e = errors(r#"<param name="cross-node-pickup" value="redirect"/>"#);
        assert!(e.len() == 1 && e[0].contains("cross-node-pickup is for a shared store"), "{e:?}");
    }

    #[test]
    fn every_mistake_is_named() {
        let e = errors(r#"<param name="store" value="redis://127.0.0.1:6379/0"/>"#);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("this node's name") && e[1].contains("SIP address"), "{e:?}");
        for (v, says) in [
            ("mysql://x", "neither memory nor redis"),
            ("redis://a b:pw@h:1", "the user"),
            ("redis://h:99999/0", "not host:port"),
            ("redis://h:1/x", "database"),
            ("redis://", "not host:port"),
        ] {
            let e = errors(&format!(
                r#"<param name="store" value="{v}"/><param name="node" value="a"/><param name="node-address" value="10.0.0.5:5060"/>"#
            ));
            assert!(e.len() == 1 && e[0].contains(says), "{v}: {e:?}");
        }
        let e = errors(
            r#"<param name="store" value="redis://h"/><param name="node" value="a b"/><param name="node-address" value="h:0"/>"#,
        );
        assert!(e.len() == 2 && e[0].contains("node \"a b\"") && e[1].contains("node-address"), "{e:?}");
        let e = errors(
            r#"<param name="store" value="redis://h"/><param name="node" value="a"/><param name="node-address" value="fs-a.example:5080"/>"#,
        );
        assert!(e.len() == 1 && e[0].contains("must be an IPv4 address"), "{e:?}");
        for bad in ["1", "x", "3601", "-2"] {
            let e = errors(&format!(
                r#"<param name="store" value="redis://h"/><param name="node" value="a"/><param name="node-address" value="10.0.0.5:5060"/><param name="node-grace" value="{bad}"/>"#
            ));
            assert!(e.len() == 1 && e[0].contains("node-grace"), "{bad}: {e:?}");
        }
        let e = errors(
            r#"<param name="store" value="redis://h"/><param name="node" value="a"/><param name="node-address" value="10.0.0.5:5060"/><param name="store-tls-ca" value="/ca.pem"/>"#,
        );
        assert!(e.len() == 1 && e[0].contains("over TLS"), "{e:?}");
        let e = errors(
            r#"<param name="store" value="rediss://h"/><param name="node" value="a"/><param name="node-address" value="10.0.0.5:5060"/><param name="store-tls-cert" value="/c.pem"/>"#,
        );
        assert!(e.len() == 1 && e[0].contains("go together"), "{e:?}");
        let e = errors(r#"<param name="store" value="redis://cp:s3cret@h:1/9"/><param name="node" value="a b"/>"#);
        assert!(e.iter().all(|m| !m.contains("s3cret")), "a password in an error: {e:?}");
        let e = errors(r#"<param name="node" value="a"/>"#);
        assert!(e.len() == 1 && e[0].contains("the store is memory"), "{e:?}");
    }

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(redacted("redis://cp:s3cret@10.0.0.9:6379/0"), "redis://cp:***@10.0.0.9:6379/0");
        assert_eq!(redacted("rediss://:s3cret@h"), "rediss://:***@h");
        assert_eq!(redacted("redis://cp@h/1"), "redis://cp@h/1");
        assert_eq!(redacted("redis://h:6379/0"), "redis://h:6379/0");
        assert_eq!(redacted("redis://a:b:c@h"), "redis://a:***@h");
        let c = from_xml(
            "c",
            &conf(
                r#"<param name="store" value="rediss://cp:pw@127.0.0.1:6380/0"/><param name="node" value="a"/>
                   <param name="node-address" value="10.0.0.5:5080"/><param name="store-tls-ca" value="/etc/ca.pem"/>
                   <param name="store-password-file" value="/etc/callpark/redis.pw"/>"#,
            ),
        )
        .unwrap();
        let StoreSetting::Redis(t) = c.store else { panic!("redis") };
        assert_eq!((t.shown_url().as_str(), t.tls_ca.as_str()), ("rediss://cp:***@127.0.0.1:6380/0", "/etc/ca.pem"));
        assert_eq!(t.password_file, "/etc/callpark/redis.pw");
    }

    #[test]
    fn the_store_is_the_whole_switch_s() {
        let e = match from_xml(
            "c",
            r#"<configuration name="callpark.conf"><tenants><tenant domain="a.example"><settings>
                <param name="store" value="redis://h"/></settings></tenant></tenants></configuration>"#,
        ) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|e| e.message).collect(),
        };
        assert!(e.len() == 1 && e[0].contains("whole switch"), "{e:?}");
    }

    #[test]
    fn every_store_url_form_reads_as_documented() {
        let u = parse_store_url("redis://127.0.0.1:6380/3").unwrap();
        assert_eq!((u.tls, u.hosts, u.master, u.db), (false, vec![("127.0.0.1".into(), 6380)], None, 3));
        let u = parse_store_url("rediss://cp:pw@redis.example").unwrap();
        assert_eq!((u.tls, u.username.as_deref(), u.password.as_deref()), (true, Some("cp"), Some("pw")));
        assert_eq!(u.hosts, [("redis.example".to_string(), 6379)]);
        let u = parse_store_url("redis+sentinel://:pw@10.0.0.1,10.0.0.2:26380,10.0.0.3/callpark/2").unwrap();
        assert_eq!((u.username, u.password.as_deref(), u.db), (None, Some("pw"), 2));
        assert_eq!(u.master.as_deref(), Some("callpark"));
        assert_eq!(
            u.hosts,
            [("10.0.0.1".to_string(), 26379), ("10.0.0.2".to_string(), 26380), ("10.0.0.3".to_string(), 26379)]
        );
        assert!(parse_store_url("rediss+sentinel://s1/m").unwrap().tls);
        for (bad, says) in [
            ("redis://h1,h2/0", "several hosts are Sentinels"),
            ("redis+sentinel://h1,h2", "name the master"),
            ("redis+sentinel://h1,h2/", "name the master"),
            ("redis+sentinel://h1,,h2/m", "not host:port"),
            ("redis+sentinel://h1/m/x", "database"),
            ("sentinel://h1/m", "neither memory nor"),
        ] {
            let e = parse_store_url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        // The Sentinels' own password file is for a store through Sentinel only.
        let e = errors(
            r#"<param name="store" value="redis://h"/><param name="node" value="a"/><param name="node-address" value="10.0.0.5:5060"/><param name="store-sentinel-password-file" value="/p"/>"#,
        );
        assert!(e.len() == 1 && e[0].contains("through Sentinel"), "{e:?}");
        assert_eq!(redacted("redis+sentinel://u:pw@h1,h2/m"), "redis+sentinel://u:***@h1,h2/m");
    }
}
