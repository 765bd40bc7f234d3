//! What a park shared by several switches adds to the rules: reading what the other
//! nodes changed (their lamps, the calls of a node that stopped), and taking over, on
//! the node that holds a call, the retriever another node sent with a token.

use super::park::{park_messages, place_in_slot};
use super::{DialOutcome, Engine, Inner, Shared};
use crate::command::{answered_ok, Command, Target};
use crate::error::DialError;
use crate::host::{Action, BridgeError, LogLevel};
use crate::store::StoreStatus;
use parking_lot::MutexGuard;
use std::sync::atomic::Ordering;

impl Shared {
    /// The engine's lock, with the store up to date with the other nodes.
    pub(super) fn lock_fresh(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock();
        self.refresh(&mut inner);
        inner
    }

    /// Takes in what the other nodes changed: lamps of the slots they changed, an
    /// `abandoned` event for each call of a node that stopped, timers of calls given
    /// back. A store that cannot be reached is logged once, until it answers again; the
    /// park goes on with what this node last saw. Under the lock.
    pub(super) fn refresh(&self, inner: &mut Inner) {
        match inner.store.refresh() {
            Ok(r) => {
                if self.store_down.swap(false, Ordering::SeqCst) {
                    inner.logs.push((LogLevel::Notice, "callpark: the park store answers again".into()));
                }
                let config = self.config.read().clone();
                for p in &r.places {
                    Self::queue_lamps(inner, &p.tenant, &p.extension, p.group.as_deref());
                    // The visual park notice shows what *88 picks up there, as the lamp.
                    Self::queue_park_info(inner, config.tenant(&p.tenant), &p.tenant, &p.extension, false);
                }
                for c in &r.lost {
                    let ev = Self::event(
                        Action::Abandoned,
                        c,
                        None,
                        Self::attempt_of(c),
                        Some(format!("node {} stopped", c.node)),
                    );
                    inner.outbox.push_back(ev);
                }
                for uuid in &r.released {
                    self.rearm(inner, uuid);
                }
                if !r.commands.is_empty() {
                    self.commands.lock().extend(r.commands);
                }
                for what in &r.skipped {
                    inner.logs.push((
                        LogLevel::Warning,
                        format!("callpark: skipped a record of the park store that fails its checks: {what}"),
                    ));
                }
                if !r.arrived.is_empty() {
                    for c in &r.arrived {
                        let t = config.tenant(&c.tenant);
                        let group = c.group.as_deref().and_then(|g| t.group(g)).filter(|_| c.group_park);
                        let recipients = match group {
                            Some(g) => &g.members[..],
                            None => std::slice::from_ref(&c.extension),
                        };
                        let (number, name) = (&c.caller_number, &c.caller_name);
                        let position = place_in_slot(inner, &c.tenant, &c.extension, &c.uuid);
                        park_messages(
                            t,
                            &c.tenant,
                            &c.extension,
                            &c.parking_user,
                            number,
                            name,
                            recipients,
                            position,
                            &mut inner.outbox,
                        );
                    }
                }
            }
            Err(e) => {
                if !self.store_down.swap(true, Ordering::SeqCst) {
                    inner.logs.push((
                        LogLevel::Error,
                        format!("callpark: {e}; this node keeps serving the calls it holds, and parks on itself, until it answers"),
                    ));
                }
            }
        }
    }
}

impl Engine {
    /// Reads what the other nodes changed and tells this node's phones (the engine's
    /// timer thread does it every [`SYNC_MS`] with a shared store).
    pub fn sync(&self) {
        {
            let mut inner = self.shared.inner.lock();
            self.shared.refresh(&mut inner);
        }
        self.shared.deliver();
        self.shared.run_commands();
    }

    /// Where an operator's `command` must be carried out when this node cannot: the
    /// node holding the call (`retrieve`, `hangup`; a retrieve of an extension becomes
    /// one of the call found there), or, for a `park` of a channel this switch does not
    /// have (`here` false), every other node. `None`: here.
    pub fn elsewhere(&self, command: &Command, here: bool) -> Option<(Vec<String>, Command)> {
        let inner = self.shared.inner.lock();
        let me = inner.store.node().to_string();
        if me.is_empty() {
            return None;
        }
        let held_by = |uuid: &str| inner.store.get(uuid).map(|c| c.node.clone()).filter(|n| *n != me);
        match command {
            Command::Hangup { uuid, .. } | Command::Retrieve { target: Target::Call(uuid), .. } => {
                held_by(uuid).map(|n| (vec![n], command.clone()))
            }
            Command::Retrieve { target: Target::Extension(ext), user, tenant: Some(t), json } => {
                let c = inner.store.oldest_in_slot(t, ext).filter(|c| c.node != me)?;
                let one = Command::Retrieve {
                    target: Target::Call(c.uuid.clone()),
                    user: user.clone(),
                    tenant: Some(t.clone()),
                    json: *json,
                };
                Some((vec![c.node.clone()], one))
            }
            Command::Park { .. } if !here => {
                let others: Vec<String> = inner.store.status().others.into_iter().map(|(n, _)| n).collect();
                (!others.is_empty()).then(|| (others, command.clone()))
            }
            _ => None,
        }
    }

    /// Has `nodes` carry out `command` and waits (on the caller's thread, at most
    /// [`FORWARD_WAIT_MS`]) for their answers: the first that did it, else the first
    /// refusal, else why none answered. The line as the node that acted wrote it.
    pub fn forward(&self, command: &Command, nodes: &[String]) -> String {
        let s = &self.shared;
        let base = format!("{:016x}", crate::store::random_u64());
        let text = command.text();
        let mut pending: Vec<(String, String)> = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let id = format!("{base}-{i}");
            if let Err(e) = s.inner.lock().store.send_command(node, &id, &text) {
                return format!("-ERR node {node} could not be asked ({e})\n");
            }
            pending.push((id, node.clone()));
        }
        let end = std::time::Instant::now() + std::time::Duration::from_millis(FORWARD_WAIT_MS);
        let mut refused: Option<String> = None;
        while !pending.is_empty() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(40));
            let mut inner = s.inner.lock();
            let mut i = 0;
            while i < pending.len() {
                match inner.store.answer_of(&pending[i].0) {
                    Ok(Some(line)) if answered_ok(&line) => return line,
                    Ok(Some(line)) => {
                        refused.get_or_insert(line);
                        pending.swap_remove(i);
                    }
                    _ => i += 1,
                }
            }
        }
        refused.unwrap_or_else(|| {
            let names: Vec<&str> = pending.iter().map(|(_, n)| n.as_str()).collect();
            format!("-ERR node {} did not answer within {FORWARD_WAIT_MS} ms\n", names.join(", "))
        })
    }

    /// A retriever sent by another node arrived here on `leg_uuid` with `token`: it is
    /// bridged to the call the token is for, held here, which leaves the park
    /// (`retrieved`). A token unknown, used, expired or not for this node is `NotFound`.
    /// A hand-over must come from `from`, the host of a node seen alive in the store; a
    /// phone another node redirected here (`cross-node-pickup` `redirect`) comes from
    /// anywhere, with a redirect's token only, and its call is claimed here.
    pub fn take_over(&self, token: &str, leg_uuid: &str, from: &str) -> Result<DialOutcome, DialError> {
        let bad = |e: String| DialError::BadRequest(e);
        let token = super::clean::clean_id("token", token).map_err(bad)?;
        let leg = super::clean::clean_id("uuid", leg_uuid).map_err(bad)?;
        let s = &self.shared;
        let redirects = s.config.read().store.redirects();
        let (parked, extension, ringing) = {
            // Checked against the nodes known before anything is written: a call from
            // anywhere else changes nothing in the store, and costs a read only where
            // phones are redirected here (a limited number a second).
            let mut inner = s.inner.lock();
            let from_node = inner.store.node_at(from).map_err(DialError::Store)?.is_some();
            if !from_node && !redirects {
                return Err(DialError::NotANode { from: from.into() });
            }
            let redeemed = inner.store.redeem(token, from_node).map_err(DialError::Store)?;
            let found = redeemed.and_then(|r| inner.store.get(&r.uuid).map(|c| (r, c.extension.clone(), c.recall)));
            let Some((redeemed, extension, recall)) = found else {
                return Err(DialError::NotParked { uuid: format!("for token {token}") });
            };
            if !redeemed.claimed
                && s.claim(&mut inner, &redeemed.uuid, crate::store::Claim::Retrieve { by: leg.into() }).is_err()
            {
                return Err(DialError::NotParked { uuid: format!("for token {token} (taken meanwhile)") });
            }
            (redeemed.uuid, extension, matches!(recall, crate::store::RecallState::Ringing(_)))
        };
        if ringing {
            s.host.cancel_ring(&parked);
        }
        let bridged = s.host.bridge(leg, &parked, crate::host::Joining::Retriever);
        let mut inner = s.inner.lock();
        let result = match bridged {
            Ok(()) => {
                s.finish(&mut inner, &parked, Action::Retrieved, Some(leg), None);
                Ok(DialOutcome::Retrieved { parked_uuid: parked, extension })
            }
            Err(BridgeError::ParkedGone(e)) => {
                s.finish(&mut inner, &parked, Action::Abandoned, Some(leg), Some(format!("bridge failed: {e}")));
                Err(DialError::HostFailed(e))
            }
            Err(BridgeError::Failed(e)) => {
                s.unclaim(&mut inner, &parked);
                Err(DialError::HostFailed(e))
            }
        };
        drop(inner);
        s.deliver();
        result
    }

    /// The store behind the park, this node and the other nodes seen.
    pub fn store_status(&self) -> StoreStatus {
        self.shared.inner.lock().store.status()
    }
}

/// How long an operator's command waits for the node that carries it out.
pub const FORWARD_WAIT_MS: u64 = 4000;

impl Shared {
    /// Carries out the operator's commands other nodes sent this one, through the host
    /// (as if typed here), and answers each. A command that is no operator's `park`,
    /// `retrieve` or `hangup` is refused unread.
    pub(super) fn run_commands(&self) {
        let commands = std::mem::take(&mut *self.commands.lock());
        for (id, text) in commands {
            let line = match crate::command::parse(&text) {
                Ok(c @ (Command::Park { .. } | Command::Retrieve { .. } | Command::Hangup { .. })) => {
                    self.host.operate(&c.text()).unwrap_or_else(|| "-ERR this node carries out no commands\n".into())
                }
                _ => "-ERR not an operator's command\n".into(),
            };
            let _ = self.inner.lock().store.answer(&id, &line);
        }
    }
}

/// What a node dials at another to hand it a retriever: `callpark-handover-<token>`.
pub const HANDOVER_PREFIX: &str = crate::names::HANDOVER_PREFIX;

/// How often the timer thread reads what other nodes changed, with a shared store.
pub const SYNC_MS: u64 = 250;
