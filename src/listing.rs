//! Listing parked calls, as text for `fs_cli` and as JSON for ESL clients; the store's
//! part of `callpark status`.

use serde_json::{json, Value};

use crate::store::{ParkedCall, RecallState, StoreStatus};

/// One parked call, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallInfo {
    pub tenant: String,
    pub extension: String,
    pub group: Option<String>,
    pub uuid: String,
    pub caller_number: String,
    pub caller_name: String,
    pub parking_user: String,
    pub parked_secs: u64,
    /// `parked`, `ringing`, `retrying`, `exhausted`, `leaving`.
    pub state: &'static str,
    pub attempt: u32,
    /// Seconds until the next recall step, if one is pending.
    pub next_in_secs: Option<u64>,
    pub policy: &'static str,
}

impl CallInfo {
    pub(crate) fn of(c: &ParkedCall, now_ms: u64) -> Self {
        let (state, attempt) = match (c.claim.is_some(), c.recall) {
            (true, _) => ("leaving", 0),
            (false, RecallState::Waiting) => ("parked", 0),
            (false, RecallState::Ringing(n)) => ("ringing", n),
            (false, RecallState::Retrying(n)) => ("retrying", n),
            (false, RecallState::Exhausted) => ("exhausted", 0),
        };
        CallInfo {
            tenant: c.tenant.clone(),
            extension: c.extension.clone(),
            group: c.group.clone(),
            uuid: c.uuid.clone(),
            caller_number: c.caller_number.clone(),
            caller_name: c.caller_name.clone(),
            parking_user: c.parking_user.clone(),
            parked_secs: now_ms.saturating_sub(c.parked_at_ms) / 1000,
            state,
            attempt,
            next_in_secs: c.due_ms.map(|d| d.saturating_sub(now_ms).div_ceil(1000)),
            policy: c.plan.policy.name(),
        }
    }
}

/// A table, one call a line, and a count.
pub fn text(calls: &[CallInfo]) -> String {
    let mut out = String::new();
    if !calls.is_empty() {
        out.push_str(&format!(
            "{:<24} {:<8} {:<12} {:<36} {:<20} {:<10} {:>6} {:<9} {}\n",
            "tenant", "ext", "group", "uuid", "caller", "parked-by", "secs", "state", "next"
        ));
    }
    for c in calls {
        let caller = if c.caller_name.is_empty() {
            c.caller_number.clone()
        } else {
            format!("{} {}", c.caller_number, c.caller_name)
        };
        let next = c.next_in_secs.map_or("-".to_string(), |s| format!("{s}s"));
        out.push_str(&format!(
            "{:<24} {:<8} {:<12} {:<36} {:<20} {:<10} {:>6} {:<9} {}\n",
            c.tenant,
            c.extension,
            c.group.as_deref().unwrap_or("-"),
            c.uuid,
            caller,
            c.parking_user,
            c.parked_secs,
            c.state,
            next
        ));
    }
    out.push_str(&format!("{} parked call{}\n", calls.len(), if calls.len() == 1 { "" } else { "s" }));
    out
}

/// The lamps `calls` light, one line each, `<tenant> park+<target>`: each call's slot
/// and its group, each once, in the calls' order.
pub fn lamps(calls: &[CallInfo]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for c in calls {
        for target in std::iter::once(&c.extension).chain(c.group.as_ref()) {
            let line = format!("{} {}{}\n", c.tenant, crate::names::BLF_PREFIX, target);
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    lines.concat()
}

/// `{"count": N, "calls": [...]}`.
pub fn json(calls: &[CallInfo]) -> String {
    let list: Vec<Value> = calls.iter().map(call_json).collect();
    json!({ "count": calls.len(), "calls": list }).to_string()
}

fn call_json(c: &CallInfo) -> Value {
    json!({
        "tenant": c.tenant,
        "extension": c.extension,
        "group": c.group,
        "uuid": c.uuid,
        "caller_number": c.caller_number,
        "caller_name": c.caller_name,
        "parking_user": c.parking_user,
        "parked_seconds": c.parked_secs,
        "state": c.state,
        "recall_attempt": c.attempt,
        "next_step_seconds": c.next_in_secs,
        "recall_policy": c.policy,
    })
}

/// The one line an operator's command (`park`, `retrieve`, `hangup`) answers with:
/// `+OK <what was done>` or `-ERR <why not>`, or as JSON `{"ok":true,"command":..,
/// "done":..,"call":{..}}` / `{"ok":false,"command":..,"error":..}`.
pub fn operator_answer(verb: &str, outcome: Result<(&CallInfo, &str), &str>, json: bool) -> String {
    match (outcome, json) {
        (Ok((_, done)), false) => format!("+OK {done}\n"),
        (Err(why), false) => format!("-ERR {why}\n"),
        (Ok((c, done)), true) => {
            json!({ "ok": true, "command": verb, "done": done, "call": call_json(c) }).to_string() + "\n"
        }
        (Err(why), true) => json!({ "ok": false, "command": verb, "error": why }).to_string() + "\n",
    }
}

/// `; store memory`, or `; store redis://..., node a (reachable), other nodes: b at
/// 10.0.0.6:5080` for `callpark status`.
pub fn store_status(s: &StoreStatus) -> String {
    if s.node.is_empty() {
        return format!("; store {}", s.kind);
    }
    let reach = if s.reachable {
        "reachable".to_string()
    } else if s.why.is_empty() {
        "UNREACHABLE: serving the calls it holds, parking on itself".to_string()
    } else {
        format!("UNREACHABLE: serving the calls it holds, parking on itself; {}", s.why)
    };
    let mut t = format!("; store {}, node {} ({reach}), other nodes: ", s.kind, s.node);
    if s.others.is_empty() {
        t.push_str("none seen");
    }
    for (i, (name, address)) in s.others.iter().enumerate() {
        if i > 0 {
            t.push_str(", ");
        }
        t.push_str(&format!("{name} at {address}"));
    }
    t
}
