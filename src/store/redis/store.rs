//! The store's operations as the engine asks them ([`ParkStore`]): each change a round
//! trip (a script where it must have one winner), read from the mirror otherwise, and
//! what a node does alone while Redis does not answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::record::{claim_text, OnCluster};
use super::{rand_u64, RedisStore, TOKEN_TTL_S};
use crate::clock::Clock;
use crate::store::{
    Claim, ClaimError, Handover, InsertError, ParkStore, ParkedCall, Redeemed, Refreshed, SlotState, StoreError,
    StoreStatus, PHONE_REDEEMS_PER_S,
};

/// How long an operator's command sent to another node, and its answer, wait there.
const COMMAND_TTL_S: u64 = 30;

impl RedisStore {
    /// A token for a retriever of `uuid` (held by another node) and the node's address:
    /// `claim` is the claim the holder must find standing, or `*` for none.
    fn token(&mut self, uuid: &str, claim: String) -> Result<Handover, StoreError> {
        let node = self.mirror.get(uuid).map(|c| c.node.clone()).unwrap_or_default();
        let find = |s: &Self| s.others.iter().find(|(n, _)| *n == node).map(|(_, a)| a.clone());
        // The nodes seen at the last heartbeat may be out of date (Redis just came back):
        // read them again before giving up.
        let address = match find(self) {
            Some(a) => a,
            None => {
                self.read_others()?;
                find(self).ok_or_else(|| StoreError(format!("node {node:?} holding {uuid} is not alive")))?
            }
        };
        let token = format!("{:016x}{:016x}", rand_u64(), rand_u64());
        let value = format!("{uuid}|{node}|{claim}");
        let key = self.keys.key(&["token", &token]);
        self.link.run(|con| redis::cmd("SET").arg(&key).arg(&value).arg("EX").arg(TOKEN_TTL_S).query::<()>(con))?;
        Ok(Handover { node, address, token })
    }
}

impl ParkStore for RedisStore {
    fn node(&self) -> &str {
        &self.target.node
    }

    fn use_clock(&mut self, clock: Arc<dyn Clock>) {
        let before = self.offset_ms;
        self.clock = clock;
        self.set_offset();
        // The other nodes' calls were read with the store's own clock: their park times
        // moved to the engine's.
        let (me, shift) = (self.target.node.clone(), before - self.offset_ms);
        let theirs: Vec<String> =
            self.mirror.calls(None).into_iter().filter(|c| c.node != me).map(|c| c.uuid.clone()).collect();
        for u in theirs {
            if let Some(c) = self.mirror.get_mut(&u) {
                c.parked_at_ms = Self::to_cluster(c.parked_at_ms, shift, 1);
            }
        }
    }

    fn refresh(&mut self) -> Result<Refreshed, StoreError> {
        self.read_back()
    }

    fn send_command(&mut self, node: &str, id: &str, text: &str) -> Result<(), StoreError> {
        let key = self.keys.key(&["ops", node]);
        let entry = format!("{id}|{text}");
        let sc = &self.scripts;
        self.link.run(|con| sc.send.key(&key).arg(&entry).arg(COMMAND_TTL_S).invoke::<i64>(con)).map(|_| ())
    }

    fn answer_of(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        let key = self.keys.key(&["answer", id]);
        let sc = &self.scripts;
        let answer: Option<String> = self.link.run(|con| sc.take.key(&key).invoke(con))?;
        // Shown to whoever typed the command on this node: lines of printable text.
        Ok(answer.map(|a| a.chars().filter(|c| !c.is_control() || *c == '\n').take(64 * 1024).collect()))
    }

    fn answer(&mut self, id: &str, line: &str) -> Result<(), StoreError> {
        let key = self.keys.key(&["answer", id]);
        self.link.run(|con| redis::cmd("SET").arg(&key).arg(line).arg("EX").arg(COMMAND_TTL_S).query::<()>(con))
    }

    fn insert(&mut self, mut call: ParkedCall, limit: usize) -> Result<(), InsertError> {
        call.node = self.target.node.clone();
        // A removal of this call still to write (it was parked before, under this uuid)
        // goes first, or it would remove the new park.
        if self.gone.contains_key(&call.uuid) {
            let _ = self.flush_gone();
        }
        // The park order and time on the cluster's clock.
        let offset = self.offset();
        let seq = Self::to_cluster(call.seq, offset, 1000);
        let parked_at = Self::to_cluster(call.parked_at_ms, offset, 1);
        let (k, sc) = (&self.keys, &self.scripts);
        let at = || OnCluster { seq, parked_at, quiet: false };
        match self.link.run(|con| Self::write_call(con, k, sc, &call, limit, at())) {
            Ok((s, _)) if s < 0 => Err(InsertError::Full),
            Ok((s, v)) => {
                self.wrote(v);
                call.seq = s as u64;
                self.mirror.add(call);
                Ok(())
            }
            // Redis does not answer: parked on this node, within the slot's limit as this
            // node sees it; written (and told to the other nodes) when Redis is back.
            Err(_) => {
                if self.mirror.slot_len(&call.tenant, &call.extension) >= limit {
                    // Refused here; the add that timed out may still land: undone later.
                    self.gone.insert(call.uuid.clone(), (call.tenant.clone(), call.extension.clone()));
                    return Err(InsertError::Full);
                }
                call.seq = seq;
                self.unsynced.insert(call.uuid.clone());
                self.mirror.add(call);
                Ok(())
            }
        }
    }

    fn get(&self, uuid: &str) -> Option<&ParkedCall> {
        self.mirror.get(uuid)
    }

    fn get_mut(&mut self, uuid: &str) -> Option<&mut ParkedCall> {
        self.mirror.get_mut(uuid)
    }

    fn claim(&mut self, uuid: &str, claim: Claim) -> Result<&mut ParkedCall, ClaimError> {
        let c = self.mirror.get(uuid).ok_or(ClaimError::NotFound)?;
        if c.claim.is_some() {
            return Err(ClaimError::AlreadyTaken);
        }
        let mine = c.node == self.target.node;
        // A caller of this node who hangs up (or presses the exit key) leaves here at
        // once: nobody else can take a call whose media is here, so no round trip (its
        // removal is written by the next refresh, off the switch's threads).
        if mine && matches!(claim, Claim::Abandon | Claim::Exit) {
            return self.mirror.claim(uuid, claim);
        }
        let text = format!("{}|{}", self.target.node, claim_text(&claim));
        let (k, sc) = (&self.keys, &self.scripts);
        let won = self.link.run(|con| {
            sc.claim
                .key(k.call(uuid))
                .key(k.key(&["version"]))
                .key(k.key(&["log"]))
                .arg(&text)
                .arg(uuid)
                .invoke::<(i64, i64)>(con)
        });
        match won.map(|(n, v)| (n, self.wrote(v)).0) {
            Ok(1) => {}
            // Another node's call that is gone: taken for claimed until the next refresh,
            // which reads the whole park and puts its lamp out.
            Ok(0) if !mine => {
                if let Some(c) = self.mirror.get_mut(uuid) {
                    c.claim = Some(Claim::Abandon);
                }
                self.version = None;
                return Err(ClaimError::NotFound);
            }
            // Ours, and Redis lost it (it restarted empty): claimed here; the next
            // refresh writes back what is still parked.
            Ok(0) => self.link.note_lost(),
            Ok(_) => {
                // Claimed on another node since the mirror was read: so it is here too,
                // until the next refresh says by whom.
                if let Some(c) = self.mirror.get_mut(uuid) {
                    c.claim = Some(Claim::Retrieve { by: String::new() });
                    if mine {
                        self.elsewhere.entry(uuid.to_string()).or_insert_with(Instant::now);
                    }
                }
                self.version = None;
                return Err(ClaimError::AlreadyTaken);
            }
            // Redis does not answer: this node settles its own calls (a pick-up by its
            // phones, an answered recall); another node's claim could only be carried
            // out here, through Redis, so this one wins. Redis is told when it is back.
            Err(_) if mine => {}
            Err(e) => return Err(ClaimError::Store(e)),
        }
        self.mirror.claim(uuid, claim)
    }

    fn unclaim(&mut self, uuid: &str) -> Option<&mut ParkedCall> {
        let ours = self.mirror.get(uuid)?.claim.as_ref().map(claim_text)?;
        let text = format!("{}|{ours}", self.target.node);
        match self.give_back(uuid, &text) {
            Ok(v) => self.wrote(v),
            // Given back when Redis answers again (restore).
            Err(_) => {
                self.unclaims.insert(uuid.to_string(), text);
            }
        }
        self.mirror.unclaim(uuid)
    }

    fn claimed_elsewhere(&self, uuid: &str) -> bool {
        self.elsewhere.contains_key(uuid)
    }

    fn remove(&mut self, uuid: &str) -> Option<ParkedCall> {
        let claimed_elsewhere = self.elsewhere.remove(uuid).is_some();
        let c = self.mirror.remove(uuid)?;
        if c.node != self.target.node {
            // Another node's: its node removes it.
            return Some(c);
        }
        let (t, e) = (c.tenant.clone(), c.extension.clone());
        // A caller that left (hung up, pressed the exit key, or while another node's
        // retriever was on its way) is removed from Redis by the next refresh: the
        // switch's thread that told of it does not wait for Redis. So is a call parked
        // while Redis did not answer: its add may have reached Redis after all (a frozen
        // Redis runs what it had received when it goes on); a removal of nothing is none.
        let unsynced = self.unsynced.remove(uuid);
        if unsynced || claimed_elsewhere || matches!(c.claim, Some(Claim::Abandon | Claim::Exit)) || !self.link.is_up()
        {
            self.gone.insert(uuid.to_string(), (t, e));
            return Some(c);
        }
        let (k, sc) = (&self.keys, &self.scripts);
        match self.link.run(|con| Self::delete_call(con, k, sc, uuid, &t, &e)) {
            Ok((_, v)) => self.wrote(v),
            Err(_) => {
                self.gone.insert(uuid.to_string(), (t, e));
            }
        }
        Some(c)
    }

    fn pending_writes(&self) -> bool {
        !self.gone.is_empty() || !self.unsynced.is_empty()
    }

    fn hand_over(&mut self, uuid: &str) -> Result<Handover, StoreError> {
        // The claim the token is for: the holder takes the retriever only while it stands.
        let ours = self.mirror.get(uuid).and_then(|c| c.claim.as_ref()).map(claim_text).unwrap_or_default();
        self.token(uuid, format!("{}|{ours}", self.target.node))
    }

    fn redirect(&mut self, uuid: &str) -> Result<Handover, StoreError> {
        self.token(uuid, "*".into())
    }

    fn redeem(&mut self, token: &str, from_node: bool) -> Result<Option<Redeemed>, StoreError> {
        if !from_node {
            // A phone's: at most PHONE_REDEEMS_PER_S looked up a second.
            let now = Instant::now();
            if now.duration_since(self.phone_redeems.0) >= Duration::from_secs(1) {
                self.phone_redeems = (now, 0);
            }
            if self.phone_redeems.1 >= PHONE_REDEEMS_PER_S {
                return Ok(None);
            }
            self.phone_redeems.1 += 1;
        }
        let me = self.target.node.clone();
        let (k, sc) = (&self.keys, &self.scripts);
        let call_prefix = k.key(&["call", ""]);
        let from = if from_node { "node" } else { "phone" };
        let found: Option<(String, i64)> = self
            .link
            .run(|con| sc.redeem.key(k.key(&["token", token])).arg(&me).arg(&call_prefix).arg(from).invoke(con))?;
        // Only a call this node holds (the token names it, but Redis is no authority on
        // what this switch holds).
        Ok(found
            .filter(|(u, _)| self.mirror.get(u).is_some_and(|c| c.node == me))
            .map(|(uuid, claimed)| Redeemed { uuid, claimed: claimed == 1 }))
    }

    fn node_at(&mut self, host: &str) -> Result<Option<String>, StoreError> {
        let host_of = |a: &str| a.rsplit_once(':').map_or(a, |(h, _)| h).to_string();
        let find =
            |s: &Self| s.others.iter().find(|(_, a)| host_of(a).eq_ignore_ascii_case(host)).map(|(n, _)| n.clone());
        // The nodes seen at the last heartbeat first, then those alive now (a node that
        // has just started). A call from anywhere else costs no write, and an address
        // refused costs no read for half a second: a flood of them costs Redis next to
        // nothing.
        if let Some(n) = find(self) {
            return Ok(Some(n));
        }
        let host = host.to_ascii_lowercase();
        if self.refused.get(&host).is_some_and(|t| t.elapsed() < Duration::from_millis(500)) {
            return Ok(None);
        }
        self.read_others()?;
        let found = find(self);
        if found.is_none() {
            if self.refused.len() >= 1024 {
                self.refused.clear();
            }
            self.refused.insert(host, Instant::now());
        }
        Ok(found)
    }

    fn leave(&mut self) {
        if std::mem::replace(&mut self.left, true) {
            return;
        }
        let (key, mark, sc) = (self.keys.node(&self.target.node), self.mark(), &self.scripts);
        let _ = self.link.run(|con| sc.leave.key(&key).arg(&mark).invoke::<i64>(con));
    }

    fn status(&self) -> StoreStatus {
        StoreStatus {
            kind: self.target.shown_url(),
            node: self.target.node.clone(),
            reachable: self.link.is_up(),
            why: self.link.why(),
            others: self.others.clone(),
        }
    }

    fn slot_len(&self, tenant: &str, extension: &str) -> usize {
        self.mirror.slot_len(tenant, extension)
    }

    fn first_with_room<'c>(&self, tenant: &str, candidates: &'c [String], limit: usize) -> Option<&'c String> {
        self.mirror.first_with_room(tenant, candidates, limit)
    }

    fn oldest_in_slot(&self, tenant: &str, extension: &str) -> Option<&ParkedCall> {
        self.mirror.oldest_in_slot(tenant, extension)
    }

    fn oldest_in_group(&self, tenant: &str, group: &str) -> Option<&ParkedCall> {
        self.mirror.oldest_in_group(tenant, group)
    }

    fn slot_state(&self, tenant: &str, extension: &str) -> SlotState {
        self.mirror.slot_state(tenant, extension)
    }

    fn group_state(&self, tenant: &str, group: &str) -> SlotState {
        self.mirror.group_state(tenant, group)
    }

    fn calls(&self, tenant: Option<&str>) -> Vec<&ParkedCall> {
        self.mirror.calls(tenant)
    }

    fn len(&self) -> usize {
        self.mirror.len()
    }
}
