//! Two nodes (two engines, each with its own fake switch) sharing one park on a real
//! `redis-server` started on a loopback port: what one node parks, the other sees,
//! lights, picks up (through a token the holding node redeems), and cleans up when the
//! holding node stops; Redis stopping keeps every parked call.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use callpark::clock::ManualClock;
use callpark::config;
use callpark::host::{Action, Target};
use callpark::{DialError, DialOutcome, Engine, Timing};
use common::redis_server::GRACE_MS as HEARTBEAT_TTL_MS;
use common::redis_server::{self, Server};
use common::*;

struct Node {
    engine: Engine,
    host: Arc<FakeHost>,
}

impl Node {
    fn new(server: &Server, prefix: &str, name: &str, xml: &str) -> Node {
        let config = config::from_xml("test.conf.xml", xml).unwrap_or_else(|e| panic!("{e}"));
        let host = Arc::new(FakeHost::default());
        host.add_users(ACME, &["101", "102", "103", "104", "105"]);
        let clock = Arc::new(ManualClock::default());
        let store = redis_server::store(server, prefix, name);
        let engine = Engine::with_store(config, host.clone(), Timing::Manual(clock.clone()), Box::new(store));
        Node { engine, host }
    }

    fn dial(&self, uuid: &str, dialed: &str, user: Option<&str>, by: Option<&str>) -> Result<DialOutcome, DialError> {
        dial(&self.engine, ACME, uuid, dialed, user, by).map_err(|f| f.error)
    }
}

fn pair() -> (Node, Node) {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let conf = group_conf(r#"recall="parking-user""#);
    let a = Node::new(server, &prefix, "a", &conf);
    let b = Node::new(server, &prefix, "b", &conf);
    // Each sees the other's heartbeat.
    a.engine.sync();
    b.engine.sync();
    (a, b)
}

fn lamp(n: &Node, ext: &str) -> Option<usize> {
    n.host.lamp_count(ACME, ext)
}

/// B's retriever reached A with the token B handed it: A bridges it locally.
fn arrive(holder: &Node, retriever_node: &Node, leg: &str) -> Result<DialOutcome, DialError> {
    let (_, address, token) = retriever_node.host.hand_overs().pop().expect("a hand-over to the holding node");
    assert_eq!(address, "127.0.0.11:5060", "the holding node's SIP address");
    holder.engine.take_over(&token, leg, "127.0.0.12")
}

#[test]
fn parked_on_a_lit_and_picked_up_on_b_by_extension() {
    let (a, b) = pair();
    assert_eq!(a.dial("caller-1", "*68102", None, Some("101")).map_err(|e| e.to_string()), Ok(parked("102").unwrap()));
    assert_eq!(lamp(&a, "102"), Some(1));
    b.engine.sync();
    assert_eq!(lamp(&b, "102"), Some(1), "B's phones see A's lamp");
    // B tells the phones registered with it, as A tells its own.
    let told = b.host.messages();
    assert!(told.contains(&("102".into(), "003386002678 parked on 102, dial *88102".into())), "{told:?}");
    assert!(told.contains(&("101".into(), "Parked 003386002678 at 102, dial *88102".into())), "{told:?}");
    b.engine.sync();
    assert_eq!(b.host.messages().len(), told.len(), "told once");
    // A subscriber arriving late on B is answered from the shared park.
    b.engine.probe(ACME, "park+102", Some("104")).unwrap();
    let late = b.host.lamp(ACME, &Target::Extension("102".into())).unwrap();
    assert_eq!((late.state.count, late.subscriber.as_deref()), (1, Some("104")));
    assert_eq!(b.engine.list(Some(ACME)).unwrap().len(), 1);

    // 103 dials *88102 on B: B claims the call and sends its retriever to A.
    assert_eq!(
        b.dial("desk-103", "*88102", Some("103"), None),
        Ok(DialOutcome::Retrieved { parked_uuid: "caller-1".into(), extension: "102".into() })
    );
    assert!(!b.host.all().iter().any(|d| matches!(d, Did::Bridge { .. })), "B holds no media to bridge");
    // The leg arriving on A carries the token; A bridges it to the parked caller.
    assert_eq!(
        arrive(&a, &b, "leg-from-b"),
        Ok(DialOutcome::Retrieved { parked_uuid: "caller-1".into(), extension: "102".into() })
    );
    assert!(a.host.all().contains(&Did::Bridge { uuid: "leg-from-b".into(), parked: "caller-1".into() }));
    assert_eq!(a.host.actions(), ["parked", "retrieved"]);
    assert_eq!(lamp(&a, "102"), Some(0));
    b.engine.sync();
    assert_eq!(lamp(&b, "102"), Some(0), "B's lamp goes out too");
    assert!(b.engine.list(Some(ACME)).unwrap().is_empty() && a.engine.parked_count() == 0);
}

#[test]
fn visual_park_notices_on_every_node() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let conf = group_conf_with(r#"recall="parking-user""#, "notices", "callpark-info");
    let a = Node::new(server, &prefix, "a", &conf);
    let b = Node::new(server, &prefix, "b", &conf);
    a.engine.sync();
    b.engine.sync();
    let notices = |n: &Node| -> Vec<(String, String)> {
        n.host
            .all()
            .into_iter()
            .filter_map(|d| match d {
                Did::Notice(callpark::host::Notice::ParkInfo(p)) => Some((p.extension, p.body)),
                _ => None,
            })
            .collect()
    };
    a.dial("caller-1", "*68104", None, Some("101")).unwrap();
    b.engine.sync();
    let on_b = notices(&b);
    assert!(on_b.iter().any(|(e, body)| e == "104" && body.contains("003386002678")), "{on_b:?}");
    b.dial("desk-103", "*88104", Some("103"), None).unwrap();
    arrive(&a, &b, "leg").unwrap();
    b.engine.sync();
    let last = notices(&b).into_iter().rev().find(|(e, _)| e == "104").unwrap();
    assert!(!last.1.contains("003386002678"), "B's phones are told it is gone: {}", last.1);
}

#[test]
fn bare_star88_and_the_lamp_key_on_b() {
    let (a, b) = pair();
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    a.dial("caller-2", "*68104", None, Some("101")).unwrap();
    // 102 on B: bare *88 finds its own call on A.
    assert_eq!(
        b.dial("alice-b", "*88", Some("102"), None),
        Ok(DialOutcome::Retrieved { parked_uuid: "caller-1".into(), extension: "102".into() })
    );
    arrive(&a, &b, "leg-1").unwrap();
    // The lamp key park+104 pressed on a phone of B.
    assert_eq!(
        b.dial("desk-103", "park+104", Some("103"), None),
        Ok(DialOutcome::Retrieved { parked_uuid: "caller-2".into(), extension: "104".into() })
    );
    arrive(&a, &b, "leg-2").unwrap();
    assert_eq!(a.engine.parked_count(), 0);
}

#[test]
fn a_token_is_good_once_and_only_on_the_holding_node() {
    let (a, b) = pair();
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    b.dial("desk-103", "*88102", Some("103"), None).unwrap();
    let (_, _, token) = b.host.hand_overs().pop().unwrap();
    // From an address that is no node: refused before the token is looked at.
    assert!(matches!(a.engine.take_over(&token, "leg-w", "198.51.100.7"), Err(DialError::NotANode { .. })));
    assert!(
        matches!(b.engine.take_over(&token, "leg-x", "127.0.0.11"), Err(DialError::NotParked { .. })),
        "not B's call"
    );
    // The token was spent by that try: a guessed or replayed token takes nothing.
    assert!(matches!(a.engine.take_over(&token, "leg-y", "127.0.0.12"), Err(DialError::NotParked { .. })));
    assert!(matches!(
        a.engine.take_over("00000000000000000000000000000000", "leg-z", "127.0.0.12"),
        Err(DialError::NotParked { .. })
    ));
    assert_eq!(a.engine.parked_count(), 1, "the call is still parked");
}

#[test]
fn a_failed_hand_over_gives_the_call_back_and_its_recall_still_runs_on_a() {
    let (a, b) = pair();
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    b.host.leg_fails.lock().insert("desk-103".into());
    assert!(matches!(b.dial("desk-103", "*88102", Some("103"), None), Err(DialError::HostFailed(_))));
    a.engine.sync();
    // Still parked and unclaimed: A's recall timer runs.
    assert!(a.engine.advance(61_000));
    assert_eq!(a.host.rings().len(), 1, "A (holding the call) recalls it");
    assert!(b.host.rings().is_empty(), "B runs no timer for A's call");
}

#[test]
fn one_winner_when_both_nodes_retrieve_at_once() {
    let (a, b) = pair();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut wins = (0, 0);
    for round in 0..20 {
        let caller = format!("caller-{round}");
        a.dial(&caller, "*68102", None, Some("101")).unwrap();
        b.engine.sync();
        let go = Arc::new(Barrier::new(2));
        let run = |n: Arc<Node>, leg: String, user: &'static str| {
            let go = go.clone();
            std::thread::spawn(move || {
                go.wait();
                n.dial(&leg, "*88102", Some(user), None)
            })
        };
        let ta = run(a.clone(), format!("a-leg-{round}"), "103");
        let tb = run(b.clone(), format!("b-leg-{round}"), "104");
        let (ra, rb) = (ta.join().unwrap(), tb.join().unwrap());
        match (&ra, &rb) {
            (Ok(_), Err(DialError::Empty { .. })) => wins.0 += 1,
            (Err(DialError::Empty { .. }), Ok(_)) => {
                wins.1 += 1;
                arrive(&a, &b, &format!("b-arrives-{round}")).unwrap();
            }
            other => panic!("round {round}: exactly one winner expected, got {other:?}"),
        }
        assert_eq!(a.engine.parked_count(), 0, "round {round}");
    }
    assert_eq!(wins.0 + wins.1, 20);
    eprintln!("retrieve race: A won {}, B won {}", wins.0, wins.1);
}

#[test]
fn group_park_from_a_then_b_takes_different_members() {
    let (a, b) = pair();
    assert_eq!(
        a.dial("caller-1", "*58", None, Some("101")).map_err(|e| e.to_string()),
        Ok(parked_chosen("101").unwrap())
    );
    assert_eq!(
        b.dial("caller-2", "*58", None, Some("102")).map_err(|e| e.to_string()),
        Ok(parked_chosen("102").unwrap())
    );
    assert_eq!(
        a.dial("caller-3", "*58", None, Some("103")).map_err(|e| e.to_string()),
        Ok(parked_chosen("103").unwrap())
    );
    // The group is full on every node.
    assert!(matches!(b.dial("caller-4", "*58", None, Some("101")), Err(DialError::NoFreeMember { .. })));
    b.engine.probe(ACME, "park+sales", Some("104")).unwrap();
    let g = b.host.lamp(ACME, &Target::Group("sales".into())).unwrap();
    assert_eq!(g.state.count, 3);
    // A's group parks reached every member on B too.
    let to: Vec<String> =
        b.host.messages().into_iter().filter(|(_, m)| m.contains("parked on 101")).map(|(r, _)| r).collect();
    assert_eq!(to, ["101", "102", "103"], "every member is told on every node");
}

#[test]
fn a_slot_limit_holds_across_nodes_at_once() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let conf = group_conf_with(r#"recall="parking-user""#, "max-calls-per-extension", "1");
    let a = Arc::new(Node::new(server, &prefix, "a", &conf));
    let b = Arc::new(Node::new(server, &prefix, "b", &conf));
    let go = Arc::new(Barrier::new(2));
    let park = |n: Arc<Node>, uuid: &'static str| {
        let go = go.clone();
        std::thread::spawn(move || {
            go.wait();
            n.dial(uuid, "*68105", None, Some("101"))
        })
    };
    let (ta, tb) = (park(a.clone(), "ca"), park(b.clone(), "cb"));
    let results = [ta.join().unwrap(), tb.join().unwrap()];
    let parked_n = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(parked_n, 1, "one park, one refused: {results:?}");
    assert!(results.iter().any(|r| matches!(r, Err(DialError::SlotFull { .. }))), "{results:?}");
}

#[test]
fn a_node_that_stops_loses_its_calls_everywhere() {
    let (a, b) = pair();
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    a.dial("caller-2", "*58", None, Some("101")).unwrap();
    b.engine.sync();
    assert_eq!(lamp(&b, "102"), Some(1));
    // A is killed: it renews its heartbeat no more.
    std::mem::forget(a);
    let t = Instant::now();
    while b.engine.list(Some(ACME)).unwrap().len() == 2 {
        assert!(t.elapsed() < Duration::from_millis(HEARTBEAT_TTL_MS * 3), "B never noticed A stopped");
        std::thread::sleep(Duration::from_millis(100));
        b.engine.sync();
    }
    let noticed = t.elapsed();
    assert!(b.engine.list(Some(ACME)).unwrap().is_empty(), "no ghost call");
    assert_eq!(lamp(&b, "102"), Some(0), "B's lamp is out");
    let lost: Vec<_> = b.host.events().into_iter().filter(|e| e.action == Action::Abandoned).collect();
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(lost.iter().all(|e| e.detail.as_deref() == Some("node a stopped")));
    eprintln!("node death noticed after {noticed:?} (heartbeat {HEARTBEAT_TTL_MS} ms)");
    assert!(b.engine.store_status().others.is_empty(), "A is no longer seen");
}

#[test]
fn redis_stopped_and_restarted_keeps_every_call() {
    // Its own server: this test stops it.
    let server = redis_server::start(free_port());
    let prefix = redis_server::fresh_prefix();
    let conf = group_conf(r#"recall="parking-user""#);
    let a = Node::new(&server, &prefix, "a", &conf);
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    server.stop();

    // A new park is kept on A (see cluster_faults.rs); the parked call stays, and the
    // outage is logged.
    a.dial("caller-2", "*68103", None, Some("101")).expect("parked on A");
    assert_eq!(a.engine.parked_count(), 2);
    a.engine.sync();
    assert!(a.host.logs.lock().iter().any(|l| l.contains("park store cannot be used")), "logged");

    // Redis comes back empty (no persistence): A writes back what it holds.
    let again = redis_server::start(server.port);
    until_reachable(&a);
    let b = Node::new(&again, &prefix, "b", &conf);
    b.engine.sync();
    let seen: Vec<String> = b.engine.list(Some(ACME)).unwrap().into_iter().map(|c| c.uuid).collect();
    assert_eq!(seen, ["caller-1", "caller-2"], "B sees the calls A kept and parked through the outage");
    b.dial("desk-103", "*88102", Some("103"), None).unwrap();
    let (_, _, token) = b.host.hand_overs().pop().unwrap();
    a.engine.take_over(&token, "leg", "127.0.0.12").unwrap();
    assert_eq!(a.engine.parked_count(), 1, "caller-2 stays");
    again.stop();
}

#[test]
fn a_caller_hanging_up_while_redis_is_away_is_gone_when_it_is_back() {
    // Redis with its data on disk: after the restart it still has the call.
    let dir = std::env::temp_dir().join(format!("callpark-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let server = redis_server::start_persistent(port, &dir);
    let prefix = redis_server::fresh_prefix();
    let conf = group_conf(r#"recall="parking-user""#);
    let a = Node::new(&server, &prefix, "a", &conf);
    let b = Node::new(&server, &prefix, "b", &conf);
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    a.dial("caller-2", "*68103", None, Some("101")).unwrap();
    b.engine.sync();
    assert_eq!(b.engine.list(Some(ACME)).unwrap().len(), 2);
    server.stop();
    // caller-1 hangs up while Redis is away: it leaves A's park at once.
    a.engine.hangup("caller-1").unwrap();
    assert_eq!(a.engine.parked_count(), 1);
    let again = redis_server::start_persistent(port, &dir);
    until_reachable(&a);
    until_reachable(&b);
    let seen: Vec<String> = b.engine.list(Some(ACME)).unwrap().into_iter().map(|c| c.uuid).collect();
    assert_eq!(seen, ["caller-2"], "the call that left is gone from Redis, the other kept");
    again.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Syncs `n` until it reaches Redis again (it tries once a second after a failure).
fn until_reachable(n: &Node) {
    redis_server::until_reachable(&n.engine);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_node_started_again_under_its_name_drops_what_its_earlier_life_held() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let conf = group_conf(r#"recall="parking-user""#);
    let a = Node::new(server, &prefix, "a", &conf);
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    // Killed and started again at once, under the same name: its heartbeat never lapsed.
    std::mem::forget(a);
    let again = Node::new(server, &prefix, "a", &conf);
    let b = Node::new(server, &prefix, "b", &conf);
    b.engine.sync();
    assert_eq!(b.engine.list(Some(ACME)).unwrap().len(), 1, "still listed: node a is alive");
    let t = Instant::now();
    while !b.engine.list(Some(ACME)).unwrap().is_empty() {
        assert!(t.elapsed() < Duration::from_millis(HEARTBEAT_TTL_MS * 3), "the ghost stays");
        std::thread::sleep(Duration::from_millis(100));
        again.engine.sync();
        b.engine.sync();
    }
    let lost: Vec<_> = again.host.events().into_iter().filter(|e| e.action == Action::Abandoned).collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lamp(&b, "102"), Some(0));
}

fn stored_call(uuid: &str, ext: &str) -> callpark::store::ParkedCall {
    stored_call_at(uuid, ext, callpark::clock::ORIGIN_MS)
}

/// A call parked at `ext` at `ms` (by the store's clock), its park order as the engine
/// gives it (its park time in thousandths of a millisecond).
fn stored_call_at(uuid: &str, ext: &str, ms: u64) -> callpark::store::ParkedCall {
    let plan = callpark::Config::default().tenant(ACME).recall.clone();
    callpark::store::ParkedCall {
        parking_user: "101".into(),
        parked_at_ms: ms,
        seq: ms * 1000,
        ..callpark::store::ParkedCall::new(uuid, ACME, ext, plan)
    }
}

#[test]
fn a_node_gives_back_only_its_own_claim() {
    use callpark::store::{Claim, ParkStore};
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let mut a = redis_server::store(server, &prefix, "a");
    let mut b = redis_server::store(server, &prefix, "b");
    a.insert(stored_call("x", "102"), usize::MAX).unwrap();
    b.refresh().unwrap();
    b.claim("x", Claim::Retrieve { by: "leg".into() }).expect("B claims A's call");
    a.refresh().unwrap();
    assert!(a.get("x").unwrap().claim.is_some(), "A sees B's claim");
    // A (its own hand-over failing, say) gives back what it takes for the claim: B's
    // claim stands, B's retriever still gets the call.
    a.unclaim("x");
    b.refresh().unwrap();
    assert!(b.get("x").unwrap().claim.is_some(), "B's claim was not A's to give back");
    b.unclaim("x");
    a.refresh().unwrap();
    assert!(a.get("x").unwrap().claim.is_none(), "B gave it back: parked again on A");
}

#[test]
fn park_order_goes_on_after_redis_restarts_empty() {
    use callpark::store::ParkStore;
    let server = redis_server::start(free_port());
    let prefix = redis_server::fresh_prefix();
    let mut a = redis_server::store(&server, &prefix, "a");
    let t0 = callpark::clock::ORIGIN_MS;
    for (i, u) in ["x1", "x2", "x3"].into_iter().enumerate() {
        a.insert(stored_call_at(u, "102", t0 + i as u64 * 1000), usize::MAX).unwrap();
    }
    let last = a.get("x3").unwrap().seq;
    server.stop();
    let again = redis_server::start(server.port);
    // The old connection is gone: the next read makes a new one and writes back.
    a.refresh().expect("written back");
    a.insert(stored_call_at("y", "102", t0 + 3000), usize::MAX).unwrap();
    assert!(a.get("y").unwrap().seq > last, "a new park comes after the calls written back");
    let order: Vec<&str> = a.calls(Some(ACME)).iter().map(|c| c.uuid.as_str()).collect();
    assert_eq!(order, ["x1", "x2", "x3", "y"]);
    again.stop();
}

#[test]
fn a_stopped_node_s_calls_are_abandoned_once_across_the_cluster() {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let conf = group_conf(r#"recall="parking-user""#);
    let a = Node::new(server, &prefix, "a", &conf);
    let b = Node::new(server, &prefix, "b", &conf);
    let c = Node::new(server, &prefix, "c", &conf);
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    b.engine.sync();
    c.engine.sync();
    assert_eq!((lamp(&b, "102"), lamp(&c, "102")), (Some(1), Some(1)));
    std::mem::forget(a);
    let t = Instant::now();
    while !(b.engine.list(None).unwrap().is_empty() && c.engine.list(None).unwrap().is_empty()) {
        assert!(t.elapsed() < Duration::from_millis(HEARTBEAT_TTL_MS * 3), "A's call stays");
        std::thread::sleep(Duration::from_millis(50));
        b.engine.sync();
        c.engine.sync();
    }
    let abandoned = |n: &Node| n.host.events().into_iter().filter(|e| e.action == Action::Abandoned).count();
    assert_eq!(abandoned(&b) + abandoned(&c), 1, "one `abandoned` for the one call, from whichever node removed it");
    assert_eq!((lamp(&b, "102"), lamp(&c, "102")), (Some(0), Some(0)), "both lamps out");
}

/// Two nodes, each with `cross-node-pickup` `redirect` or the default `bridge`. The
/// store settings name a Redis the tests never reach: each engine has the test store.
fn redirect_pair(a_redirects: bool, b_redirects: bool) -> (Node, Node) {
    let server = redis_server::shared();
    let prefix = redis_server::fresh_prefix();
    let conf = group_conf(r#"recall="parking-user""#);
    let conf_of = |node: &str, redirects: bool| {
        conf.replace(
            r#"<param name="recall-time" value="60"/>"#,
            &format!(
                r#"<param name="recall-time" value="60"/><param name="store" value="redis://127.0.0.1:1/0"/>
                   <param name="node" value="{node}"/><param name="node-address" value="{}:5060"/>
                   <param name="cross-node-pickup" value="{}"/>"#,
                redis_server::node_host(node),
                if redirects { "redirect" } else { "bridge" }
            ),
        )
    };
    let a = Node::new(server, &prefix, "a", &conf_of("a", a_redirects));
    let b = Node::new(server, &prefix, "b", &conf_of("b", b_redirects));
    a.engine.sync();
    b.engine.sync();
    (a, b)
}

/// A phone's address: no node's.
const PHONE: &str = "198.51.100.7";

fn retrieved_on(n: &Node) -> usize {
    n.host.events().iter().filter(|e| e.action == Action::Retrieved).count()
}

#[test]
fn a_retriever_redirected_to_the_holding_node_is_bridged_there_from_its_own_address() {
    let (a, b) = redirect_pair(true, true);
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    b.engine.sync();
    assert!(matches!(b.dial("desk-103", "*88102", Some("103"), None), Ok(DialOutcome::Retrieved { .. })));
    assert!(b.host.hand_overs().is_empty(), "B calls no node: the phone does");
    let (leg, address, token) = b.host.redirects().pop().expect("a redirect");
    assert_eq!((leg.as_str(), address.as_str()), ("desk-103", "127.0.0.11:5060"));
    a.engine.sync();
    assert_eq!(a.engine.list(None).unwrap()[0].state, "parked", "nothing is claimed before the phone arrives");
    a.engine.take_over(&token, "phone-leg", PHONE).unwrap();
    assert_eq!(a.engine.parked_count(), 0);
    assert!(
        a.host.all().contains(&Did::Bridge { uuid: "phone-leg".into(), parked: "caller-1".into() }),
        "A bridged the phone's own call to the caller"
    );
    assert_eq!(retrieved_on(&a), 1, "A tells who took it");
    assert_eq!(retrieved_on(&b), 0, "B does not");
    // The token is spent.
    assert!(matches!(a.engine.take_over(&token, "phone-2", PHONE), Err(DialError::NotParked { .. })));
}

#[test]
fn a_redirect_nobody_follows_blocks_no_one_and_the_first_phone_to_arrive_wins() {
    let (a, b) = redirect_pair(true, true);
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    b.engine.sync();
    b.dial("desk-103", "*88102", Some("103"), None).unwrap();
    b.dial("desk-104", "*88102", Some("104"), None).unwrap();
    let tokens: Vec<String> = b.host.redirects().into_iter().map(|(_, _, t)| t).collect();
    assert_eq!(tokens.len(), 2, "both retrievers are sent to A: neither claimed the call");
    a.engine.take_over(&tokens[1], "phone-104", PHONE).unwrap();
    assert!(matches!(a.engine.take_over(&tokens[0], "phone-103", PHONE), Err(DialError::NotParked { .. })));
    // A redirect nobody follows: another retriever takes the call at once.
    a.dial("caller-2", "*68102", None, Some("101")).unwrap();
    b.engine.sync();
    b.dial("desk-105", "*88102", Some("105"), None).unwrap();
    assert!(matches!(a.dial("desk-a", "*88102", Some("103"), None), Ok(DialOutcome::Retrieved { .. })));
    let (_, _, late) = b.host.redirects().pop().unwrap();
    assert!(matches!(a.engine.take_over(&late, "phone-105", PHONE), Err(DialError::NotParked { .. })));
}

#[test]
fn a_phone_brings_only_a_redirect_s_token_and_only_where_redirects_are_taken() {
    // A bridges (the default): a phone's call is refused before any token is read.
    let (a, b) = redirect_pair(false, true);
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    b.engine.sync();
    b.dial("desk-103", "*88102", Some("103"), None).unwrap();
    let (_, _, token) = b.host.redirects().pop().unwrap();
    assert!(matches!(a.engine.take_over(&token, "phone-leg", PHONE), Err(DialError::NotANode { .. })));
    // From B itself the redirect's token still works (a host that cannot redirect
    // bridges with it).
    a.engine.take_over(&token, "b-leg", "127.0.0.12").unwrap();
    assert_eq!(a.engine.parked_count(), 0);

    // B bridges: the token of its hand-over stands for its claim, and is no phone's.
    let (a, b) = redirect_pair(true, false);
    a.dial("caller-2", "*68102", None, Some("101")).unwrap();
    b.engine.sync();
    b.dial("desk-104", "*88102", Some("104"), None).unwrap();
    let (_, _, token) = b.host.hand_overs().pop().unwrap();
    assert!(matches!(a.engine.take_over(&token, "phone-104", PHONE), Err(DialError::NotParked { .. })));
    assert_eq!(a.engine.parked_count(), 1, "still parked");
}

#[test]
fn forged_tokens_from_phones_are_looked_up_at_most_twenty_a_second() {
    let (a, b) = redirect_pair(true, true);
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    b.engine.sync();
    // The lookups of one second used up by forged tokens: a good token in that second
    // is not looked up either. A machine too slow to send 21 in a second tries again.
    let mut checked = false;
    for attempt in 0..3 {
        b.dial(&format!("desk-{attempt}"), "*88102", Some("103"), None).unwrap();
        let (_, _, token) = b.host.redirects().pop().unwrap();
        // A fresh second: the lookups of the last one spent.
        std::thread::sleep(Duration::from_millis(1100));
        let start = Instant::now();
        for i in 0..callpark::store::PHONE_REDEEMS_PER_S {
            let forged = format!("{:032x}", i + 1);
            assert!(matches!(a.engine.take_over(&forged, "flood", PHONE), Err(DialError::NotParked { .. })));
        }
        let refused = a.engine.take_over(&token, &format!("phone-{attempt}"), PHONE);
        if start.elapsed() < Duration::from_millis(900) {
            assert!(matches!(refused, Err(DialError::NotParked { .. })), "{refused:?}");
            assert_eq!(a.engine.parked_count(), 1, "not looked up, still parked");
            checked = true;
            break;
        }
        assert!(refused.is_ok() || a.engine.parked_count() == 1, "{refused:?}");
        if refused.is_ok() {
            a.dial("caller-1", "*68102", None, Some("101")).unwrap();
            b.engine.sync();
        }
    }
    assert!(checked, "21 lookups never fitted in one second on this machine");
    std::thread::sleep(Duration::from_millis(1100));
    b.dial("desk-104", "*88102", Some("104"), None).unwrap();
    let (_, _, token) = b.host.redirects().pop().unwrap();
    a.engine.take_over(&token, "phone-104", PHONE).unwrap();
    assert_eq!(a.engine.parked_count(), 0);
}

#[test]
fn cross_node_pickup_changes_with_a_reload() {
    let (a, b) = redirect_pair(false, false);
    let (_, b_redirect) = redirect_pair(false, true);
    a.dial("caller-1", "*68102", None, Some("101")).unwrap();
    b.engine.sync();
    b.engine.reload(b_redirect.engine.config().as_ref().clone());
    assert!(
        !b.host.logs.lock().iter().any(|l| l.contains("store settings changed")),
        "not a change of store: {:?}",
        b.host.logs.lock()
    );
    b.dial("desk-103", "*88102", Some("103"), None).unwrap();
    assert_eq!((b.host.redirects().len(), b.host.hand_overs().len()), (1, 0), "redirected at once");
}
