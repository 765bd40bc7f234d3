//! This node among the others: its heartbeat (one process a name), the other nodes
//! alive and their SIP addresses, the cluster's clock read with each beat, and the
//! calls of nodes that stopped.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use redis::Commands;

use super::link::Link;
use super::record::{printable, Fields};
use super::RedisStore;
use crate::config::valid_node_name;
use crate::store::{ParkStore, StoreError};

/// The longest time between two heartbeats (shorter where the grace is short).
const BEAT_EVERY_MS: u64 = 1000;

/// A node's SIP address read from Redis, if it is one a configuration allows
/// (`<IP address>[:port]`): anything else (`10.0.0.5:5080,sofia/gateway/...`) never
/// reaches a dial string.
pub(super) fn node_address(heartbeat: &str) -> Option<&str> {
    let a = heartbeat.split('|').next()?;
    let (host, port) = match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (a, None),
    };
    let port_ok = port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0));
    (host.parse::<std::net::Ipv4Addr>().is_ok() && port_ok).then_some(a)
}

impl RedisStore {
    /// The heartbeat's value up to its beat count: `<address>|<instance>|`.
    pub(super) fn mark(&self) -> String {
        format!("{}|{}|", self.target.address, self.instance)
    }

    /// Refuses a name another live process renews the heartbeat of. A heartbeat left by
    /// an unload is taken over at once; one that is not renewed within a beat's time is
    /// an earlier life of this node (killed), taken over too.
    pub(super) fn check_name(&mut self) -> Result<(), StoreError> {
        let key = self.keys.node(&self.target.node);
        let read = |link: &mut Link| link.run(|con| con.get::<_, Option<String>>(&key));
        let Ok(Some(first)) = read(&mut self.link) else { return Ok(()) };
        if first.ends_with("|left") {
            return Ok(());
        }
        // A running node renews its heartbeat at least every BEAT_EVERY_MS, on its timer
        // thread's ticks (250 ms): waited for, with a margin.
        std::thread::sleep(Duration::from_millis(BEAT_EVERY_MS + 250 + 350));
        match read(&mut self.link) {
            Ok(Some(now)) if now != first && !now.ends_with("|left") => Err(StoreError(format!(
                "node \"{}\" is running at {}: every node needs a name of its own (<param name=\"node\"/>)",
                self.target.node,
                node_address(&now).unwrap_or("an address that is no IP address")
            ))),
            _ => Ok(()),
        }
    }

    /// How long a heartbeat lasts without renewal (`node-grace`).
    pub(super) fn grace(&self) -> Duration {
        Duration::from_millis(self.target.grace_ms)
    }

    fn beat_every(&self) -> Duration {
        Duration::from_millis(BEAT_EVERY_MS.min(self.target.grace_ms / 3))
    }

    /// The cluster's clock minus the engine's, as of the last heartbeat.
    pub(super) fn offset(&self) -> i64 {
        self.offset_ms
    }

    /// Takes the difference of the two clocks anew (with each heartbeat, and when the
    /// engine gives its clock): between two readings park times keep their intervals.
    pub(super) fn set_offset(&mut self) {
        let cluster_now = self.cluster_at.0 + self.cluster_at.1.elapsed().as_millis() as u64;
        self.offset_ms = cluster_now as i64 - self.clock.now_ms() as i64;
    }

    /// Renews this node's heartbeat (at most once a beat's time, unless `now`), reads
    /// the nodes alive and the cluster's time.
    pub(super) fn beat(&mut self, now: bool) -> Result<(), StoreError> {
        let due = self.beat_at.is_none_or(|t| t.elapsed() >= self.beat_every());
        if self.left || (!due && !now) {
            return Ok(());
        }
        self.beats += 1;
        let me = self.target.node.clone();
        let value = format!("{}{}", self.mark(), self.beats);
        let (key, nodes, grace) = (self.keys.node(&me), self.keys.key(&["nodes"]), self.target.grace_ms);
        let address = self.target.address.clone();
        let asked = Instant::now();
        let sc = &self.scripts;
        let time: (u64, u64) = self
            .link
            .run(|con| sc.beat.key(&key).key(&nodes).arg(&value).arg(grace).arg(&me).arg(&address).invoke(con))?;
        // The cluster's time, taken as at the middle of the round trip.
        let rtt = asked.elapsed();
        self.cluster_at = (time.0 * 1000 + time.1 / 1000, asked + rtt / 2);
        self.set_offset();
        self.read_others()?;
        self.beat_at = Some(Instant::now());
        self.look_for_dead = true;
        Ok(())
    }

    /// Reads the other nodes alive and their SIP addresses: those whose name or address
    /// is none a configuration allows are left out (they reach no dial string).
    pub(super) fn read_others(&mut self) -> Result<(), StoreError> {
        let me = self.target.node.clone();
        let k = &self.keys;
        let (sc, node_prefix) = (&self.scripts, k.node(""));
        let flat: Vec<String> = self.link.run(|con| sc.nodes.key(k.key(&["nodes"])).arg(&node_prefix).invoke(con))?;
        let others: Vec<(String, String)> =
            flat.chunks(2).filter(|p| p.len() == 2 && p[0] != me).map(|p| (p[0].clone(), p[1].clone())).collect();
        self.others.clear();
        for (n, b) in &others {
            match node_address(b).filter(|_| valid_node_name(n)) {
                Some(a) => self.others.push((n.clone(), a.to_string())),
                None => {
                    let what = format!("node {:?} at {:?}", printable(n, 80), printable(b, 120));
                    self.note_bad(what);
                }
            }
        }
        self.others.sort();
        Ok(())
    }

    /// Removes the calls of the nodes whose heartbeat lapsed: each one's uuid and fields.
    pub(super) fn reap(&mut self, me: &str) -> Result<Vec<(String, Fields)>, StoreError> {
        let (k, sc) = (&self.keys, &self.scripts);
        self.link.run(|con| {
            let nodes: Vec<(String, String)> = con.hgetall(k.key(&["calls"]))?;
            let names: Vec<String> =
                nodes.iter().map(|(_, n)| n.clone()).filter(|n| n != me).collect::<HashSet<_>>().into_iter().collect();
            if names.is_empty() {
                return Ok(Vec::new());
            }
            let mut inv = sc.exist.prepare_invoke();
            for n in &names {
                inv.key(k.node(n));
            }
            let up: Vec<bool> = inv.invoke(con)?;
            let dead: HashSet<&String> = names.iter().zip(up).filter(|(_, up)| !up).map(|(n, _)| n).collect();
            let mut reaped = Vec::new();
            for (uuid, _) in nodes.iter().filter(|(_, n)| dead.contains(n)) {
                let f: Fields = con.hgetall(k.call(uuid))?;
                match (f.get("tenant"), f.get("extension")) {
                    // Another node may have removed it first: its `abandoned` is theirs.
                    (Some(t), Some(e)) => {
                        if Self::delete_call(con, k, sc, uuid, t, e)?.0 == 1 {
                            reaped.push((uuid.clone(), f));
                        }
                    }
                    _ => {
                        let _: () = con.hdel(k.key(&["calls"]), uuid)?;
                    }
                }
            }
            Ok(reaped)
        })
    }

    /// Removes the calls Redis has as this node's that this node does not hold.
    pub(super) fn sweep(&mut self, me: &str) -> Result<Vec<(String, Fields)>, StoreError> {
        let held: HashSet<String> = self.mirror.calls(None).into_iter().map(|c| c.uuid.clone()).collect();
        let (k, sc) = (&self.keys, &self.scripts);
        self.link.run(|con| {
            let nodes: Vec<(String, String)> = con.hgetall(k.key(&["calls"]))?;
            let mut swept = Vec::new();
            for (uuid, _) in nodes.iter().filter(|(u, n)| n == me && !held.contains(u)) {
                let f: Fields = con.hgetall(k.call(uuid))?;
                if let (Some(t), Some(e)) = (f.get("tenant"), f.get("extension")) {
                    if Self::delete_call(con, k, sc, uuid, t, e)?.0 == 1 {
                        swept.push((uuid.clone(), f));
                    }
                }
            }
            Ok(swept)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::node_address;

    #[test]
    fn only_an_ip_address_and_port_read_from_redis_is_a_node_s_address() {
        assert_eq!(node_address("10.0.0.5:5080|abc|3"), Some("10.0.0.5:5080"));
        assert_eq!(node_address("10.0.0.5"), Some("10.0.0.5"));
        for bad in [
            "10.0.0.5:5080,sofia/gateway/pstn/1900",
            "10.0.0.5:5080;transport=tcp",
            "evil.example:5060",
            "10.0.0.5:0",
            "10.0.0.5:+80",
            "[::1]:5060",
            "",
            "10.0.0.5:5080 ",
        ] {
            assert_eq!(node_address(bad), None, "{bad}");
        }
    }
}
