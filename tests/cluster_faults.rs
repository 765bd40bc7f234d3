//! The shared park under faults: what a node does while Redis is stopped or frozen, how
//! it merges what it did when Redis is back, when another node is taken for dead, and
//! how park times and order read the same on every node. Real `redis-server`s on
//! loopback ports, engines with fake switches and virtual clocks.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use callpark::clock::ManualClock;
use callpark::config;
use callpark::engine::AdoptRequest;
use callpark::host::Action;
use callpark::{DialError, DialFailure, DialOutcome, DialRequest, Engine, Timing};
use common::redis_server::{self, Server};
use common::*;

struct Node {
    engine: Engine,
    host: Arc<FakeHost>,
    clock: Arc<ManualClock>,
}

fn conf() -> String {
    group_conf(r#"recall="parking-user""#)
}

impl Node {
    fn new(server: &Server, prefix: &str, name: &str) -> Node {
        Self::with_store(redis_server::store(server, prefix, name))
    }

    fn with_store(store: callpark::store::RedisStore) -> Node {
        Self::started_before(store, 0)
    }

    /// A node whose process started `ms` before the others (its clock is that far ahead).
    fn started_before(store: callpark::store::RedisStore, ms: u64) -> Node {
        let config = config::from_xml("test.conf.xml", &conf()).unwrap_or_else(|e| panic!("{e}"));
        let host = Arc::new(FakeHost::default());
        host.add_users(ACME, &["101", "102", "103", "104", "105"]);
        let clock = Arc::new(ManualClock::default());
        clock.advance(ms);
        let engine = Engine::with_store(config, host.clone(), Timing::Manual(clock.clone()), Box::new(store));
        Node { engine, host, clock }
    }

    /// `uuid`, transferred by `by`, dials `dialed` (a blind transfer to a park code).
    fn park(&self, uuid: &str, dialed: &str, by: &str) -> Result<DialOutcome, DialFailure> {
        dial(&self.engine, ACME, uuid, dialed, None, Some(by))
    }

    /// `uuid`, a phone of `user`, dials `dialed` (a retrieve code).
    fn pick_up(&self, uuid: &str, dialed: &str, user: &str) -> Result<DialOutcome, DialError> {
        dial(&self.engine, ACME, uuid, dialed, Some(user), None).map_err(|f| f.error)
    }

    fn listed(&self) -> Vec<String> {
        self.engine.list(Some(ACME)).unwrap().into_iter().map(|c| c.uuid).collect()
    }

    fn count(&self, action: Action) -> usize {
        self.host.events().iter().filter(|e| e.action == action).count()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Syncs `n` until it reaches Redis again (it tries once a second after a failure).
fn until_reachable(n: &Node) {
    redis_server::until_reachable(&n.engine);
}

/// Redis with its data on disk, in a folder of its own.
fn persistent() -> (Server, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("callpark-faults-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    (redis_server::start_persistent(free_port(), &dir), dir)
}

#[test]
fn a_park_while_redis_is_down_is_kept_on_this_node_and_shared_when_it_is_back() {
    let server = redis_server::start(free_port());
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(&server, &prefix, "a");
    server.stop();
    // Parked here, not bounced: listed, lit and picked up by this node's phones.
    assert_eq!(a.park("caller-1", "*68103", "101").map_err(|f| f.error.to_string()), Ok(parked("103").unwrap()));
    assert_eq!(a.park("caller-2", "*68104", "101").map_err(|f| f.error.to_string()), Ok(parked("104").unwrap()));
    assert_eq!(a.listed(), ["caller-1", "caller-2"]);
    assert_eq!(a.host.lamp_count(ACME, "103"), Some(1), "the lamp is lit");
    assert!(a.host.sent_back().is_empty(), "nobody was sent back: {:?}", a.host.sent_back());
    assert_eq!(
        a.pick_up("desk-103", "*88103", "103"),
        Ok(DialOutcome::Retrieved { parked_uuid: "caller-1".into(), extension: "103".into() })
    );
    assert_eq!(a.listed(), ["caller-2"]);
    // Redis is back (empty): A writes what it holds; B sees it and picks it up.
    let again = redis_server::start(server.port);
    until_reachable(&a);
    let b = Node::new(&again, &prefix, "b");
    b.engine.sync();
    assert_eq!(b.listed(), ["caller-2"], "B sees the call A parked during the outage");
    b.engine.probe(ACME, "park+104", Some("105")).unwrap();
    assert_eq!(b.host.lamp_count(ACME, "104"), Some(1), "a subscriber on B sees it lit");
    b.pick_up("desk-104", "*88104", "104").unwrap();
    let (_, _, token) = b.host.hand_overs().pop().expect("a hand-over to A");
    a.engine.take_over(&token, "leg-104", "127.0.0.12").unwrap();
    assert!(a.listed().is_empty());
    b.engine.sync();
    assert!(b.listed().is_empty());
    again.stop();
}

#[test]
fn a_call_sent_back_during_an_outage_and_not_taken_goes_back_into_the_park() {
    let server = redis_server::start(free_port());
    let a = Node::new(&server, &redis_server::fresh_prefix(), "a");
    server.stop();
    // 101 did not take the call sent back to it: it is parked at 101, never hung up.
    let r = a.engine.dial(&DialRequest {
        tenant: ACME,
        uuid: "caller-1",
        dialed: "*68999",
        user: None,
        transferor: Some("101"),
        caller_number: "1",
        caller_name: "",
        back_to_park: true,
        transferred: true,
        operator: false,
        timeout: "",
    });
    assert_eq!(r.map_err(|f| f.error.to_string()), Ok(parked("101").unwrap()));
    assert_eq!(a.listed(), ["caller-1"]);
}

#[test]
fn a_reload_while_redis_is_down_keeps_the_call_for_every_node() {
    let (server, dir) = persistent();
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(&server, &prefix, "a");
    a.park("caller-1", "*68102", "101").unwrap();
    server.stop();
    // `reload mod_callpark` on A: the engine goes, a new one adopts what the switch holds.
    drop(a);
    let a = Node::new(&server, &prefix, "a");
    let adopted = a.engine.adopt(&AdoptRequest {
        tenant: ACME,
        uuid: "caller-1",
        extension: "102",
        parking_user: "101",
        caller_number: "003386002678",
        caller_name: "",
        parked_secs_ago: 5,
        timeout: "",
    });
    assert_eq!(adopted.map_err(|e| e.to_string()), Ok(()));
    assert_eq!(a.listed(), ["caller-1"]);
    let again = redis_server::start_persistent(server.port, &dir);
    until_reachable(&a);
    let b = Node::new(&again, &prefix, "b");
    // Past the time a node looks for what its earlier life left (a heartbeat's life).
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(redis_server::GRACE_MS + 1000) {
        a.engine.sync();
        b.engine.sync();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(a.listed(), ["caller-1"], "A still has it");
    assert_eq!(b.listed(), ["caller-1"], "B sees it");
    assert_eq!(a.count(Action::Abandoned) + b.count(Action::Abandoned), 0, "nobody abandoned it");
    b.pick_up("desk-102", "*88102", "102").unwrap();
    let (_, _, token) = b.host.hand_overs().pop().expect("a hand-over to A");
    a.engine.take_over(&token, "leg-102", "127.0.0.12").unwrap();
    again.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_recall_answered_during_an_outage_connects() {
    let server = redis_server::start(free_port());
    let a = Node::new(&server, &redis_server::fresh_prefix(), "a");
    a.park("caller-1", "*68102", "101").unwrap();
    server.stop();
    a.clock.advance(60_000);
    a.engine.advance(0);
    let ring = a.host.rings().pop().expect("the recall rings 101");
    assert_eq!(ring.extension, "101");
    assert_eq!(a.engine.recall_answered("caller-1", ring.attempt, "recall-leg").map_err(|e| e.to_string()), Ok(()));
    assert!(a.listed().is_empty(), "it left the park");
    assert_eq!(a.count(Action::Retrieved), 1, "{:?}", a.host.actions());
    assert_eq!(a.count(Action::Abandoned), 0);
}

#[test]
fn a_frozen_redis_keeps_no_hang_up_or_probe_waiting() {
    let server = redis_server::start(free_port());
    let a = Arc::new(Node::new(&server, &redis_server::fresh_prefix(), "a"));
    a.park("caller-1", "*68102", "101").unwrap();
    server.freeze();
    // A park on a dial thread meets the frozen Redis first (it waits for its own
    // operation's time-out)...
    let parker = {
        let a = a.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let r = a.park("caller-2", "*68103", "101");
            (r, t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    // ...and the switch's event threads (a hang-up, a new subscriber's probe) do not wait
    // for it: each returns in a fraction of the park's wait, measured side by side.
    let t = Instant::now();
    a.engine.hangup("caller-1").unwrap();
    a.engine.probe(ACME, "park+102", Some("104")).unwrap();
    let handlers = t.elapsed();
    let (parked2, park_took) = parker.join().unwrap();
    server.thaw();
    assert!(park_took >= Duration::from_millis(300), "the park met no frozen Redis ({park_took:?})");
    assert!(
        handlers * 4 < park_took,
        "the hang-up and the probe took {handlers:?}: they waited for the park, which took {park_took:?}"
    );
    assert_eq!(parked2.map_err(|f| f.error.to_string()), Ok(parked("103").unwrap()));
    a.engine.sync();
    assert_eq!(a.listed(), ["caller-2"], "the hang-up was carried out");
    let probe = a.host.lamp(ACME, &callpark::host::Target::Extension("102".into())).unwrap();
    assert_eq!((probe.state.count, probe.subscriber.as_deref()), (0, Some("104")), "the probe was answered");
    server.stop();
}

#[test]
fn a_node_silent_for_a_few_seconds_is_not_taken_for_dead() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    // The default grace (no node-grace in the configuration).
    let grace = callpark::config::DEFAULT_GRACE_MS;
    let a = Node::with_store(redis_server::store_with_grace(server, &prefix, "a", grace));
    let b = Node::with_store(redis_server::store_with_grace(server, &prefix, "b", grace));
    a.park("caller-1", "*68102", "101").unwrap();
    b.engine.sync();
    let told = b.host.messages().len();
    // A renews nothing for 4.5 s (cut off from Redis, or between an unload and a load).
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(4500) {
        b.engine.sync();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.listed(), ["caller-1"], "B keeps A's call");
    assert_eq!(b.count(Action::Abandoned), 0);
    assert_eq!(b.host.lamp_count(ACME, "102"), Some(1), "the lamp stays lit");
    a.engine.sync();
    b.engine.sync();
    assert_eq!(b.host.messages().len(), told, "nobody told twice");
}

#[test]
fn a_node_taken_for_dead_and_back_restores_its_calls_quietly() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let grace = 2000;
    let a = Node::with_store(redis_server::store_with_grace(server, &prefix, "a", grace));
    let b = Node::with_store(redis_server::store_with_grace(server, &prefix, "b", grace));
    a.park("caller-1", "*68102", "101").unwrap();
    b.engine.sync();
    let told = b.host.messages().len();
    assert!(told > 0);
    let t = Instant::now();
    while !b.listed().is_empty() {
        assert!(t.elapsed() < Duration::from_millis(grace * 4), "B never took A for dead");
        b.engine.sync();
        std::thread::sleep(Duration::from_millis(100));
    }
    // A is back: its call is parked again everywhere, and no phone is told twice.
    a.engine.sync();
    b.engine.sync();
    assert_eq!(b.listed(), ["caller-1"]);
    assert_eq!(b.host.lamp_count(ACME, "102"), Some(1));
    assert_eq!(b.host.messages().len(), told, "told again: {:?}", b.host.messages());
}

#[test]
fn park_times_and_order_are_the_same_on_every_node() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(server, &prefix, "a");
    // B's process started 100 s before A's: their clocks differ.
    let b = Node::started_before(redis_server::store(server, &prefix, "b"), 100_000);
    a.park("caller-1", "*68102", "101").unwrap();
    a.clock.advance(1000);
    a.park("caller-2", "*68102", "101").unwrap();
    b.engine.sync();
    let secs: Vec<(String, u64)> =
        b.engine.list(Some(ACME)).unwrap().into_iter().map(|c| (c.uuid, c.parked_secs)).collect();
    assert!(secs.iter().all(|(_, s)| *s <= 2), "B counts A's park times from its own clock: {secs:?}");
    // A reloads and adopts the two calls in another order: they keep their places.
    drop(a);
    let a = Node::new(server, &prefix, "a");
    for (uuid, ago) in [("caller-2", 0), ("caller-1", 1)] {
        a.engine
            .adopt(&AdoptRequest {
                tenant: ACME,
                uuid,
                extension: "102",
                parking_user: "101",
                caller_number: "003386002678",
                caller_name: "",
                parked_secs_ago: ago,
                timeout: "",
            })
            .unwrap();
    }
    b.engine.sync();
    assert_eq!(a.listed(), ["caller-1", "caller-2"], "oldest first on A");
    assert_eq!(b.listed(), ["caller-1", "caller-2"], "oldest first on B");
    assert_eq!(
        b.pick_up("desk-102", "*88102", "102"),
        Ok(DialOutcome::Retrieved { parked_uuid: "caller-1".into(), extension: "102".into() }),
        "B takes the oldest"
    );
}

#[test]
fn a_second_node_with_a_running_node_s_name_is_refused() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let a = Arc::new(Node::new(server, &prefix, "a"));
    // A runs: its heartbeat is renewed (its timer thread would sync it every 250 ms).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running = {
        let (a, stop) = (a.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                a.engine.sync();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let copy = callpark::store::RedisStore::new(callpark::store::RedisTarget {
        url: server.url(),
        node: "a".into(),
        address: "127.0.0.9:5060".into(),
        prefix: prefix.clone(),
        ..Default::default()
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    running.join().unwrap();
    match copy {
        Ok(_) => panic!("a second node named a was taken"),
        Err(e) => assert!(e.to_string().contains("node \"a\" is running at"), "{e}"),
    }
    // A reload of A itself (the engine freed, a new one made) is no duplicate, and takes
    // no longer than a store with a free name.
    drop(Arc::try_unwrap(a).ok().expect("the only reference"));
    let t = Instant::now();
    let again = Node::new(server, &prefix, "a");
    let reload = t.elapsed();
    let t = Instant::now();
    let _fresh = Node::new(server, &prefix, "z");
    let fresh = t.elapsed();
    assert!(again.engine.store_status().reachable);
    assert!(reload < fresh * 4 + Duration::from_millis(200), "a reload waited: {reload:?} against {fresh:?}");
}

/// An operator's command on B for a call A holds is carried out by A (A's host runs it
/// as if typed there), and B answers what A answered; a park of a channel B does not
/// have is asked of every other node.
#[test]
fn an_operator_command_for_another_node_s_call_is_carried_out_there() {
    use callpark::command::{self, Command};
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let a = Arc::new(Node::new(server, &prefix, "a"));
    let b = Node::new(server, &prefix, "b");
    let uuid = "4cbf1e2a-57d4-4a34-9d0f-0f3c2a6b8e11";
    a.park(uuid, "*68102", "101").unwrap();
    a.engine.sync();
    b.engine.sync();
    let hangup = command::parse(&format!("hangup {uuid} acme.example")).unwrap();
    assert!(a.engine.elsewhere(&hangup, true).is_none(), "A holds it: A acts");
    let (nodes, asked) = b.engine.elsewhere(&hangup, true).expect("A holds it: B asks A");
    assert_eq!(nodes, ["a"]);
    // A's timer thread (its sync, here) carries out what it is sent.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let timer = {
        let (a, stop) = (a.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                a.engine.sync();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    *a.host.operate_answer.lock() = Some(format!("+OK hung up {uuid} parked at 102 in acme.example\n"));
    let line = b.engine.forward(&asked, &nodes);
    assert_eq!(line, format!("+OK hung up {uuid} parked at 102 in acme.example\n"));
    assert_eq!(*a.host.operated.lock(), [format!("hangup {uuid} acme.example")], "A ran the command as typed");
    // A retrieve of an extension becomes one of the call found there.
    let retrieve = command::parse("retrieve 102@acme.example 103").unwrap();
    let (_, one) = b.engine.elsewhere(&retrieve, true).expect("the call at 102 is A's");
    assert!(matches!(&one, Command::Retrieve { target: command::Target::Call(u), .. } if u == uuid), "{one:?}");
    // A park of a channel B does not have: every other node is asked; a refusal is the answer.
    let park = command::parse(&format!("park {uuid} 105")).unwrap();
    assert!(b.engine.elsewhere(&park, true).is_none(), "a channel B has is parked by B");
    let (nodes, asked) = b.engine.elsewhere(&park, false).expect("asked of the others");
    *a.host.operate_answer.lock() = Some("-ERR there is no call 0\n".into());
    assert_eq!(b.engine.forward(&asked, &nodes), "-ERR there is no call 0\n");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    timer.join().unwrap();
    // What is written there that is no operator's command is refused unread, and an
    // entry with no id of ours is dropped.
    let mut r = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    let ops = format!("{prefix}ops|a");
    let _: () = redis::cmd("RPUSH").arg(&ops).arg("abc-0|status").arg("no id|hangup x").query(&mut r).unwrap();
    a.engine.sync();
    let answer: Option<String> = redis::cmd("GET").arg(format!("{prefix}answer|abc-0")).query(&mut r).unwrap();
    assert_eq!(answer.as_deref(), Some("-ERR not an operator's command\n"));
    assert_eq!(a.host.operated.lock().len(), 2, "nothing more was run");
}

/// Issue 22, item 9: an engine quiesced for an unload the switch then refuses
/// (NOUNLOAD: the engine stays, nothing runs behind it) renews its heartbeat no more, even
/// if something still syncs it: past the grace the others take the node for dead.
#[test]
fn a_quiesced_node_stops_its_heartbeat() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(server, &prefix, "a");
    let b = Node::new(server, &prefix, "b");
    a.park("caller-1", "*68102", "101").unwrap();
    b.engine.sync();
    a.engine.quiesce();
    let t = Instant::now();
    while !b.listed().is_empty() {
        assert!(t.elapsed() < Duration::from_millis(redis_server::GRACE_MS * 3), "A's heartbeat goes on");
        a.engine.sync();
        b.engine.sync();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.count(Action::Abandoned), 1);
}

/// Three nodes park at one slot limited to two calls at the same moment, over and over:
/// never more than two parked, and every node lists them in the same order, the one the
/// parks were made in.
#[test]
fn three_nodes_keep_a_slot_s_limit_and_one_order() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let xml = group_conf_with(r#"recall="parking-user""#, "max-calls-per-extension", "2");
    let make = |name: &str| {
        let config = config::from_xml("test.conf.xml", &xml).unwrap();
        let host = Arc::new(FakeHost::default());
        host.add_users(ACME, &["101", "102", "103", "104", "105"]);
        let clock = Arc::new(ManualClock::default());
        let store = redis_server::store(server, &prefix, name);
        let engine = Engine::with_store(config, host.clone(), Timing::Manual(clock.clone()), Box::new(store));
        Arc::new(Node { engine, host, clock })
    };
    let nodes = [make("a"), make("b"), make("c")];
    for round in 0..10 {
        let barrier = Arc::new(std::sync::Barrier::new(3));
        let parked: Vec<bool> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (n, barrier) = (n.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    n.park(&format!("r{round}-n{i}"), "*68102", "101").is_ok()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(parked.iter().filter(|p| **p).count(), 2, "round {round}: two of three parked");
        for n in &nodes {
            n.engine.sync();
        }
        let lists: Vec<Vec<String>> = nodes.iter().map(|n| n.listed()).collect();
        assert_eq!(lists[0].len(), 2, "round {round}: {lists:?}");
        assert!(lists.iter().all(|l| *l == lists[0]), "round {round}: one order on every node: {lists:?}");
        // Both picked up from the first node (handed over to the holding node when it
        // is another).
        for k in 0..2 {
            nodes[0].host.did.lock().clear();
            nodes[0].pick_up(&format!("desk-{round}-{k}"), "*88102", "102").unwrap();
            if let Some((_, address, token)) = nodes[0].host.hand_overs().pop() {
                let holder =
                    ["b", "c"].iter().position(|n| address.starts_with(redis_server::node_host(n))).unwrap() + 1;
                nodes[holder].engine.take_over(&token, &format!("leg-{round}-{k}"), "127.0.0.11").unwrap();
            }
            for n in &nodes {
                n.engine.sync();
            }
        }
        for n in &nodes {
            n.engine.sync();
            assert!(n.listed().is_empty(), "round {round}: node still lists {:?}", n.listed());
        }
    }
}

/// A park made while Redis was frozen (its add timed out, and Redis ran it when it went
/// on), whose caller hung up before this node wrote back: no ghost of it stays in Redis.
#[test]
fn a_park_that_timed_out_and_left_leaves_no_ghost() {
    let server = redis_server::start(free_port());
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(&server, &prefix, "a");
    server.freeze();
    a.park("caller-1", "*68102", "101").expect("kept on A");
    a.engine.hangup("caller-1").unwrap();
    server.thaw();
    until_reachable(&a);
    a.engine.sync();
    let b = Node::new(&server, &prefix, "b");
    b.engine.sync();
    assert!(b.listed().is_empty(), "a ghost in Redis: {:?}", b.listed());
    server.stop();
}

/// During an outage a node's phone picks up the node's own call at a slot, though an
/// older call of another node is there first.
#[test]
fn during_an_outage_a_node_picks_up_its_own_call_behind_another_node_s() {
    let server = redis_server::start(free_port());
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(&server, &prefix, "a");
    let b = Node::new(&server, &prefix, "b");
    b.park("caller-b", "*68102", "101").unwrap();
    // A second later (the nodes' virtual clocks move only when told).
    a.clock.advance(1000);
    a.engine.sync();
    a.park("caller-a", "*68102", "101").unwrap();
    assert_eq!(a.listed(), ["caller-b", "caller-a"]);
    server.stop();
    assert_eq!(
        a.pick_up("desk-102", "*88102", "102"),
        Ok(DialOutcome::Retrieved { parked_uuid: "caller-a".into(), extension: "102".into() })
    );
}

/// A pick-up claimed on the holding node while Redis was away, still under way when
/// Redis answers again: the claim is written back, and no node takes the call as free.
#[test]
fn a_claim_made_during_an_outage_is_written_back() {
    use callpark::store::{Claim, ParkStore};
    let (server, dir) = persistent();
    let prefix = redis_server::fresh_prefix();
    let mut a = redis_server::store(&server, &prefix, "a");
    let plan = callpark::Config::default().tenant(ACME).recall.clone();
    let call = callpark::store::ParkedCall {
        parking_user: "101".into(),
        ..callpark::store::ParkedCall::new("x", ACME, "102", plan)
    };
    a.insert(call, usize::MAX).unwrap();
    server.stop();
    a.claim("x", Claim::Retrieve { by: "leg".into() }).expect("claimed here during the outage");
    let again = redis_server::start_persistent(server.port, &dir);
    let t = Instant::now();
    while a.refresh().is_err() {
        assert!(t.elapsed() < Duration::from_secs(5), "A does not reach Redis again");
        std::thread::sleep(Duration::from_millis(50));
    }
    a.refresh().unwrap();
    assert!(a.get("x").unwrap().claim.is_some(), "A's own claim stands");
    let mut b = redis_server::store(&again, &prefix, "b");
    b.refresh().unwrap();
    assert!(b.get("x").is_some_and(|c| c.claim.is_some()), "B sees it claimed");
    assert!(b.claim("x", Claim::Retrieve { by: "other".into() }).is_err(), "B cannot take it");
    again.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A call another node picked up (handed over to this one) leaves no recall timer behind
/// on the node that held it.
#[test]
fn a_call_taken_over_leaves_no_timer() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let a = Node::new(server, &prefix, "a");
    let b = Node::new(server, &prefix, "b");
    a.park("caller-1", "*68102", "101").unwrap();
    assert_eq!(a.engine.pending_timers(), 1);
    b.engine.sync();
    b.pick_up("desk-102", "*88102", "102").unwrap();
    a.engine.sync();
    let (_, _, token) = b.host.hand_overs().pop().expect("a hand-over to A");
    a.engine.take_over(&token, "leg-102", "127.0.0.12").unwrap();
    assert_eq!((a.engine.parked_count(), a.engine.pending_timers()), (0, 0));
}
