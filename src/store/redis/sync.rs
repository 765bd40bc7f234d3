//! The mirror and Redis kept in line: the changes read since the mirror was (from the
//! log, else the whole park), merged call by call, and what this node did while Redis
//! did not answer, or what Redis lost, written back.

use std::collections::HashSet;
use std::time::Instant;

use redis::Commands;

use super::record::{claim_text, parse_claim, printable, Fields, OnCluster};
use super::scripts::LOG_LEN;
use super::{RedisStore, CLAIM_TTL};
use crate::store::{Claim, ParkStore, ParkedCall, Place, Refreshed, StoreError};

impl RedisStore {
    /// [`ParkStore::refresh`]: the mirror brought up to date, this node's heartbeat
    /// renewed, the calls of nodes that stopped removed, and what this node did while
    /// Redis was away written back.
    pub(super) fn read_back(&mut self) -> Result<Refreshed, StoreError> {
        let mut version = self.read_version()?;
        // Alive first: a node back after its grace is not reaped again while it writes.
        if self.link.lost() {
            self.beat_at = None;
        }
        self.beat(false)?;
        // A node that left (an unload) writes nothing back: its next life adopts.
        if !self.left && (self.link.lost() || !self.unsynced.is_empty() || !self.unclaims.is_empty()) {
            self.restore()?;
            version = self.read_version()?;
        }
        self.flush_gone()?;
        self.release_stale()?;
        let me = self.target.node.clone();
        // A node that stopped changes no version: its heartbeat is looked at as often as
        // this node renews its own.
        if version.is_some() && version == self.version && !self.look_for_dead {
            return Ok(Refreshed {
                commands: std::mem::take(&mut self.inbox),
                skipped: std::mem::take(&mut self.bad),
                ..Refreshed::default()
            });
        }
        let offset = self.offset();
        let mut out = Refreshed::default();
        let mut changed: HashSet<Place> = HashSet::new();
        if std::mem::take(&mut self.look_for_dead) {
            // Heartbeats may be lost with Redis (a restart): nobody is taken for dead
            // before every live node has had the time to renew its own.
            let judge = self.link.connected_at.is_some_and(|t| t.elapsed() >= self.grace());
            if judge {
                let mut reaped = self.reap(&me)?;
                // Calls this node held in an earlier life (it was killed and started again
                // under its name): not adopted by now, their media is gone with it.
                if !self.swept && self.born.elapsed() >= self.grace() {
                    reaped.extend(self.sweep(&me)?);
                    self.swept = true;
                }
                for (uuid, f) in reaped {
                    if let Some(c) =
                        self.mirror.remove(&uuid).or_else(|| Self::remote_call(&uuid, &f, &self.plan, offset))
                    {
                        changed.insert(Self::place_of(&c));
                        out.lost.push(c);
                    }
                }
                if !out.lost.is_empty() {
                    version = self.read_version()?;
                }
            }
        }
        // The calls changed since the mirror was read: from the log when it still holds
        // every change since, else all of them.
        let since = self.version;
        let log = self.keys.key(&["log"]);
        let logged: Option<Vec<String>> = match (since, version) {
            (Some(a), Some(b)) if b == a => Some(Vec::new()),
            (Some(a), Some(b)) if b > a && b - a <= LOG_LEN => {
                let entries: Vec<String> = self
                    .link
                    .run(|con| redis::cmd("ZRANGEBYSCORE").arg(&log).arg(format!("({a}")).arg(b).query(con))?;
                let uuids: HashSet<String> =
                    entries.iter().filter_map(|e| e.split_once(':').map(|(_, u)| u.to_string())).collect();
                (entries.len() as i64 == b - a).then(|| uuids.into_iter().collect())
            }
            _ => None,
        };
        // A park told here is one read from the log: a whole read (a node far behind, Redis
        // restarted) finds calls told long ago.
        let incremental = logged.is_some();
        let uuids: Vec<String> = match logged {
            Some(u) => u,
            None => {
                let calls = self.keys.key(&["calls"]);
                let mut all: HashSet<String> = self.link.run(|con| con.hkeys(&calls))?;
                all.extend(self.mirror.calls(None).into_iter().map(|c| c.uuid.clone()));
                all.into_iter().collect()
            }
        };
        let fields: Vec<Fields> = if uuids.is_empty() {
            Vec::new()
        } else {
            let (k, sc) = (&self.keys, &self.scripts);
            let flat: Vec<Vec<String>> = self.link.run(|con| {
                let mut inv = sc.fetch.prepare_invoke();
                for u in &uuids {
                    inv.key(k.call(u));
                }
                inv.invoke(con)
            })?;
            flat.into_iter()
                .map(|f| f.chunks(2).filter(|p| p.len() == 2).map(|p| (p[0].clone(), p[1].clone())).collect())
                .collect()
        };
        let mut new_calls = Vec::new();
        let mut missing = Vec::new();
        let mut stale = Vec::new();
        for (uuid, f) in uuids.iter().zip(fields) {
            self.merge(uuid, f, &me, offset, &mut changed, &mut out.released, &mut new_calls, &mut missing, &mut stale);
        }
        if !stale.is_empty() && !self.left {
            let (k, sc) = (&self.keys, &self.scripts);
            self.link.run(|con| {
                for (uuid, t, e) in &stale {
                    Self::delete_call(con, k, sc, uuid, t, e)?;
                }
                Ok(())
            })?;
        }
        for (c, quiet) in new_calls {
            changed.insert(Self::place_of(&c));
            // Told here only when parked since this node first read the park, and never
            // told before (a call its node restored comes back quietly).
            if incremental && !quiet && c.claim.is_none() {
                out.arrived.push(c.clone());
            }
            self.mirror.add(c);
        }
        out.arrived.sort_by_key(|c| c.seq);
        self.version = version;
        // Our calls Redis lost (it restarted empty, or took this node for dead): written
        // back, quietly: every node told its phones of them when they were parked.
        if !missing.is_empty() && !self.left {
            let (k, sc) = (&self.keys, &self.scripts);
            self.link.run(|con| {
                for c in &missing {
                    let parked_at = Self::to_cluster(c.parked_at_ms, offset, 1);
                    Self::write_call(con, k, sc, c, usize::MAX, OnCluster { seq: c.seq, parked_at, quiet: true })?;
                }
                Ok(())
            })?;
            self.version = None;
        }
        out.places = changed.into_iter().collect();
        out.commands = std::mem::take(&mut self.inbox);
        out.skipped = std::mem::take(&mut self.bad);
        Ok(out)
    }

    /// Writes back what this node did while Redis did not answer (or what Redis lost):
    /// claims given back, removals, and the calls it holds that Redis has not, in their
    /// park order (those Redis never had are told to the other nodes' phones then; the
    /// others come back quietly).
    pub(super) fn restore(&mut self) -> Result<(), StoreError> {
        let pending: Vec<(String, String)> = self.unclaims.iter().map(|(u, t)| (u.clone(), t.clone())).collect();
        for (uuid, text) in &pending {
            self.give_back(uuid, text)?;
            self.unclaims.remove(uuid);
        }
        self.flush_gone()?;
        let me = self.target.node.clone();
        let mine: Vec<ParkedCall> = self
            .mirror
            .calls(None)
            .into_iter()
            .filter(|c| c.node == me && !matches!(c.claim, Some(Claim::Abandon | Claim::Exit)))
            .cloned()
            .collect();
        let offset = self.offset();
        let (k, sc, unsynced) = (&self.keys, &self.scripts, &self.unsynced);
        self.link.run(|con| {
            for c in &mine {
                let there: bool = con.exists(k.call(&c.uuid))?;
                if !there {
                    let parked_at = Self::to_cluster(c.parked_at_ms, offset, 1);
                    let at = OnCluster { seq: c.seq, parked_at, quiet: !unsynced.contains(&c.uuid) };
                    Self::write_call(con, k, sc, c, usize::MAX, at)?;
                } else if let Some(cl) = &c.claim {
                    // Claimed here while Redis was away (a pick-up, an answered recall): the
                    // claim is written, unless another node's stands (whose retriever finds
                    // the call gone when its token is redeemed here).
                    let text = format!("{me}|{}", claim_text(cl));
                    let _: (i64, i64) = sc
                        .claim
                        .key(k.call(&c.uuid))
                        .key(k.key(&["version"]))
                        .key(k.key(&["log"]))
                        .arg(&text)
                        .arg(&c.uuid)
                        .invoke(con)?;
                }
            }
            Ok(())
        })?;
        self.unsynced.clear();
        self.link.recovered();
        // Redis may have restarted (its version and log begun anew): read it whole.
        self.version = None;
        Ok(())
    }

    /// Writes the removals of this node's calls that left.
    pub(super) fn flush_gone(&mut self) -> Result<(), StoreError> {
        let gone: Vec<(String, (String, String))> = self.gone.iter().map(|(u, p)| (u.clone(), p.clone())).collect();
        for (uuid, (t, e)) in gone {
            let (k, sc) = (&self.keys, &self.scripts);
            let (_, v) = self.link.run(|con| Self::delete_call(con, k, sc, &uuid, &t, &e))?;
            self.gone.remove(&uuid);
            self.wrote(v);
        }
        Ok(())
    }

    /// Gives the claim `text` on `uuid` back, if it still stands: the new version (0: it
    /// did not stand).
    pub(super) fn give_back(&mut self, uuid: &str, text: &str) -> Result<i64, StoreError> {
        let (k, sc) = (&self.keys, &self.scripts);
        self.link.run(|con| {
            sc.unclaim
                .key(k.call(uuid))
                .key(k.key(&["version"]))
                .key(k.key(&["log"]))
                .arg(uuid)
                .arg(text)
                .invoke::<i64>(con)
        })
    }

    /// Claims other nodes made on calls held here and never redeemed (the retriever or
    /// its node went away): given back, so that the call is parked again.
    fn release_stale(&mut self) -> Result<(), StoreError> {
        let stale: Vec<String> =
            self.elsewhere.iter().filter(|(_, t)| t.elapsed() >= CLAIM_TTL).map(|(u, _)| u.clone()).collect();
        for uuid in stale {
            self.elsewhere.remove(&uuid);
            let key = self.keys.call(&uuid);
            let text: Option<String> = self.link.run(|con| con.hget(&key, "claim"))?;
            if let Some(text) = text {
                self.give_back(&uuid, &text)?;
            }
        }
        Ok(())
    }

    /// This node's own write moved the park to version `v`: if nobody else wrote since
    /// the mirror was read, the mirror (changed by the same write) is still the park.
    pub(super) fn wrote(&mut self, v: i64) {
        if v > 0 && self.version.is_some_and(|old| old + 1 == v) {
            self.version = Some(v);
        }
    }

    /// Brings the mirror's `uuid` in line with what Redis has of it (`f`, empty when it
    /// is gone). A call new here is added to `new_calls`, with whether it comes back
    /// quietly (its node restored it: the phones were told of it before).
    #[allow(clippy::too_many_arguments)]
    fn merge(
        &mut self,
        uuid: &str,
        f: Fields,
        me: &str,
        offset: i64,
        changed: &mut HashSet<Place>,
        released: &mut Vec<String>,
        new_calls: &mut Vec<(ParkedCall, bool)>,
        missing: &mut Vec<ParkedCall>,
        stale: &mut Vec<(String, String, String)>,
    ) {
        let theirs = f.get("claim").map(|c| parse_claim(c));
        match (f.is_empty(), self.mirror.get(uuid).map(|c| c.node == me)) {
            (true, None) => {}
            // Ours, and Redis has it not: written back (unless it is leaving).
            (true, Some(true)) => {
                if let Some(c) =
                    self.mirror.get(uuid).filter(|c| !matches!(c.claim, Some(Claim::Abandon | Claim::Exit)))
                {
                    missing.push(c.clone());
                }
            }
            (true, Some(false)) => {
                if let Some(c) = self.mirror.remove(uuid) {
                    changed.insert(Self::place_of(&c));
                }
            }
            // Ours: what only we know stays; the claim is whoever's won it.
            (false, Some(true)) => {
                let Some(c) = self.mirror.get_mut(uuid) else { return };
                match (&c.claim, theirs) {
                    // It left here while Redis was away: Redis is told on restore.
                    (Some(Claim::Abandon | Claim::Exit), _) => {}
                    // The node that claimed it gave it back (its retriever failed). A claim
                    // this node made itself (during an outage) stands: written on restore.
                    (Some(_), None) if self.elsewhere.contains_key(uuid) => {
                        c.claim = None;
                        let p = Self::place_of(c);
                        self.elsewhere.remove(uuid);
                        released.push(uuid.to_string());
                        changed.insert(p);
                    }
                    (None, Some(t)) => {
                        c.claim = Some(t);
                        let p = Self::place_of(c);
                        self.elsewhere.insert(uuid.to_string(), Instant::now());
                        changed.insert(p);
                    }
                    _ => {}
                }
            }
            // Another node's: only its claim changes once it is parked.
            (false, Some(false)) => {
                let Some(c) = self.mirror.get_mut(uuid) else { return };
                if c.claim.is_some() != theirs.is_some() {
                    c.claim = theirs;
                    changed.insert(Self::place_of(c));
                }
            }
            (false, None) => {
                if f.get("node").is_some_and(|n| n != me) {
                    let quiet = f.get("quiet").is_some_and(|q| q == "1");
                    match Self::remote_call(uuid, &f, &self.plan, offset) {
                        Some(c) => new_calls.push((c, quiet)),
                        None => self.note_bad(format!(
                            "call {:?} of node {:?}",
                            printable(uuid, 80),
                            printable(&f.get("node").cloned().unwrap_or_default(), 80)
                        )),
                    }
                } else if self.swept {
                    // This node's by Redis, and held here by nobody, past the time an
                    // earlier life's calls are adopted: a removal Redis lost (a failover
                    // to a replica that had not received it). Removed, or every node
                    // would show a call nobody can pick up.
                    if let (Some(t), Some(e)) = (f.get("tenant"), f.get("extension")) {
                        stale.push((uuid.to_string(), t.clone(), e.clone()));
                    }
                }
            }
        }
    }

    fn place_of(c: &ParkedCall) -> Place {
        Place { tenant: c.tenant.clone(), extension: c.extension.clone(), group: c.group.clone() }
    }

    /// The park's version, and in the same round trip the operator's commands other
    /// nodes sent this one (up to 16 at a time).
    pub(super) fn read_version(&mut self) -> Result<Option<i64>, StoreError> {
        // No version yet is version 0 (nothing ever changed, or Redis restarted empty).
        let key = self.keys.key(&["version"]);
        let ops = self.keys.key(&["ops", &self.target.node]);
        let sc = &self.scripts;
        let (version, commands): (Option<i64>, Vec<String>) =
            self.link.run(|con| sc.version.key(&key).key(&ops).invoke(con))?;
        for c in commands {
            // `<id>|<text>`: an id of hex digits and dashes; the engine checks the text.
            if let Some((id, text)) = c.split_once('|') {
                if !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                    self.inbox.push((id.to_string(), text.to_string()));
                }
            }
        }
        Ok(Some(version.unwrap_or(0)))
    }
}
