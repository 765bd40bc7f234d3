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

/// A park shared on Redis, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTarget {
    /// `redis://host:port/db`.
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
}

impl Default for RedisTarget {
    fn default() -> Self {
        RedisTarget {
            url: String::new(),
            node: String::new(),
            address: String::new(),
            prefix: String::new(),
            grace_ms: DEFAULT_GRACE_MS,
        }
    }
}

/// The `store` setting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreSetting {
    #[default]
    Memory,
    Redis(RedisTarget),
}

/// What `<settings>` said of the store, before validation.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawStore {
    pub store: Option<At<String>>,
    pub node: Option<At<String>>,
    pub address: Option<At<String>>,
    pub prefix: Option<At<String>>,
    pub grace: Option<At<String>>,
}

fn name_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `host[:port]`: a host name or IPv4 address, a port from 1 to 65535.
fn host_port_ok(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    name_ok(host, 253) && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

/// Checks `redis://host[:port][/db]`.
fn redis_url_ok(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("redis://").ok_or_else(|| {
        if url.starts_with("rediss://") {
            format!("store \"{url}\": TLS (rediss://) is not supported; use redis:// on a trusted network")
        } else {
            format!("store \"{url}\" is neither memory nor redis://host:port/db")
        }
    })?;
    let (hostport, db) = match rest.split_once('/') {
        Some((h, d)) => (h, Some(d)),
        None => (rest, None),
    };
    if !host_port_ok(hostport) {
        return Err(format!("store \"{url}\": \"{hostport}\" is not host:port"));
    }
    if db.is_some_and(|d| !d.is_empty() && d.parse::<u8>().is_err()) {
        return Err(format!("store \"{url}\": the database must be a number from 0 to 255"));
    }
    Ok(())
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
            ] {
                if a.is_some() {
                    err(a, format!("{name} is for a shared store (store=\"redis://...\"); the store is memory"));
                }
            }
            errors.append(&mut found);
            return StoreSetting::Memory;
        }
        if let Err(e) = redis_url_ok(&url) {
            err(&self.store, e);
        }
        let node = value(&self.node).unwrap_or_default();
        if node.is_empty() {
            err(&self.store, "a shared store needs this node's name (<param name=\"node\" .../>)".into());
        } else if !name_ok(&node, 64) {
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
        if !found.is_empty() {
            errors.append(&mut found);
            return StoreSetting::Memory;
        }
        StoreSetting::Redis(RedisTarget { url, node, address, prefix, grace_ms })
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
            })
        );
    }

    #[test]
    fn every_mistake_is_named() {
        let e = errors(r#"<param name="store" value="redis://127.0.0.1:6379/0"/>"#);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("this node's name") && e[1].contains("SIP address"), "{e:?}");
        for (v, says) in [
            ("mysql://x", "neither memory nor redis"),
            ("rediss://h:1", "TLS"),
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
        let e = errors(r#"<param name="node" value="a"/>"#);
        assert!(e.len() == 1 && e[0].contains("the store is memory"), "{e:?}");
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
}
