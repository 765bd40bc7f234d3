//! A shared park on a Redis that asks who is calling: a password (`requirepass`), a
//! Redis 6 ACL user, a password read from a file, TLS with the CA named, and TLS where
//! Redis asks for this node's certificate. Real `redis-server`s on loopback ports, with
//! certificates this test makes with `openssl`. A wrong password, file or certificate is
//! said by `callpark status` (never the password itself), and the node still parks.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use callpark::clock::ManualClock;
use callpark::config;
use callpark::listing::store_status;
use callpark::store::{RedisStore, RedisTarget};
use callpark::{DialOutcome, Engine, Timing};
use common::redis_server::{self, Server};
use common::*;

struct Node {
    engine: Engine,
    host: Arc<FakeHost>,
}

impl Node {
    fn new(target: RedisTarget) -> Node {
        let config = config::from_xml("test.conf.xml", &group_conf(r#"recall="parking-user""#)).unwrap();
        let host = Arc::new(FakeHost::default());
        host.add_users(ACME, &["101", "102", "103", "104", "105"]);
        let store = RedisStore::new(target).expect("a store");
        Node {
            engine: Engine::with_store(
                config,
                host.clone(),
                Timing::Manual(Arc::new(ManualClock::default())),
                Box::new(store),
            ),
            host,
        }
    }

    fn status(&self) -> String {
        store_status(&self.engine.store_status())
    }

    fn park(&self, uuid: &str, dialed: &str) -> DialOutcome {
        dial(&self.engine, ACME, uuid, dialed, None, Some("101")).unwrap_or_else(|f| panic!("{dialed}: {:?}", f.error))
    }

    fn listed(&self) -> Vec<String> {
        self.engine.list(Some(ACME)).unwrap().into_iter().map(|c| c.uuid).collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn target(url: String, prefix: &str, node: &str) -> RedisTarget {
    RedisTarget {
        url,
        node: node.into(),
        address: format!("{}:5060", redis_server::node_host(node)),
        prefix: prefix.into(),
        grace_ms: redis_server::GRACE_MS,
        ..RedisTarget::default()
    }
}

/// A folder of this test's own.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("callpark-security-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tls_server(dir: &Path, clients_need_a_certificate: bool) -> Server {
    let port = free_port();
    let d = dir.display();
    let args = format!(
        "--port 0 --tls-port {port} --tls-cert-file {d}/server.pem --tls-key-file {d}/server.key \
         --tls-ca-cert-file {d}/ca.pem --tls-auth-clients {}",
        if clients_need_a_certificate { "yes" } else { "no" }
    );
    redis_server::start_with(port, &args, false)
}

#[test]
fn a_password_or_an_acl_user_and_a_wrong_one() {
    let port = free_port();
    let server = redis_server::start_with(port, "--requirepass s3cret-pw", false);
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(target(format!("redis://:s3cret-pw@127.0.0.1:{port}/0"), &prefix, "a"));
    assert_eq!(a.park("caller-1", "*68102"), parked("102").unwrap());
    // Another node as a Redis 6 ACL user with only the park's keys.
    let mut admin =
        redis::Client::open(format!("redis://:s3cret-pw@127.0.0.1:{port}/0")).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("callpark")
        .arg("on")
        .arg(">acl-pw")
        .arg(format!("~{prefix}*"))
        .arg("+@all")
        .query(&mut admin)
        .unwrap();
    let b = Node::new(target(format!("redis://callpark:acl-pw@127.0.0.1:{port}/0"), &prefix, "b"));
    b.engine.sync();
    assert_eq!(b.listed(), ["caller-1"], "B, an ACL user, sees A's call");
    let status = b.status();
    assert!(status.contains("redis://callpark:***@127.0.0.1") && status.contains("(reachable)"), "{status}");
    assert!(!status.contains("acl-pw"), "the password shown: {status}");
    // A wrong password: said, never shown; the node parks on itself.
    let c = Node::new(target(format!("redis://:n0t-it@127.0.0.1:{port}/0"), &prefix, "c"));
    c.engine.sync();
    let status = c.status();
    assert!(status.contains("UNREACHABLE") && !status.contains("n0t-it"), "{status}");
    assert!(status.contains("authentication failed"), "why is said: {status}");
    assert_eq!(c.park("caller-2", "*68103"), parked("103").unwrap(), "no caller is dropped");
    server.stop();
}

#[test]
fn a_password_from_a_file() {
    let port = free_port();
    let server = redis_server::start_with(port, "--requirepass from-a-file", false);
    let prefix = redis_server::fresh_prefix();
    let dir = scratch("pw");
    std::fs::write(dir.join("redis.pw"), "from-a-file\n").unwrap();
    let a = Node::new(RedisTarget {
        password_file: dir.join("redis.pw").display().to_string(),
        ..target(format!("redis://127.0.0.1:{port}/0"), &prefix, "a")
    });
    a.park("caller-1", "*68102");
    assert!(a.status().contains("(reachable)"), "{}", a.status());
    // A file that is not there: said at once; the node parks on itself.
    let b = Node::new(RedisTarget {
        password_file: dir.join("missing.pw").display().to_string(),
        ..target(format!("redis://127.0.0.1:{port}/0"), &prefix, "b")
    });
    let status = b.status();
    assert!(status.contains("UNREACHABLE") && status.contains("missing.pw"), "{status}");
    assert_eq!(b.park("caller-2", "*68103"), parked("103").unwrap());
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_with_the_ca_named_and_with_a_client_certificate() {
    let dir = scratch("tls");
    redis_server::certificates(&dir);
    let ca = dir.join("ca.pem").display().to_string();
    let prefix = redis_server::fresh_prefix();
    let server = tls_server(&dir, false);
    let url = format!("rediss://127.0.0.1:{}/0", server.port);
    let a = Node::new(RedisTarget { tls_ca: ca.clone(), ..target(url.clone(), &prefix, "a") });
    let b = Node::new(RedisTarget { tls_ca: ca.clone(), ..target(url.clone(), &prefix, "b") });
    a.park("caller-1", "*68102");
    b.engine.sync();
    assert_eq!(b.listed(), ["caller-1"], "over TLS: {}", b.status());
    // Without the CA (the system's roots do not know it): said, and parked on itself.
    let c = Node::new(target(url, &prefix, "c"));
    c.engine.sync();
    let status = c.status();
    assert!(status.contains("UNREACHABLE") && status.to_lowercase().contains("certificate"), "{status}");
    assert_eq!(c.park("caller-2", "*68103"), parked("103").unwrap());
    server.stop();
    // Redis that asks for this node's certificate.
    let server = tls_server(&dir, true);
    let url = format!("rediss://127.0.0.1:{}/0", server.port);
    let d = Node::new(RedisTarget {
        tls_ca: ca.clone(),
        tls_cert: dir.join("client.pem").display().to_string(),
        tls_key: dir.join("client.key").display().to_string(),
        ..target(url.clone(), &prefix, "d")
    });
    d.park("caller-3", "*68104");
    assert!(d.status().contains("(reachable)"), "{}", d.status());
    let e = Node::new(RedisTarget { tls_ca: ca, ..target(url, &prefix, "e") });
    e.engine.sync();
    assert!(e.status().contains("UNREACHABLE"), "no certificate, no connection: {}", e.status());
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

/// Whoever can write to Redis registers a node whose address would add a leg to a dial
/// string, makes a parked call that node's, and forges a hand-over token: the node's
/// record is skipped (logged once), no hand-over goes anywhere, the forged token takes
/// nothing.
#[test]
fn records_forged_in_redis_reach_no_dial_string_and_take_no_call() {
    use redis::Commands;
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(target(server.url(), &prefix, "a"));
    a.park("victim", "*68103");
    let mut r = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    let _: () = r.hset(format!("{prefix}nodes"), "evil", "10.0.0.5:5080").unwrap();
    let _: () =
        r.set_ex(format!("{prefix}node|evil"), "10.0.0.5:5080,sofia/gateway/pstn/19005550100|x|1", 600).unwrap();
    let _: () = r.hset(format!("{prefix}call|victim"), "node", "evil").unwrap();
    let _: () = r.hset(format!("{prefix}calls"), "victim", "evil").unwrap();
    let b = Node::new(target(server.url(), &prefix, "b"));
    for _ in 0..3 {
        b.engine.sync();
    }
    assert_eq!(b.listed(), ["victim"], "B reads the call, said to be evil's");
    let picked = dial(&b.engine, ACME, "desk-103", "*88103", Some("103"), None);
    assert!(picked.is_err(), "nobody reaches a node with no valid address: {picked:?}");
    assert!(b.host.hand_overs().is_empty(), "no hand-over, no leg: {:?}", b.host.hand_overs());
    let said: Vec<String> = b.host.logs.lock().iter().filter(|l| l.contains("node \"evil\"")).cloned().collect();
    assert_eq!(said.len(), 1, "the forged node is logged once: {said:?}");
    assert!(said[0].contains("skipped"), "{said:?}");
    // A forged token for A's call, sent from B's address: nothing is taken.
    let _: () = r.hset(format!("{prefix}call|victim"), "node", "a").unwrap();
    let _: () = r.set_ex(format!("{prefix}token|00ff00ff"), "victim|a|b|", 60).unwrap();
    let took = a.engine.take_over("00ff00ff", "leg-1", redis_server::node_host("b"));
    assert!(took.is_err(), "{took:?}");
    let took = a.engine.take_over("00ff00ff", "leg-2", "198.51.100.7");
    assert!(matches!(took, Err(callpark::DialError::NotANode { .. })), "{took:?}");
    assert_eq!(a.listed(), ["victim"], "A still holds its call");
}
