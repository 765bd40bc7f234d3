//! A call as Redis holds it: the names of the keys, the hash a call is written as and
//! read back from, a claim as text, and the checks a record read back must pass before
//! it reaches a lamp, message, event or dial string.

use std::collections::HashMap;
use std::sync::Arc;

use redis::Connection;

use super::scripts::Scripts;
use super::RedisStore;
use crate::caller::{clean_name, clean_number};
use crate::config::{valid_node_name, RecallPlan};
use crate::identity::valid_user;
use crate::store::{Claim, ParkedCall, RecallState};

/// A call's hash, as Redis has it: field name to value; empty when the call is gone.
pub(super) type Fields = HashMap<String, String>;

/// What a call is on the cluster's clock when written.
pub(super) struct OnCluster {
    /// Park order.
    pub(super) seq: u64,
    /// Park time, ms since 1970 by Redis's clock.
    pub(super) parked_at: u64,
    /// The other nodes' phones were told of it already (it comes back after a fault).
    pub(super) quiet: bool,
}

/// The names of callpark's keys: `<prefix><kind>|<part>|...`. Neither a domain nor an
/// extension has a '|'.
pub(super) struct Keys {
    pub(super) prefix: String,
}

impl Keys {
    pub(super) fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                k.push('|');
            }
            k.push_str(p);
        }
        k
    }

    pub(super) fn call(&self, uuid: &str) -> String {
        self.key(&["call", uuid])
    }

    pub(super) fn slot(&self, tenant: &str, extension: &str) -> String {
        self.key(&["slot", tenant, extension])
    }

    pub(super) fn node(&self, node: &str) -> String {
        self.key(&["node", node])
    }
}

pub(super) fn claim_text(c: &Claim) -> String {
    match c {
        Claim::Retrieve { by } => format!("retrieve:{by}"),
        Claim::RecallAnswer { leg } => format!("recall:{leg}"),
        Claim::RingGroup => "ring-group".into(),
        Claim::FinalDestination => "final-destination".into(),
        Claim::Abandon => "abandon".into(),
        Claim::Exit => "exit".into(),
    }
}

/// A claim as Redis has it: `<claiming node>|<claim>`.
pub(super) fn parse_claim(s: &str) -> Claim {
    let s = s.split_once('|').map_or(s, |(_, c)| c);
    match s.split_once(':') {
        Some(("retrieve", by)) => Claim::Retrieve { by: by.into() },
        Some(("recall", leg)) => Claim::RecallAnswer { leg: leg.into() },
        _ => match s {
            "ring-group" => Claim::RingGroup,
            "final-destination" => Claim::FinalDestination,
            "exit" => Claim::Exit,
            _ => Claim::Abandon,
        },
    }
}

/// `s` without control characters, at most `max` characters: a record read back from
/// Redis, quoted in a log line.
pub(super) fn printable(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

impl RedisStore {
    pub(super) fn to_cluster(v: u64, offset: i64, scale: i64) -> u64 {
        (v as i64).saturating_add(offset.saturating_mul(scale)).max(0) as u64
    }

    /// Writes `c` unless its slot holds `limit` calls, with its park order and time on
    /// the cluster's clock (`at`; a call Redis has already keeps its order).
    pub(super) fn write_call(
        con: &mut Connection,
        k: &Keys,
        sc: &Scripts,
        c: &ParkedCall,
        limit: usize,
        at: OnCluster,
    ) -> redis::RedisResult<(i64, i64)> {
        let OnCluster { seq, parked_at, quiet } = at;
        let mut inv = sc.insert.prepare_invoke();
        inv.key(k.slot(&c.tenant, &c.extension))
            .key(k.call(&c.uuid))
            .key(k.key(&["calls"]))
            .key(k.key(&["version"]))
            .key(k.key(&["log"]))
            .arg(limit.min(i64::MAX as usize) as i64)
            .arg(&c.uuid)
            .arg(&c.node)
            .arg(seq);
        let fields: [(&str, &str); 10] = [
            ("tenant", &c.tenant),
            ("extension", &c.extension),
            ("group", c.group.as_deref().unwrap_or("")),
            ("parking_user", &c.parking_user),
            ("caller_number", &c.caller_number),
            ("caller_name", &c.caller_name),
            ("node", &c.node),
            ("parked_at", &parked_at.to_string()),
            ("group_park", if c.group_park { "1" } else { "" }),
            ("quiet", if quiet { "1" } else { "" }),
        ];
        for (f, v) in fields {
            inv.arg(f).arg(v);
        }
        if let Some(cl) = &c.claim {
            inv.arg("claim").arg(format!("{}|{}", c.node, claim_text(cl)));
        }
        inv.invoke(con)
    }

    pub(super) fn delete_call(
        con: &mut Connection,
        k: &Keys,
        sc: &Scripts,
        uuid: &str,
        tenant: &str,
        extension: &str,
    ) -> redis::RedisResult<(i64, i64)> {
        sc.remove
            .key(k.call(uuid))
            .key(k.slot(tenant, extension))
            .key(k.key(&["calls"]))
            .key(k.key(&["version"]))
            .key(k.key(&["log"]))
            .arg(uuid)
            .invoke(con)
    }

    /// A call of another node, as Redis has it (its park time on this engine's clock).
    /// A record that does not pass the checks a call's fields pass on their way in
    /// (a tenant that is no domain, a slot or user that is no user id, a uuid or node of
    /// other characters) is none: it reaches no lamp, message, event or dial string.
    pub(super) fn remote_call(uuid: &str, f: &Fields, plan: &Arc<RecallPlan>, offset: i64) -> Option<ParkedCall> {
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let id_ok =
            |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let tenant = f.get("tenant").filter(|t| crate::config::valid_domain(t))?.clone();
        let extension = f.get("extension").filter(|e| valid_user(e))?.clone();
        let group = f.get("group").filter(|g| !g.is_empty()).cloned();
        let parking_user = get("parking_user");
        let node = get("node");
        if !id_ok(uuid)
            || group.as_deref().is_some_and(|g| !valid_user(g))
            || (!parking_user.is_empty() && !valid_user(&parking_user))
            || !valid_node_name(&node)
        {
            return None;
        }
        let parked_at: u64 = get("parked_at").parse().unwrap_or(0);
        Some(ParkedCall {
            uuid: uuid.into(),
            tenant,
            extension,
            group,
            parking_user,
            caller_number: clean_number(&get("caller_number")),
            caller_name: clean_name(&get("caller_name")),
            music: String::new(),
            seq: f.get("seq")?.parse().ok()?,
            parked_at_ms: Self::to_cluster(parked_at, -offset, 1),
            plan: plan.clone(),
            recall: RecallState::Waiting,
            due_ms: None,
            timer_gen: 0,
            claim: f.get("claim").map(|c| parse_claim(c)),
            operator_ring: false,
            park_info: false,
            node,
            group_park: get("group_park") == "1",
        })
    }

    /// A record read that fails the checks: kept to be said once.
    pub(super) fn note_bad(&mut self, what: String) {
        if self.bad_seen.len() < 10_000 && self.bad_seen.insert(what.clone()) {
            self.bad.push(what);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Fields, RedisStore};

    fn record(pairs: &[(&str, &str)]) -> Fields {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// A call's record read back is checked as its fields were on their way in.
    #[test]
    fn a_malformed_record_read_back_is_no_call() {
        let plan = crate::config::Config::default().tenant("").recall.clone();
        let good = [
            ("tenant", "acme.example"),
            ("extension", "102"),
            ("parking_user", "101"),
            ("node", "fs-a"),
            ("seq", "1"),
            ("caller_number", "104\u{7}"),
            ("caller_name", "A\nB"),
        ];
        let c = RedisStore::remote_call("4cbf1e2a", &record(&good), &plan, 0).expect("a good record");
        assert_eq!((c.caller_number.as_str(), c.caller_name.as_str()), ("104", "AB"));
        for (field, bad) in [
            ("tenant", "acme example"),
            ("extension", "102,sofia/gateway/pstn/1900"),
            ("parking_user", "10 1"),
            ("node", "a|b"),
            ("group", "sales;x"),
            ("seq", "x"),
        ] {
            let mut f = record(&good);
            f.insert(field.into(), bad.into());
            assert!(RedisStore::remote_call("4cbf1e2a", &f, &plan, 0).is_none(), "{field}={bad}");
        }
        assert!(RedisStore::remote_call("4cbf|x", &record(&good), &plan, 0).is_none());
    }
}
