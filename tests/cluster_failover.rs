//! The shared park through Sentinel: a Redis primary, a replica and three Sentinels on
//! loopback ports (Debian's `redis-server` and `redis-sentinel`), two nodes whose store
//! names the Sentinels. The primary is killed with calls parked on both nodes; the
//! Sentinels promote the replica; every node follows it, no parked call is lost, and
//! what the replica had not received is put right by the nodes that hold the calls.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use callpark::clock::ManualClock;
use callpark::config;
use callpark::store::{RedisStore, RedisTarget};
use callpark::{DialOutcome, Engine, Timing};
use common::redis_server::{self, Failover, Secure};
use common::*;

struct Node {
    engine: Engine,
    host: Arc<FakeHost>,
}

fn target(f: &Failover, prefix: &str, name: &str) -> RedisTarget {
    RedisTarget {
        url: f.url(),
        node: name.into(),
        address: format!("{}:5060", redis_server::node_host(name)),
        prefix: prefix.into(),
        grace_ms: redis_server::GRACE_MS,
        ..RedisTarget::default()
    }
}

impl Node {
    fn new(f: &Failover, prefix: &str, name: &str) -> Node {
        Self::with(target(f, prefix, name))
    }

    fn with(target: RedisTarget) -> Node {
        let store = RedisStore::new(target).expect("a store through Sentinel");
        let config = config::from_xml("test.conf.xml", &group_conf(r#"recall="parking-user""#)).unwrap();
        let host = Arc::new(FakeHost::default());
        host.add_users(ACME, &["101", "102", "103", "104", "105"]);
        let engine =
            Engine::with_store(config, host.clone(), Timing::Manual(Arc::new(ManualClock::default())), Box::new(store));
        Node { engine, host }
    }

    fn park(&self, uuid: &str, dialed: &str, by: &str) {
        dial(&self.engine, ACME, uuid, dialed, None, Some(by)).unwrap_or_else(|f| panic!("{dialed}: {:?}", f.error));
    }

    fn listed(&self) -> Vec<String> {
        let mut l: Vec<String> = self.engine.list(Some(ACME)).unwrap().into_iter().map(|c| c.uuid).collect();
        l.sort();
        l
    }

    fn reachable(&self) -> bool {
        self.engine.sync();
        self.engine.store_status().reachable
    }
}

/// Syncs both nodes until each has reached the master the Sentinels promoted in place of
/// `old` (at most 30 s): how long that took since `killed`.
fn until_both_follow(f: &Failover, old: u16, a: &Node, b: &Node, killed: Instant) -> Duration {
    loop {
        let promoted = f.master_port().is_some_and(|p| p != old);
        // Each node is synced every round: one that has not noticed the kill does now.
        let (ra, rb) = (a.reachable(), b.reachable());
        if promoted && ra && rb {
            return killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "30 s after the kill: promoted {promoted}, A reaches Redis {ra} ({}), B {rb} ({})",
            a.engine.store_status().why,
            b.engine.store_status().why
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn a_failover_loses_no_parked_call_and_every_node_follows_the_new_master() {
    let f = redis_server::start_failover();
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(&f, &prefix, "a");
    let b = Node::new(&f, &prefix, "b");
    assert!(a.reachable() && b.reachable(), "both nodes reach the master the Sentinels name");
    a.park("caller-a", "*68103", "101");
    b.park("caller-b", "*68104", "102");
    a.engine.sync();
    b.engine.sync();
    assert_eq!(a.listed(), sorted(&["caller-a", "caller-b"]));
    assert_eq!(b.listed(), sorted(&["caller-a", "caller-b"]));
    // A phone on B watches 103, where A holds a call.
    b.engine.probe(ACME, "park+103", Some("105")).unwrap();
    assert_eq!(b.host.lamp_count(ACME, "103"), Some(1));
    f.replicated();

    let old = f.primary.port;
    let killed = Instant::now();
    f.primary.kill();
    let followed = until_both_follow(&f, old, &a, &b, killed);
    assert_eq!(a.listed(), sorted(&["caller-a", "caller-b"]), "A lost no call");
    assert_eq!(b.listed(), sorted(&["caller-a", "caller-b"]), "B lost no call");
    assert_eq!(b.host.lamp_count(ACME, "103"), Some(1), "the lamp on B stayed lit");

    // A new park on B is shared through the new master.
    b.park("caller-c", "*68105", "102");
    a.engine.sync();
    assert!(a.listed().contains(&"caller-c".to_string()), "A sees B's new park: {:?}", a.listed());
    let parked = killed.elapsed();
    // B picks up A's call: the hand-over's token is redeemed on A through the new master.
    let r = dial(&b.engine, ACME, "desk-103", "*88103", Some("103"), None).map_err(|f| f.error);
    assert!(r.is_ok(), "{r:?}");
    let (_, _, token) = b.host.hand_overs().pop().expect("a hand-over to A");
    let took = a.engine.take_over(&token, "leg-103", "127.0.0.12");
    assert!(
        matches!(took, Ok(DialOutcome::Retrieved { ref parked_uuid, .. }) if parked_uuid == "caller-a"),
        "{took:?}"
    );
    let picked = killed.elapsed();
    b.engine.sync();
    assert_eq!(b.listed(), sorted(&["caller-b", "caller-c"]));
    assert_eq!(b.host.lamp_count(ACME, "103"), Some(0), "the lamp on B went out");
    // What docs/admin-guide.md's "Sentinel failover" reports (down-after-milliseconds 1000).
    eprintln!(
        "failover: both nodes on the new master {} ms after the kill; first shared park {} ms, first cross-node \
         pick-up {} ms",
        followed.as_millis(),
        parked.as_millis(),
        picked.as_millis()
    );
}

#[test]
fn what_the_replica_had_not_received_is_put_right_by_the_nodes() {
    use redis::Commands;
    let f = redis_server::start_failover();
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(&f, &prefix, "a");
    let b = Node::new(&f, &prefix, "b");
    // Past the time A would adopt an earlier life's calls.
    std::thread::sleep(Duration::from_millis(redis_server::GRACE_MS + 300));
    assert!(a.reachable() && b.reachable());
    a.park("kept", "*68103", "101");
    a.park("picked", "*68104", "101");
    a.engine.sync();
    let mut primary = redis::Client::open(f.primary.url()).unwrap().get_connection().unwrap();
    let (call, slot, calls) =
        (format!("{prefix}call|picked"), format!("{prefix}slot|{ACME}|104"), format!("{prefix}calls"));
    let record: Vec<(String, String)> = primary.hgetall(&call).unwrap();
    assert!(!record.is_empty() && primary.sismember::<_, _, bool>(&slot, "picked").unwrap());
    // A's phone picks up "picked": its removal reaches the primary.
    let r = dial(&a.engine, ACME, "desk-104", "*88104", Some("104"), None).map_err(|f| f.error);
    assert!(matches!(r, Ok(DialOutcome::Retrieved { .. })), "{r:?}");
    f.replicated();
    // The replica as an asynchronous replica can be when its primary dies: without the
    // last writes (the park of "kept", the removal of "picked").
    let mut replica = redis::Client::open(f.replica.url()).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("replica-read-only").arg("no").query(&mut replica).unwrap();
    let _: () = replica.hset_multiple(&call, &record).unwrap();
    let _: () = replica.sadd(&slot, "picked").unwrap();
    let _: () = replica.hset(&calls, "picked", "a").unwrap();
    let _: () = replica.del(format!("{prefix}call|kept")).unwrap();
    let _: () = replica.hdel(&calls, "kept").unwrap();
    let _: () = replica.srem(format!("{prefix}slot|{ACME}|103"), "kept").unwrap();

    let old = f.primary.port;
    let killed = Instant::now();
    f.primary.kill();
    until_both_follow(&f, old, &a, &b, killed);
    a.engine.sync();
    b.engine.sync();
    assert_eq!(a.listed(), ["kept"], "A holds kept and nothing else");
    assert_eq!(b.listed(), ["kept"], "B sees A's call the replica had lost, and not the one picked up");
    let port = f.master_port().unwrap();
    let mut master = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).unwrap().get_connection().unwrap();
    let held: Vec<String> = master.hkeys(&calls).unwrap();
    assert_eq!(held, ["kept"], "the new master has what A holds");
}

#[test]
fn a_master_turned_replica_by_a_failover_is_left_for_the_new_master() {
    let f = redis_server::start_failover();
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(&f, &prefix, "a");
    let b = Node::new(&f, &prefix, "b");
    assert!(a.reachable() && b.reachable());
    a.park("caller-a", "*68103", "101");
    f.replicated();
    // An operator's failover: the old primary stays up, as a replica (read-only).
    let old = f.primary.port;
    let mut s = redis::Client::open(format!("redis://127.0.0.1:{}", f.sentinels[0].port)).unwrap();
    // Refused until the Sentinel has read the replica's state (it does every few seconds).
    let t = Instant::now();
    while let Err(e) = redis::cmd("SENTINEL").arg("FAILOVER").arg(redis_server::MASTER).query::<()>(&mut s) {
        assert!(t.elapsed() < Duration::from_secs(20), "SENTINEL FAILOVER: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }
    while f.master_port() == Some(old) {
        assert!(t.elapsed() < Duration::from_secs(30), "the Sentinels did not fail over within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A park made as the roles changed is on the new master once B has found it: B
    // writes what it holds back to the master it finds.
    b.park("caller-b", "*68104", "102");
    let held = || -> Vec<String> {
        let Some(port) = f.master_port() else { return Vec::new() };
        let Ok(mut m) = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).and_then(|c| c.get_connection())
        else {
            return Vec::new();
        };
        let mut h: Vec<String> = redis::cmd("HKEYS").arg(format!("{prefix}calls")).query(&mut m).unwrap_or_default();
        h.sort();
        h
    };
    let t = Instant::now();
    while held() != sorted(&["caller-a", "caller-b"]) || a.listed() != sorted(&["caller-a", "caller-b"]) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the new master has {:?}, A lists {:?}; B: {}",
            held(),
            a.listed(),
            b.engine.store_status().why
        );
        a.engine.sync();
        b.engine.sync();
        std::thread::sleep(Duration::from_millis(200));
    }
    // And the old master, a replica now, is written no more: a new park is on the new one.
    a.park("caller-c", "*68105", "101");
    b.engine.sync();
    assert_eq!(b.listed(), sorted(&["caller-a", "caller-b", "caller-c"]));
    assert_eq!(held(), sorted(&["caller-a", "caller-b", "caller-c"]));
}

#[test]
fn through_sentinel_over_tls_with_passwords() {
    let dir = std::env::temp_dir().join(format!("callpark-sentinel-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    redis_server::certificates(&dir);
    let f = redis_server::start_failover_with(Secure {
        tls: Some(dir.clone()),
        password: Some("r3dis-pw".into()),
        sentinel_password: Some("s3ntinel-pw".into()),
    });
    std::fs::write(dir.join("sentinel.pw"), "s3ntinel-pw\n").unwrap();
    let prefix = redis_server::fresh_prefix();
    let node = |name: &str| {
        Node::with(RedisTarget {
            sentinel_password_file: dir.join("sentinel.pw").display().to_string(),
            tls_ca: dir.join("ca.pem").display().to_string(),
            ..target(&f, &prefix, name)
        })
    };
    let (a, b) = (node("a"), node("b"));
    assert!(a.reachable() && b.reachable(), "A: {}; B: {}", a.engine.store_status().why, b.engine.store_status().why);
    let status = callpark::listing::store_status(&b.engine.store_status());
    assert!(status.contains("rediss+sentinel://:***@127.0.0.1:") && !status.contains("r3dis-pw"), "{status}");
    a.park("caller-a", "*68103", "101");
    b.engine.sync();
    assert_eq!(b.listed(), ["caller-a"]);
    f.replicated();
    let old = f.primary.port;
    let killed = Instant::now();
    f.primary.kill();
    let followed = until_both_follow(&f, old, &a, &b, killed);
    assert_eq!(b.listed(), ["caller-a"], "no call lost");
    b.park("caller-b", "*68104", "102");
    a.engine.sync();
    assert_eq!(a.listed(), sorted(&["caller-a", "caller-b"]));
    eprintln!("failover over TLS: both nodes on the new master {} ms after the kill", followed.as_millis());
    // A wrong Sentinel password: said, and the node parks on itself.
    std::fs::write(dir.join("wrong.pw"), "n0t-it\n").unwrap();
    let c = Node::with(RedisTarget {
        sentinel_password_file: dir.join("wrong.pw").display().to_string(),
        tls_ca: dir.join("ca.pem").display().to_string(),
        ..target(&f, &prefix, "c")
    });
    assert!(!c.reachable());
    let why = c.engine.store_status().why;
    assert!(!why.is_empty() && !why.contains("n0t-it"), "{why}");
    c.park("caller-c", "*68105", "101");
    assert_eq!(c.listed(), ["caller-c"], "no caller dropped");
}
