//! The park as the board shows it: each tenant's calls read from the switch
//! (`callpark list <tenant> json`) when a `callpark::info` event says they changed, never
//! polled, and handed to every page of that tenant.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::esl::Esl;

#[derive(Debug, Clone)]
pub enum Update {
    /// The tenant's calls, in the order `*88<ext>` takes them.
    Calls { tenant: String, calls: Arc<Vec<Value>> },
    /// Event-socket connections up, of all.
    Link { up: usize, total: usize },
}

pub struct Board {
    pub esl: Esl,
    updates: broadcast::Sender<Update>,
    refresh: mpsc::UnboundedSender<String>,
    /// Tenants a page has shown: read again when the switch comes back.
    seen: Mutex<HashSet<String>>,
}

impl Board {
    pub fn start(esl: Esl) -> Arc<Board> {
        let (updates, _) = broadcast::channel(256);
        let (refresh, rx) = mpsc::unbounded_channel();
        let board = Arc::new(Board { esl, updates, refresh, seen: Mutex::new(HashSet::new()) });
        tokio::spawn(refresher(board.clone(), rx));
        board
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// Asks for `tenant`'s calls to be read again; pages get them as an update.
    pub fn refresh(&self, tenant: &str) {
        self.seen.lock().unwrap().insert(tenant.to_string());
        let _ = self.refresh.send(tenant.to_string());
    }

    /// A connection came up or went down: every page is told, and on the way up every
    /// tenant shown is read again (events may have been missed meanwhile).
    pub fn link_changed(&self) {
        let (up, total) = self.esl.link();
        let _ = self.updates.send(Update::Link { up, total });
        if up > 0 {
            for t in self.seen.lock().unwrap().iter() {
                let _ = self.refresh.send(t.clone());
            }
        }
    }

    /// `tenant`'s parked calls, from the switch.
    pub async fn calls(&self, tenant: &str) -> Result<Vec<Value>, String> {
        let out = self.esl.api(&format!("callpark list {tenant} json")).await?;
        order(tenant, &out)
    }
}

/// The calls of `tenant` in a listing (`{"count":..,"calls":[..]}`, oldest first), by
/// extension and then oldest first: the order `*88<ext>` takes them. Each gets
/// `position`: 1 for the call `*88<ext>` takes, n for `*88<ext>*<n>`.
pub fn order(tenant: &str, listing: &str) -> Result<Vec<Value>, String> {
    let v: Value = serde_json::from_str(listing.trim())
        .map_err(|_| format!("the switch answered: {}", listing.lines().next().unwrap_or("").trim()))?;
    let mut calls: Vec<Value> = v["calls"]
        .as_array()
        .ok_or("the switch's listing has no calls")?
        .iter()
        // Whatever the switch lists, a page shows its own tenant only.
        .filter(|c| c["tenant"].as_str() == Some(tenant))
        .cloned()
        .collect();
    let key = |c: &Value| {
        let e = c["extension"].as_str().unwrap_or("").to_string();
        (e.parse::<u64>().ok(), e)
    };
    calls.sort_by_key(key);
    let mut last = String::new();
    let mut n = 0;
    for c in calls.iter_mut() {
        let e = c["extension"].as_str().unwrap_or("").to_string();
        n = if e == last { n + 1 } else { 1 };
        last = e;
        c["position"] = n.into();
    }
    Ok(calls)
}

async fn refresher(board: Arc<Board>, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(first) = rx.recv().await {
        // A burst of events for one tenant is one reading.
        let mut tenants = vec![first];
        while let Ok(t) = rx.try_recv() {
            if !tenants.contains(&t) {
                tenants.push(t);
            }
        }
        for tenant in tenants {
            match board.calls(&tenant).await {
                Ok(calls) => {
                    let _ = board.updates.send(Update::Calls { tenant, calls: Arc::new(calls) });
                }
                Err(e) => {
                    crate::log(&format!("reading the park of {tenant}: {e}"));
                    let (up, total) = board.esl.link();
                    let _ = board.updates.send(Update::Link { up, total });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_the_order_star88_takes_them() {
        let listing = r#"{"count":4,"calls":[
            {"tenant":"acme.example","extension":"105","uuid":"a"},
            {"tenant":"acme.example","extension":"102","uuid":"b"},
            {"tenant":"globex.example","extension":"102","uuid":"x"},
            {"tenant":"acme.example","extension":"105","uuid":"c"},
            {"tenant":"acme.example","extension":"1001","uuid":"d"}]}"#;
        let calls = order("acme.example", listing).unwrap();
        let got: Vec<(&str, u64)> =
            calls.iter().map(|c| (c["uuid"].as_str().unwrap(), c["position"].as_u64().unwrap())).collect();
        assert_eq!(got, [("b", 1), ("a", 1), ("c", 2), ("d", 1)]);
    }

    #[test]
    fn an_error_is_said() {
        let e = order("acme.example", "-ERR no such thing\n").unwrap_err();
        assert!(e.contains("-ERR no such thing"), "{e}");
    }
}
