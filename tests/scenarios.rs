//! The scenarios of the product documentation, each driven through the public API with a
//! recording fake host and a virtual clock.

mod common;

use callpark::host::{Action, Target};
use callpark::{DialError, DialOutcome, DialRequest};
use common::*;

fn retrieved(parked: &str, ext: &str) -> Result<DialOutcome, callpark::DialFailure> {
    Ok(DialOutcome::Retrieved { parked_uuid: parked.into(), extension: ext.into() })
}

/// Bob (101) blind-transfers a caller to `*68102`; Alice (102) retrieves with bare `*88`.
#[test]
fn bob_parks_on_alice_and_alice_retrieves_with_star88() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    // The dialplan runs on the transferred (parked) leg; Bob is the transferor.
    assert_eq!(rig.dial(ACME, "caller-1", "*68102", None, Some("101")), parked("102"));
    let did = rig.host.take();
    let msg = did.iter().find_map(|d| match d {
        Did::Notice(callpark::host::Notice::Message(m)) => Some(m.clone()),
        _ => None,
    });
    let msg = msg.expect("Alice is told");
    assert_eq!((msg.extension.as_str(), msg.text.as_str()), ("102", "003386002678 parked on 102, dial *88102"));
    // Bob, who parked it elsewhere, learns where it went.
    assert!(did.iter().any(|d| matches!(d, Did::Notice(callpark::host::Notice::Message(m))
        if m.extension == "101" && m.text == "Parked 003386002678 at 102, dial *88102")));
    let ev = did
        .iter()
        .find_map(|d| match d {
            Did::Notice(callpark::host::Notice::Event(e)) => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((ev.action, ev.parking_user.as_str(), ev.extension.as_str()), (Action::Parked, "101", "102"));

    assert_eq!(rig.dial(ACME, "alice-desk", "*88", Some("102"), None), retrieved("caller-1", "102"));
    assert!(rig.host.all().contains(&Did::Bridge { uuid: "alice-desk".into(), parked: "caller-1".into() }));
    assert_eq!(rig.host.lamp_count(ACME, "102"), Some(0));
    assert_eq!(rig.engine.parked_count(), 0);
    assert_eq!(rig.host.actions(), ["retrieved"]);
}

/// Second run: a third user (103... here 104, outside the group) retrieves with `*88102`.
#[test]
fn a_third_user_retrieves_with_star88_ext() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    assert_eq!(rig.dial(ACME, "caller-1", "*68102", None, Some("101")), parked("102"));
    assert_eq!(rig.dial(ACME, "carol", "*88102", Some("104"), None), retrieved("caller-1", "102"));
    // The call is gone: Alice finds nothing.
    let e = rig.dial(ACME, "alice", "*88102", Some("102"), None).unwrap_err();
    assert_eq!(e.error, DialError::Empty { place: "102".into() });
    assert!(!e.sent_back);
}

/// Bob parks with `*68` at his own extension and picks it up with `*88` on his other device.
#[test]
fn bob_parks_on_himself_and_retrieves_from_his_other_device() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    assert_eq!(rig.dial(ACME, "caller-1", "*68", None, Some("101")), parked("101"));
    let lamp = rig.host.lamp(ACME, &Target::Extension("101".into())).unwrap();
    assert_eq!(lamp.state.count, 1);
    assert_eq!(lamp.state.oldest.as_ref().map(|o| o.1.as_str()), Some("003386002678"));
    assert_eq!(rig.dial(ACME, "bob-mobile", "*88", Some("101"), None), retrieved("caller-1", "101"));
}

/// Bob retrieves his own parked call with `*88101` from somebody else's phone.
#[test]
fn bob_retrieves_with_star88_101_from_another_phone() {
    let rig = Rig::new("<configuration name=\"callpark.conf\"/>");
    assert_eq!(rig.dial(ACME, "caller-1", "*68", None, Some("101")), parked("101"));
    assert_eq!(rig.dial(ACME, "lobby-phone", "*88101", Some("105"), None), retrieved("caller-1", "101"));
}

/// Group 101/102/103: `*58` picks the first free member, tells every member, and a member
/// retrieves with bare `*88`.
#[test]
fn group_park_with_star58() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    // 101 already has a call parked against it, so the next group park goes to 102.
    assert_eq!(rig.dial(ACME, "c1", "*68", None, Some("101")), parked("101"));
    rig.host.take();
    assert_eq!(rig.dial(ACME, "c2", "*58", None, Some("103")), parked_chosen("102"));
    let mut told: Vec<String> = rig.host.messages().into_iter().map(|(e, t)| format!("{e}: {t}")).collect();
    told.sort();
    assert_eq!(
        told,
        [
            "101: 003386002678 parked on 102, dial *88102",
            "102: 003386002678 parked on 102, dial *88102",
            "103: 003386002678 parked on 102, dial *88102"
        ]
    );
    let g = rig.host.lamp(ACME, &Target::Group("sales".into())).unwrap();
    assert_eq!(g.state.count, 2);
    assert_eq!(rig.host.events().last().unwrap().detail.as_deref(), Some("group-park"));
    // Always from the first member: with 101 and 102 busy, the next is 103, then none.
    assert_eq!(rig.dial(ACME, "c3", "*58", None, Some("101")), parked_chosen("103"));
    let e = rig.dial(ACME, "c4", "*58", None, Some("101")).unwrap_err();
    assert_eq!(e.error, DialError::NoFreeMember { group: "sales".into() });
    assert!(e.sent_back, "a group park that cannot happen goes back to the parking user");

    // 103 has its own call (c3); bare *88 from 103 takes it. Then from 103 again, the
    // oldest of the group (c1 at 101).
    assert_eq!(rig.dial(ACME, "m103", "*88", Some("103"), None), retrieved("c3", "103"));
    assert_eq!(rig.dial(ACME, "m103b", "*88", Some("103"), None), retrieved("c1", "101"));
    // When 101 frees up, group park starts from the first member again.
    assert_eq!(rig.dial(ACME, "c5", "*58", None, Some("102")), parked_chosen("101"));
}

/// Parking user only: rings Bob after the recall time, again every 10 s, then the final
/// destination.
#[test]
fn recall_parking_user_only_with_retries() {
    let rig = Rig::new(&group_conf(
        r#"recall="parking-user" recall-time="45" ring-time="20" recall-attempts="3" final-destination="operator XML acme.example""#,
    ));
    assert_eq!(rig.dial(ACME, "caller-1", "*68102", None, Some("101")), parked("102"));
    rig.secs(44);
    assert!(rig.host.rings().is_empty(), "no recall before the recall time");
    rig.secs(1);
    let rings = rig.host.rings();
    assert_eq!(rings.len(), 1);
    assert_eq!((rings[0].extension.as_str(), rings[0].seconds, rings[0].attempt), ("101", 20, 1));
    assert_eq!(rings[0].caller_number, "003386002678", "the recalled phone shows the parked caller");
    assert!(rig.host.lamp(ACME, &Target::Extension("102".into())).unwrap().state.recalling);
    // Unanswered for 20 s: cancelled, then again 10 s later.
    rig.secs(20);
    assert_eq!(rig.host.all().iter().filter(|d| matches!(d, Did::CancelRing(_))).count(), 1);
    // The switch reports the cancelled attempt as failed, late: it changes nothing.
    rig.engine.recall_failed("caller-1", 1).unwrap();
    assert_eq!(rig.host.rings().len(), 1);
    rig.secs(9);
    assert_eq!(rig.host.rings().len(), 1);
    rig.secs(1);
    assert_eq!(rig.host.rings().len(), 2);
    assert_eq!(rig.host.rings()[1].attempt, 2);
    // The host reports attempt 2 rejected at once: the policy goes on.
    rig.engine.recall_failed("caller-1", 2).unwrap();
    rig.secs(10);
    assert_eq!(rig.host.rings().len(), 3);
    rig.secs(20);
    // Third attempt unanswered: the final destination.
    assert!(rig
        .host
        .all()
        .contains(&Did::Transfer { uuid: "caller-1".into(), to: "operator XML acme.example".into() }));
    assert_eq!(rig.engine.parked_count(), 0);
    assert_eq!(rig.host.lamp_count(ACME, "102"), Some(0));
    let actions = rig.host.actions();
    assert_eq!(
        actions,
        [
            "parked",
            "recall-started",
            "recall-no-answer",
            "recall-started",
            "recall-no-answer",
            "recall-started",
            "recall-no-answer",
            "final-destination"
        ]
    );
}

/// A recall answered connects the caller to the answering phone.
#[test]
fn recall_answered_is_bridged() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user" recall-time="30""#));
    rig.dial(ACME, "caller-1", "*68", None, Some("102")).unwrap();
    rig.secs(30);
    assert_eq!(rig.host.rings()[0].extension, "102");
    rig.engine.recall_answered("caller-1", 1, "leg-102").unwrap();
    assert!(rig.host.all().contains(&Did::Bridge { uuid: "leg-102".into(), parked: "caller-1".into() }));
    assert_eq!(rig.engine.parked_count(), 0);
    assert!(rig.host.actions().contains(&"recall-answered"));
    // No timer outlives the call.
    rig.secs(600);
    assert_eq!(rig.host.rings().len(), 1);
}

/// Parking user first, then the ring group after the alert wait.
#[test]
fn recall_parking_user_then_ring_group() {
    let rig = Rig::new(&group_conf(
        r#"recall="parking-user-then-ring-group" recall-time="60" alert-wait="25" ring-group="6000 XML acme.example""#,
    ));
    rig.dial(ACME, "caller-1", "*58", None, Some("103")).unwrap();
    rig.secs(60);
    let r = &rig.host.rings()[0];
    assert_eq!((r.extension.as_str(), r.seconds), ("103", 25));
    rig.secs(24);
    assert!(!rig.host.all().iter().any(|d| matches!(d, Did::Transfer { .. })));
    rig.secs(1);
    assert!(rig.host.all().contains(&Did::CancelRing("caller-1".into())));
    assert!(rig.host.all().contains(&Did::Transfer { uuid: "caller-1".into(), to: "6000 XML acme.example".into() }));
    assert_eq!(rig.engine.parked_count(), 0, "it leaves the park for good");
    assert_eq!(rig.host.actions().last(), Some(&"ring-group"));
    // It can no longer be retrieved.
    assert!(rig.dial(ACME, "x", "*88101", Some("101"), None).is_err());
}

/// Ring group only.
#[test]
fn recall_ring_group_only() {
    let rig = Rig::new(&group_conf(r#"recall="ring-group" recall-time="90" ring-group="6000""#));
    rig.dial(ACME, "caller-1", "*68101", None, Some("102")).unwrap();
    rig.secs(89);
    assert_eq!(rig.engine.parked_count(), 1);
    rig.secs(1);
    assert!(rig.host.rings().is_empty(), "nobody is rung");
    assert!(rig.host.all().contains(&Did::Transfer { uuid: "caller-1".into(), to: "6000".into() }));
    assert_eq!(rig.engine.parked_count(), 0);
}

/// An alternate recall user is rung instead of the parking user.
#[test]
fn alternate_recall_user() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user" alternate-recall-user="105""#));
    rig.dial(ACME, "caller-1", "*68", None, Some("101")).unwrap();
    rig.secs(60);
    assert_eq!(rig.host.rings()[0].extension, "105");
}

/// A retrieve that races a recall: whichever comes first wins, once.
#[test]
fn retrieve_races_a_recall() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user" recall-time="60""#));
    rig.dial(ACME, "caller-1", "*68102", None, Some("101")).unwrap();
    rig.secs(60);
    assert_eq!(rig.host.rings().len(), 1, "Bob's phone rings");
    // While it rings the call is still parked: Alice retrieves it.
    assert_eq!(rig.dial(ACME, "alice", "*88", Some("102"), None), retrieved("caller-1", "102"));
    assert!(rig.host.all().contains(&Did::CancelRing("caller-1".into())));
    // Bob answers a moment later: too late, the host hangs his leg up.
    assert_eq!(rig.engine.recall_answered("caller-1", 1, "bob-leg"), Err(callpark::CallError::NotFound));
    // And the other order: the recall answer wins, the retrieve finds nothing.
    rig.dial(ACME, "caller-2", "*68102", None, Some("101")).unwrap();
    rig.secs(60);
    rig.engine.recall_answered("caller-2", 1, "bob-leg-2").unwrap();
    let e = rig.dial(ACME, "alice-2", "*88", Some("102"), None).unwrap_err();
    assert!(matches!(e.error, DialError::Empty { .. }));
    let bridges = rig.host.all().iter().filter(|d| matches!(d, Did::Bridge { .. })).count();
    assert_eq!(bridges, 2, "each call was bridged exactly once");
}

/// A park that cannot happen never drops the caller: it goes back to the parking user.
#[test]
fn failed_parks_are_sent_back() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let e = rig.dial(ACME, "caller-1", "*68999", None, Some("101")).unwrap_err();
    assert_eq!(e.error, DialError::UnknownExtension("999".into()));
    assert!(e.sent_back);
    assert_eq!(
        rig.host.sent_back(),
        [("caller-1".into(), ACME.into(), "101".into(), "extension 999 does not exist in this tenant".into())]
    );
    assert_eq!(rig.host.actions(), ["sent-back"]);
    // A mistyped code on a transferred call goes back too.
    let e = rig.dial(ACME, "caller-2", "*6x", None, Some("101")).unwrap_err();
    assert!(e.sent_back);
    // A user outside any group cannot group-park.
    let e = rig.dial(ACME, "caller-3", "*58", None, Some("105")).unwrap_err();
    assert_eq!(e.error, DialError::NoGroup { user: "105".into() });
    assert!(e.sent_back);
    // An empty slot is an error the host announces; nothing is sent anywhere.
    let e = rig.dial(ACME, "bob", "*88", Some("101"), None).unwrap_err();
    assert!(matches!(e.error, DialError::Empty { .. }) && !e.sent_back);
    assert_eq!(rig.engine.parked_count(), 0);
}

/// A slot holds up to max-calls-per-extension calls, oldest first.
#[test]
fn slot_limit_and_oldest_first() {
    let xml = r#"<configuration name="callpark.conf"><settings>
        <param name="max-calls-per-extension" value="2"/></settings></configuration>"#;
    let rig = Rig::new(xml);
    rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
    rig.dial(ACME, "c2", "*68", None, Some("101")).unwrap();
    let e = rig.dial(ACME, "c3", "*68", None, Some("101")).unwrap_err();
    assert_eq!(e.error, DialError::SlotFull { extension: "101".into(), max: 2 });
    assert_eq!(rig.host.lamp_count(ACME, "101"), Some(2));
    assert_eq!(rig.dial(ACME, "r", "*88101", Some("102"), None), retrieved("c1", "101"));
    assert_eq!(rig.dial(ACME, "r2", "*88101", Some("102"), None), retrieved("c2", "101"));
}

/// A bridge that fails (the caller hung up at that moment) is cleaned up and the next
/// call is offered.
#[test]
fn failed_bridge_offers_the_next_call() {
    let rig = Rig::new("<configuration name=\"callpark.conf\"/>");
    rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
    rig.dial(ACME, "c2", "*68", None, Some("101")).unwrap();
    rig.host.bridge_fails.lock().insert("c1".into());
    assert_eq!(rig.dial(ACME, "r", "*88101", Some("102"), None), retrieved("c2", "101"));
    assert_eq!(rig.engine.parked_count(), 0);
    assert_eq!(rig.host.actions()[2..], ["abandoned", "retrieved"]);
}

/// The parked caller hangs up: slot and lamp cleared, a ringing recall stopped.
#[test]
fn caller_hangs_up() {
    let rig = Rig::new("<configuration name=\"callpark.conf\"/>");
    rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
    rig.secs(60);
    rig.engine.hangup("c1").unwrap();
    assert!(rig.host.all().contains(&Did::CancelRing("c1".into())));
    assert_eq!(rig.host.lamp_count(ACME, "101"), Some(0));
    assert_eq!(rig.engine.hangup("c1"), Err(callpark::CallError::NotFound));
    assert_eq!(rig.host.actions().last(), Some(&"abandoned"));
}

/// A recall target that is unregistered counts as no answer and the policy goes on.
#[test]
fn unregistered_recall_target_counts_as_no_answer() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user-then-ring-group" recall-time="60" ring-group="6000""#));
    rig.host.ring_fails.lock().insert("101".into());
    rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
    rig.secs(60);
    assert!(rig.host.all().contains(&Did::Transfer { uuid: "c1".into(), to: "6000".into() }));
}

/// Reloading keeps parked calls and the timers they were given.
#[test]
fn reload_keeps_parked_calls_and_their_timers() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user" recall-time="60""#));
    rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
    let new =
        callpark::config::from_xml("new", &group_conf(r#"recall="ring-group" recall-time="10" ring-group="7000""#))
            .unwrap();
    rig.engine.reload(new);
    rig.secs(59);
    assert!(rig.host.rings().is_empty() && !rig.host.all().iter().any(|d| matches!(d, Did::Transfer { .. })));
    rig.secs(1);
    assert_eq!(rig.host.rings().len(), 1, "the old plan (ring Bob at 60 s) still holds");
    // A call parked after the reload gets the new plan.
    rig.dial(ACME, "c2", "*68", None, Some("102")).unwrap();
    rig.secs(10);
    assert!(rig.host.all().contains(&Did::Transfer { uuid: "c2".into(), to: "7000".into() }));
}

/// Presence probes are answered from the core's state, to the subscriber who asked.
#[test]
fn presence_probe() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    rig.host.take();
    rig.engine.probe(ACME, "park+102", Some("sip:103@acme.example")).unwrap();
    let p = rig.host.lamp(ACME, &Target::Extension("102".into())).unwrap();
    assert_eq!((p.state.count, p.subscriber.as_deref()), (1, Some("sip:103@acme.example")));
    rig.engine.probe(ACME, "park+sales", None).unwrap();
    assert_eq!(rig.host.lamp(ACME, &Target::Group("sales".into())).unwrap().state.count, 1);
    rig.engine.probe(ACME, "park+104@acme.example", None).unwrap();
    assert_eq!(rig.host.lamp_count(ACME, "104"), Some(0));
    assert_eq!(rig.engine.probe(ACME, "park+nosuch", None), Err(callpark::CallError::NotFound));
    assert_eq!(rig.engine.probe(ACME, "park+102@globex.example", None), Err(callpark::CallError::NotFound));
}

/// Nothing crosses a tenant: same extension numbers in two domains.
#[test]
fn tenants_are_isolated() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.dial(ACME, "acme-call", "*68102", None, Some("101")).unwrap();
    // globex 102 finds nothing, neither with *88 nor *88102 nor park+102.
    for code in ["*88", "*88102", "park+102"] {
        let e = rig.dial(GLOBEX, "g", code, Some("102"), None).unwrap_err();
        assert!(matches!(e.error, DialError::Empty { .. }), "{code}");
    }
    rig.dial(GLOBEX, "globex-call", "*68102", None, Some("101")).unwrap();
    for d in rig.host.all() {
        if let Did::Notice(n) = d {
            let (tenant, text) = match &n {
                callpark::host::Notice::Presence(p) => (p.tenant.clone(), format!("{p:?}")),
                callpark::host::Notice::Message(m) => (m.tenant.clone(), m.text.clone()),
                callpark::host::Notice::Event(e) => (e.tenant.clone(), format!("{e:?}")),
                callpark::host::Notice::ParkInfo(p) => (p.tenant.clone(), p.body.clone()),
            };
            let other = if tenant == ACME { "globex-call" } else { "acme-call" };
            assert!(!text.contains(other), "{tenant} notice carries the other tenant's call: {text}");
        }
    }
    let acme = rig.engine.list(Some(ACME)).unwrap();
    assert_eq!(acme.iter().map(|c| c.uuid.as_str()).collect::<Vec<_>>(), ["acme-call"]);
    assert_eq!(rig.engine.list(None).unwrap().len(), 2);
    assert_eq!(rig.dial(GLOBEX, "g2", "*88102", Some("103"), None), retrieved("globex-call", "102"));
    assert_eq!(rig.engine.list(Some(ACME)).unwrap().len(), 1);
}

/// Listing as text and JSON.
#[test]
fn listing() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    rig.secs(5);
    let calls = rig.engine.list(Some(ACME)).unwrap();
    let text = callpark::listing::text(&calls);
    assert!(text.contains("c1") && text.contains("sales") && text.ends_with("1 parked call\n"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&callpark::listing::json(&calls)).unwrap();
    assert_eq!(json["count"], 1);
    assert_eq!(json["calls"][0]["extension"], "102");
    assert_eq!(json["calls"][0]["parking_user"], "101");
    assert_eq!(json["calls"][0]["parked_seconds"], 5);
    assert_eq!(json["calls"][0]["next_step_seconds"], 55);
    assert_eq!(callpark::listing::text(&[]), "0 parked calls\n");
}

/// A bridge that fails on the retriever's side leaves the call parked, timer and all.
#[test]
fn failed_retriever_leg_leaves_the_call_parked() {
    let rig = Rig::new("<configuration name=\"callpark.conf\"/>");
    rig.dial(ACME, "c1", "*68", None, Some("101")).unwrap();
    rig.host.leg_fails.lock().insert("flaky".into());
    let e = rig.dial(ACME, "flaky", "*88101", Some("102"), None).unwrap_err();
    assert!(matches!(e.error, DialError::HostFailed(_)));
    assert_eq!(rig.engine.parked_count(), 1);
    assert_eq!(rig.engine.list(None).unwrap()[0].state, "parked");
    // Its recall still comes at 60 s.
    rig.secs(59);
    assert!(rig.host.rings().is_empty());
    rig.secs(1);
    assert_eq!(rig.host.rings().len(), 1);
    // A recall answered on a leg that fails: still parked, and the recall goes on.
    rig.host.leg_fails.lock().insert("bad-leg".into());
    assert!(matches!(rig.engine.recall_answered("c1", 1, "bad-leg"), Err(callpark::CallError::BridgeFailed(_))));
    assert_eq!(rig.engine.list(None).unwrap()[0].state, "retrying");
    rig.secs(10);
    assert_eq!(rig.host.rings().len(), 2);
    assert_eq!(rig.dial(ACME, "good", "*88101", Some("102"), None), retrieved("c1", "101"));
}

/// After a module reload the switch hands back the calls it still holds parked: they come
/// back where they were, keep their park time, and are recalled on the original schedule.
#[test]
fn adopted_calls_keep_their_park_time() {
    use callpark::engine::AdoptRequest;
    let rig = Rig::new(&group_conf(r#"recall="parking-user" recall-time="60""#));
    let req = AdoptRequest {
        tenant: ACME,
        uuid: "c1",
        extension: "102",
        parking_user: "101",
        caller_number: "5551234",
        caller_name: "Jane",
        parked_secs_ago: 50,
        timeout: "",
    };
    rig.engine.adopt(&req).unwrap();
    assert_eq!(rig.host.lamp_count(ACME, "102"), Some(1));
    assert_eq!(rig.host.events()[0].detail.as_deref(), Some("adopted"));
    assert!(rig.host.events()[0].adopted, "the event says it was adopted");
    assert!(rig.host.messages().is_empty(), "nobody is told again");
    assert_eq!(rig.engine.list(None).unwrap()[0].parked_secs, 50);
    assert_eq!(rig.engine.adopt(&req), Err(DialError::AlreadyParked));
    rig.secs(9);
    assert!(rig.host.rings().is_empty());
    rig.secs(1);
    assert_eq!(rig.host.rings()[0].extension, "101", "recalled 60 s after the original park");
    // One parked longer ago than its recall time is recalled at once.
    rig.engine.adopt(&AdoptRequest { uuid: "c2", parked_secs_ago: 500, ..req.clone() }).unwrap();
    rig.secs(0);
    assert_eq!(rig.host.rings().len(), 2);
    // *88 takes the oldest by park time, whatever the order of adoption.
    assert_eq!(rig.dial(ACME, "r", "*88102", Some("103"), None), retrieved("c2", "102"));
    // Bad requests are refused, never adopted.
    for bad in [
        AdoptRequest { uuid: "c3", extension: "1 2", ..req.clone() },
        AdoptRequest { uuid: "c3", extension: "a,b", ..req.clone() },
        AdoptRequest { uuid: "c3", tenant: "bad domain", ..req.clone() },
        AdoptRequest { uuid: "c3", parking_user: "", ..req.clone() },
    ] {
        assert!(rig.engine.adopt(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(rig.engine.parked_count(), 1);
}

/// Found by fuzzing: moving the manual clock to the end of time, then parking, must not
/// overflow (a panic there left a call parked without a timer).
#[test]
fn the_clock_at_the_end_of_time() {
    let rig = Rig::new("<configuration name=\"callpark.conf\"/>");
    assert!(rig.engine.advance(1));
    assert!(rig.engine.advance(u64::MAX));
    assert!(rig.engine.advance(u64::MAX));
    assert_eq!(rig.dial(ACME, "c1", "*68102", None, Some("101")), parked("102"));
    assert!(rig.engine.advance(u64::MAX));
    assert_eq!(rig.engine.parked_count(), 1);
    assert_eq!(rig.dial(ACME, "r", "*88102", Some("103"), None), retrieved("c1", "102"));
}

/// Quiesced for an unload, the engine keeps every call as it is: a recall leg that the
/// unload hangs up is no "no answer" (which sent the call to the final destination), and
/// no timer fires. Retrieves still work.
#[test]
fn quiesced_engine_keeps_calls_parked_for_the_next_load() {
    let rig = Rig::new(&group_conf(
        r#"recall="parking-user" recall-time="45" ring-time="20" recall-attempts="1" final-destination="operator XML acme.example""#,
    ));
    assert_eq!(rig.dial(ACME, "caller-1", "*68102", None, Some("101")), parked("102"));
    assert_eq!(rig.dial(ACME, "caller-2", "*68103", None, Some("101")), parked("103"));
    rig.secs(45);
    assert_eq!(rig.host.rings().len(), 2, "both recalls ring, each its last attempt");
    rig.engine.quiesce();
    // The unload hangs up both recall legs; the switch reports them unanswered.
    rig.engine.recall_failed("caller-1", 1).unwrap();
    rig.engine.recall_failed("caller-2", 1).unwrap();
    rig.secs(3600);
    assert!(
        !rig.host.all().iter().any(|d| matches!(d, Did::Transfer { .. })),
        "no call leaves for the final destination"
    );
    assert_eq!(rig.host.rings().len(), 2, "no timer fires");
    assert_eq!(rig.engine.parked_count(), 2, "both calls stay parked");
    assert!(!rig.host.actions().contains(&"recall-no-answer"));
    assert_eq!(rig.dial(ACME, "picker", "*88103", Some("103"), None), retrieved("caller-2", "103"));
}

/// A call sent back that its parking user does not take (busy, no answer) comes back to
/// the park: at the parking user's own extension, with the usual recall. Where even that
/// cannot be, it is refused without being sent back again (no loop).
#[test]
fn a_sent_back_call_nobody_takes_is_parked_at_the_parking_user() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user" recall-time="45""#));
    let e = rig.dial(ACME, "caller-1", "*68999", None, Some("101")).unwrap_err();
    assert!(e.sent_back);
    let back = |uuid: &str| {
        rig.engine.dial(&DialRequest {
            tenant: ACME,
            uuid,
            dialed: "back-to-park",
            transferor: Some("101"),
            caller_number: "003386002678",
            back_to_park: true,
            ..Default::default()
        })
    };
    assert_eq!(back("caller-1"), parked("101"));
    let calls = rig.engine.list(Some(ACME)).unwrap();
    assert_eq!((calls[0].extension.as_str(), calls[0].parking_user.as_str()), ("101", "101"));
    rig.secs(45);
    assert_eq!(rig.host.rings().len(), 1, "recalled like any parked call");
    assert_eq!(rig.host.rings()[0].extension, "101");
    // 101's own slot full (max 5): refused, and not sent back once more.
    for i in 2..=5 {
        assert_eq!(rig.dial(ACME, &format!("c{i}"), "*68", None, Some("101")), parked("101"));
    }
    let sends = rig.host.sent_back().len();
    let e = back("caller-6").unwrap_err();
    assert!(matches!(e.error, DialError::SlotFull { .. }) && !e.sent_back, "{e:?}");
    assert_eq!(rig.host.sent_back().len(), sends);
}

/// A BLF park key: pressed during a call (the call blind-transferred to `park+102`) it
/// parks at 102; dialed by a phone it picks up from 102. The group key `park+sales` parks
/// at the first free member of sales and picks up the group's oldest call.
#[test]
fn park_keys_park_when_transferred_and_pick_up_when_dialed() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    assert_eq!(rig.dial(ACME, "c1", "park+102", None, Some("101")), parked("102"));
    assert_eq!(rig.engine.list(Some(ACME)).unwrap()[0].parking_user, "101");
    assert_eq!(rig.dial(ACME, "r1", "park+102", Some("103"), None), retrieved("c1", "102"));
    // sales is 101, 102, 103: the first free member, whoever presses the key.
    assert_eq!(rig.dial(ACME, "c2", "park+sales", None, Some("105")), parked_chosen("101"));
    assert_eq!(rig.dial(ACME, "c3", "park+sales", None, Some("101")), parked_chosen("102"));
    assert_eq!(rig.dial(ACME, "r2", "park+sales", Some("104"), None), retrieved("c2", "101"));
    assert_eq!(rig.dial(ACME, "r3", "park+sales", Some("104"), None), retrieved("c3", "102"));
    let e = rig.dial(ACME, "r4", "park+sales", Some("104"), None).unwrap_err();
    assert_eq!(e.error, DialError::Empty { place: "group \"sales\"".into() });
    // A key of no group names a user's own slot (park+alice); one of nobody is an
    // unknown extension, sent back when transferred.
    rig.host.add_users(ACME, &["alice"]);
    assert_eq!(rig.dial(ACME, "c5", "park+alice", None, Some("101")), parked("alice"));
    assert_eq!(rig.dial(ACME, "r6", "park+alice", Some("alice"), None), retrieved("c5", "alice"));
    let e = rig.dial(ACME, "c4", "park+nosuch", None, Some("101")).unwrap_err();
    assert_eq!(e.error, DialError::UnknownExtension("nosuch".into()));
    assert!(e.sent_back);
    let e = rig.dial(ACME, "c6", "park+a,b", None, Some("101")).unwrap_err();
    assert!(matches!(e.error, DialError::Code(_)) && e.sent_back, "{e:?}");
    // Pressed by a phone with no user of its own: nobody to retrieve for.
    let e = rig.dial(ACME, "r5", "park+102", None, None).unwrap_err();
    assert_eq!(e.error, DialError::NoRetriever);
}

/// The parking user is told where the call went unless the park notice reached it (its
/// own extension, its own group) or the tenant says `tell-parker` none.
#[test]
fn the_parking_user_is_told_where_the_call_went() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    assert_eq!(rig.dial(ACME, "c1", "*68103", None, Some("104")), parked("103"));
    assert!(rig.host.messages().contains(&("104".into(), "Parked 003386002678 at 103, dial *88103".into())));
    // The group key pressed by 105, no member of sales: every member is told, and 105.
    assert_eq!(rig.dial(ACME, "c2", "park+sales", None, Some("105")), parked_chosen("101"));
    assert!(rig.host.messages().contains(&("105".into(), "Parked 003386002678 at 101, dial *88101".into())));
    // *58 by a member: the group notice reaches it, nothing more.
    let n = rig.host.messages().len();
    assert_eq!(rig.dial(ACME, "c3", "*58", None, Some("101")), parked_chosen("102"));
    assert!(
        rig.host.messages()[n..].iter().all(|(_, t)| !t.starts_with("Parked")),
        "a member is told by the group notice"
    );
    let quiet = Rig::new(
        &group_conf(r#"recall="parking-user""#)
            .replace("<settings>", r#"<settings><param name="tell-parker" value="none"/>"#),
    );
    assert_eq!(quiet.dial(ACME, "c1", "*68103", None, Some("104")), parked("103"));
    assert!(quiet.host.messages().iter().all(|(ext, _)| ext == "103"), "{:?}", quiet.host.messages());
}

/// A call's own recall time, as the channel's `callpark_timeout` gives it: seconds
/// instead of the configured `recall-time`, `0` for never; one that is no such time is
/// logged and the configured one used (the caller is parked all the same). An adopted
/// call keeps its own.
#[test]
fn a_call_s_own_recall_time() {
    use callpark::engine::AdoptRequest;
    let rig = Rig::new(&group_conf(r#"recall="parking-user" recall-time="60""#));
    let park = |uuid: &str, ext: &str, timeout: &str| {
        rig.engine.dial(&DialRequest {
            tenant: ACME,
            uuid,
            dialed: &format!("*68{ext}"),
            transferor: Some("101"),
            timeout,
            ..Default::default()
        })
    };
    assert_eq!(park("short", "102", "20"), parked("102"));
    assert_eq!(park("never", "103", "0"), parked("103"));
    assert_eq!(park("odd", "104", "1 minute"), parked("104"), "parked with the configured time");
    let logged = rig.host.logs.lock().clone();
    assert!(
        logged.iter().any(|l| l.contains("callpark_timeout \"1 minute\" is neither 0") && l.contains("60 s is used")),
        "{logged:?}"
    );
    let next = |uuid: &str| rig.engine.list(None).unwrap().into_iter().find(|c| c.uuid == uuid).unwrap().next_in_secs;
    assert_eq!((next("short"), next("never"), next("odd")), (Some(20), None, Some(60)));
    rig.secs(20);
    let rung: Vec<String> = rig.host.rings().iter().map(|r| r.parked_uuid.clone()).collect();
    assert_eq!(rung, ["short"], "recalled after its own 20 s");
    rig.secs(39);
    assert!(!rig.host.rings().iter().any(|r| r.parked_uuid == "odd"), "not before the configured 60 s");
    rig.secs(1);
    assert!(rig.host.rings().iter().any(|r| r.parked_uuid == "odd"), "recalled after the configured 60 s");
    rig.secs(86_400);
    assert!(!rig.host.rings().iter().any(|r| r.parked_uuid == "never"), "0: never recalled");
    assert!(rig.engine.parked("never").is_some(), "still parked a day later");
    // Adopted after a reload, with the channel's variable: its own time again.
    let adopt = AdoptRequest {
        tenant: ACME,
        uuid: "adopted",
        extension: "105",
        parking_user: "101",
        caller_number: "",
        caller_name: "",
        parked_secs_ago: 10,
        timeout: "0",
    };
    rig.engine.adopt(&adopt).unwrap();
    rig.secs(3600);
    assert!(!rig.host.rings().iter().any(|r| r.parked_uuid == "adopted"), "adopted with 0: never recalled");
}

/// `lamp-state`: a parked call shows as `confirmed` by default, as `early` (ringing) where
/// the tenant says so; a recall is always `early`, an empty slot `terminated`. A bad
/// value is a configuration error.
#[test]
fn the_lamp_state_of_a_parked_call() {
    use callpark::host::Target;
    let lamp = |rig: &Rig| rig.host.lamp(ACME, &Target::Extension("102".into())).map(|p| p.answer_state());
    let plain = Rig::new(&group_conf(r#"recall="parking-user""#));
    plain.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    assert_eq!(lamp(&plain), Some(c"confirmed"));
    let early = Rig::new(&group_conf_with(r#"recall="parking-user""#, "lamp-state", "early"));
    early.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    assert_eq!(lamp(&early), Some(c"early"), "parked shows as ringing");
    early.secs(60);
    assert_eq!(lamp(&plain), Some(c"confirmed"));
    assert_eq!(early.dial(ACME, "r", "*88102", Some("102"), None), retrieved("c1", "102"));
    assert_eq!(lamp(&early), Some(c"terminated"));
    // Recalling is early with either setting.
    plain.secs(60);
    assert_eq!(lamp(&plain), Some(c"early"), "a recall rings");
    let bad = callpark::config::from_xml("t.xml", &group_conf_with("", "lamp-state", "blinking")).unwrap_err();
    assert!(bad.to_string().contains("lamp-state \"blinking\" is confirmed or early"), "{bad}");
}

/// Several calls at one extension: each is told with the code that takes it
/// (`*88102*2` for the second), and `*88<ext>*<n>` picks the `n`-th waiting call in park
/// order; a place nobody holds is "nothing parked there".
#[test]
fn a_specific_call_of_several_at_one_extension() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let park = |uuid: &str, number: &str| {
        rig.engine.dial(&DialRequest {
            tenant: ACME,
            uuid,
            dialed: "*68102",
            transferor: Some("101"),
            caller_number: number,
            ..Default::default()
        })
    };
    assert_eq!(park("first", "5550001"), parked("102"));
    assert_eq!(park("second", "5550002"), parked("102"));
    assert_eq!(park("third", "5550003"), parked("102"));
    let told: Vec<String> = rig.host.messages().into_iter().filter(|(e, _)| e == "102").map(|(_, t)| t).collect();
    assert_eq!(
        told,
        [
            "5550001 parked on 102, dial *88102",
            "5550002 parked on 102, dial *88102*2",
            "5550003 parked on 102, dial *88102*3"
        ]
    );
    assert_eq!(rig.dial(ACME, "r1", "*88102*2", Some("103"), None), retrieved("second", "102"));
    // The places close up: the third is now the second.
    assert_eq!(
        rig.dial(ACME, "r2", "*88102*3", Some("103"), None).unwrap_err().error.to_string(),
        "no call is parked at 102 (call 3)"
    );
    assert_eq!(rig.dial(ACME, "r3", "*88102*2", Some("103"), None), retrieved("third", "102"));
    assert_eq!(rig.dial(ACME, "r4", "*88102*1", Some("103"), None), retrieved("first", "102"));
}

/// A call picked up and parked again by whoever picked it up is one new park, with the
/// retriever as its parking user: `parked`, `retrieved`, `parked`, and the recall goes to
/// the retriever.
#[test]
fn a_call_parked_again_by_who_picked_it_up() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    assert_eq!(rig.dial(ACME, "c1", "*68102", None, Some("101")), parked("102"));
    assert_eq!(rig.dial(ACME, "r", "*88102", Some("103"), None), retrieved("c1", "102"));
    assert_eq!(rig.dial(ACME, "c1", "*68105", None, Some("103")), parked("105"));
    let actions: Vec<&str> = rig.host.events().iter().map(|e| e.action.name()).collect();
    assert_eq!(actions, ["parked", "retrieved", "parked"]);
    let c = rig.engine.parked("c1").expect("parked again");
    assert_eq!((c.extension.as_str(), c.parking_user.as_str()), ("105", "103"));
    rig.secs(60);
    assert_eq!(rig.host.rings()[0].extension, "103", "the retriever who parked it again is recalled");
}
