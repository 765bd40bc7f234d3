//! The operator's commands (`callpark park | retrieve | hangup`, issue 11 item 7) as the
//! engine carries them out: each checks the tenant named, acts like the phone feature it
//! stands for and fires the same events; a command that fails changes nothing.

mod common;

use callpark::command::Target;
use callpark::engine::OPERATOR_RING;
use callpark::identity::{Facts, Leg};
use callpark::reply::{ChannelDial, OperatorPark, Reply};
use callpark::DialError;
use common::*;

/// A carrier's caller talking to 101 (the bridge partner the switch recorded).
fn talking_to_101<'a>() -> Facts<'a> {
    Facts {
        channel: Leg { domain_name: Some(ACME), ..Leg::default() },
        bridge_partner: Some(Leg {
            outbound: true,
            dialed_user: Some("101"),
            dialed_domain: Some(ACME),
            ..Leg::default()
        }),
        ..Facts::default()
    }
}

fn operator_park<'a>(uuid: &'a str, ext: &'a str, tenant: Option<&'a str>, facts: Facts<'a>) -> ChannelDial<'a> {
    ChannelDial {
        uuid,
        dialed: ext,
        facts,
        caller_number: "5551234",
        caller_name: "Jane",
        operator: Some(OperatorPark { tenant }),
        ..ChannelDial::default()
    }
}

#[test]
fn an_operator_parks_a_call_for_whoever_it_talked_to() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let r = rig.engine.answer(&operator_park("c1", "105", Some("ACME.example"), talking_to_101()));
    assert_eq!(r, Reply::Hold { extension: "105".into(), music: String::new(), exit_key: None, announce: None });
    let c = rig.engine.parked("c1").expect("parked");
    assert_eq!((c.extension.as_str(), c.parking_user.as_str()), ("105", "101"), "recalls go to 101");
    assert_eq!(rig.host.actions(), ["parked"]);
    assert!(rig.host.messages().iter().any(|(ext, _)| ext == "105"), "105 is told");
    // At a group's name: like *58 into that group.
    let r = rig.engine.answer(&operator_park("c2", "sales", None, talking_to_101()));
    assert_eq!(r, Reply::Hold { extension: "101".into(), music: String::new(), exit_key: None, announce: None });
}

#[test]
fn an_operators_park_that_fails_sends_nothing_back_and_leaves_the_call() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let refused = |d: ChannelDial| match rig.engine.answer(&d) {
        Reply::Refuse { error, .. } => error,
        other => panic!("not refused: {other:?}"),
    };
    assert_eq!(
        refused(operator_park("c1", "105", Some(GLOBEX), talking_to_101())),
        DialError::OtherTenant { tenant: GLOBEX.into() },
        "a call of acme is not parked in globex's name"
    );
    assert_eq!(refused(operator_park("c1", "999", None, talking_to_101())), DialError::UnknownExtension("999".into()));
    assert!(matches!(refused(operator_park("c1", "*88105", None, talking_to_101())), DialError::UnknownExtension(_)));
    assert_eq!(
        refused(operator_park("c1", "105", None, Facts::default())),
        DialError::NoTenant,
        "a channel of no tenant"
    );
    assert_eq!(rig.engine.parked_count(), 0);
    assert!(rig.host.sent_back().is_empty(), "an operator's failed park is never sent back");
    assert!(rig.host.rings().is_empty());
    // Already parked: refused, the call stays where it is.
    assert!(matches!(rig.engine.answer(&operator_park("c1", "105", None, talking_to_101())), Reply::Hold { .. }));
    assert_eq!(refused(operator_park("c1", "104", None, talking_to_101())), DialError::AlreadyParked);
    assert_eq!(rig.engine.parked("c1").unwrap().extension, "105");
}

#[test]
fn an_operator_rings_a_user_who_picks_up_one_call() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.dial(ACME, "old", "*68102", None, Some("101")).unwrap();
    rig.dial(ACME, "new", "*68102", None, Some("101")).unwrap();
    rig.host.take();
    // By uuid: that call, not the oldest at 102.
    let c = rig.engine.operator_retrieve(&Target::Call("new".into()), "104", Some(ACME)).unwrap();
    assert_eq!((c.uuid.as_str(), c.extension.as_str()), ("new", "102"));
    let rings = rig.host.rings();
    assert_eq!(rings.len(), 1);
    assert_eq!((rings[0].extension.as_str(), rings[0].tenant.as_str()), ("104", ACME));
    assert_eq!((rings[0].attempt, rings[0].alert_info.as_str()), (OPERATOR_RING, ""));
    assert_eq!(rings[0].caller_number, "003386002678", "104 sees the parked caller");
    // 104 answers: connected, `retrieved` by the operator's ring.
    rig.engine.recall_answered("new", OPERATOR_RING, "leg-104").unwrap();
    assert!(rig.engine.parked("new").is_none());
    let ev = rig.host.events().into_iter().find(|e| e.uuid == "new").unwrap();
    assert_eq!(ev.detail.as_deref(), Some("operator"));
    assert_eq!(rig.host.actions(), ["retrieved"], "no recall-answered: it was no recall");
    // By extension: the oldest there. Nobody answers: it stays parked, its recall intact.
    rig.engine.operator_retrieve(&Target::Extension("102".into()), "104", Some(ACME)).unwrap();
    assert_eq!(rig.host.rings().last().unwrap().parked_uuid, "old");
    rig.engine.recall_failed("old", OPERATOR_RING).unwrap();
    assert_eq!(rig.engine.parked("old").unwrap().state, "parked");
    rig.secs(60);
    assert_eq!(rig.host.rings().last().unwrap().attempt, 1, "recalled on time as before");
}

#[test]
fn an_operators_retrieve_stays_in_the_tenant() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    rig.host.take();
    let e = |t: Target, user: &str, tenant: Option<&str>| rig.engine.operator_retrieve(&t, user, tenant).unwrap_err();
    let call = || Target::Call("c1".into());
    assert_eq!(e(call(), "101", Some(GLOBEX)), DialError::NotParked { uuid: "c1".into() }, "not seen from globex");
    assert_eq!(e(Target::Extension("102".into()), "101", Some(GLOBEX)), DialError::Empty { place: "102".into() });
    assert_eq!(e(call(), "999", Some(ACME)), DialError::UnknownUser("999".into()));
    assert_eq!(e(call(), "10 1", None), DialError::UnknownUser("10 1".into()));
    assert!(matches!(e(Target::Extension("102".into()), "101", None), DialError::BadRequest(_)), "ext needs a tenant");
    assert_eq!(e(Target::Call("nope".into()), "101", None), DialError::NotParked { uuid: "nope".into() });
    assert!(rig.host.rings().is_empty(), "nothing rang");
    // A call already leaving the park (a recall answered) is not offered.
    rig.secs(60);
    rig.engine.recall_answered("c1", 1, "leg").ok();
    let left = rig.engine.operator_retrieve(&call(), "104", None);
    assert!(matches!(left, Err(DialError::NotParked { .. }) | Err(DialError::Leaving { .. })), "{left:?}");
}

#[test]
fn an_operator_hangs_up_a_parked_call_of_the_tenant_named() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    rig.host.take();
    assert_eq!(rig.engine.operator_hangup("c1", Some(GLOBEX)).unwrap_err(), DialError::NotParked { uuid: "c1".into() });
    assert_eq!(rig.engine.operator_hangup("c2", None).unwrap_err(), DialError::NotParked { uuid: "c2".into() });
    assert!(rig.engine.parked("c1").is_some(), "still parked");
    let c = rig.engine.operator_hangup("c1", Some(ACME)).unwrap();
    assert_eq!(c.extension, "102");
    assert!(rig.engine.parked("c1").is_none());
    let ev = rig.host.events().into_iter().last().unwrap();
    assert_eq!((ev.action.name(), ev.detail.as_deref()), ("abandoned", Some("operator hung up")));
    assert!(rig.engine.hangup("c1").is_err(), "the channel's own hang-up later finds nothing");
    assert!(rig.host.rings().is_empty(), "and no recall follows");
    rig.secs(120);
    assert!(rig.host.rings().is_empty());
}

/// A group whose parked callers may leave with `#` to the operator.
fn exit_conf() -> String {
    group_conf(r##"recall="parking-user" exit-key="#" exit-destination="operator XML default""##)
}

#[test]
fn the_exit_key_takes_a_parked_caller_to_the_exit_destination() {
    let rig = Rig::new(&exit_conf());
    let parked = rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    assert!(matches!(parked, callpark::DialOutcome::Parked { exit_key: Some('#'), .. }), "{parked:?}");
    rig.host.take();
    // Another key, or several: nothing happens, the call stays parked.
    assert!(matches!(rig.engine.exit("c1", "5"), Err(callpark::CallError::BadRequest(_))));
    assert!(matches!(rig.engine.exit("c1", "##"), Err(callpark::CallError::BadRequest(_))));
    assert!(rig.engine.parked("c1").is_some() && rig.host.all().is_empty());
    rig.engine.exit("c1", "#").unwrap();
    assert!(rig.engine.parked("c1").is_none(), "out of the park");
    assert!(
        rig.host
            .all()
            .iter()
            .any(|d| matches!(d, Did::Transfer { uuid, to } if uuid == "c1" && to == "operator XML default")),
        "{:?}",
        rig.host.all()
    );
    let ev = rig.host.events().into_iter().last().unwrap();
    assert_eq!((ev.action.name(), ev.detail.as_deref()), ("exit-key", Some("operator XML default")));
    assert_eq!(rig.engine.exit("c1", "#"), Err(callpark::CallError::NotFound));
    rig.secs(120);
    assert!(rig.host.rings().is_empty(), "never recalled");
}

#[test]
fn without_an_exit_key_no_key_leaves_the_park() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let parked = rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    assert!(matches!(parked, callpark::DialOutcome::Parked { exit_key: None, .. }));
    assert!(matches!(rig.engine.exit("c1", "#"), Err(callpark::CallError::BadRequest(_))));
    assert!(rig.engine.parked("c1").is_some());
}

#[test]
fn an_operators_ring_stops_when_the_call_is_taken_otherwise() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    rig.engine.operator_retrieve(&Target::Call("c1".into()), "104", None).unwrap();
    rig.host.take();
    // 103 picks it up with *88102 meanwhile: the operator's ring to 104 is stopped.
    rig.dial(ACME, "r1", "*88102", Some("103"), None).unwrap();
    assert!(rig.host.all().contains(&Did::CancelRing("c1".into())), "{:?}", rig.host.all());
    // The same when the caller hangs up, and when the operator's ring is answered (any
    // recall attempt ringing beside it stops).
    rig.dial(ACME, "c2", "*68102", None, Some("101")).unwrap();
    rig.engine.operator_retrieve(&Target::Call("c2".into()), "104", None).unwrap();
    rig.host.take();
    rig.engine.hangup("c2").unwrap();
    assert!(rig.host.all().contains(&Did::CancelRing("c2".into())));
    rig.dial(ACME, "c3", "*68102", None, Some("101")).unwrap();
    rig.engine.operator_retrieve(&Target::Call("c3".into()), "104", None).unwrap();
    rig.host.take();
    rig.engine.recall_answered("c3", OPERATOR_RING, "leg-104").unwrap();
    assert!(rig.host.all().contains(&Did::CancelRing("c3".into())));
    // A ring nobody answers leaves nothing to stop later.
    rig.dial(ACME, "c4", "*68102", None, Some("101")).unwrap();
    rig.engine.operator_retrieve(&Target::Call("c4".into()), "104", None).unwrap();
    rig.engine.recall_failed("c4", OPERATOR_RING).unwrap();
    rig.host.take();
    rig.engine.hangup("c4").unwrap();
    assert!(!rig.host.all().contains(&Did::CancelRing("c4".into())), "{:?}", rig.host.all());
}

#[test]
fn holding_says_whether_the_music_may_go_on() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    assert_eq!(rig.engine.holding("c1"), Ok(()));
    assert_eq!(rig.engine.holding("nope"), Err(callpark::CallError::NotFound));
    rig.secs(60);
    rig.host.leg_fails.lock().insert("leg".into());
    // While a recall answer is being bridged the call is claimed: not put back on hold.
    // (A failed bridge puts it back in the park, holding again.)
    let _ = rig.engine.recall_answered("c1", 1, "leg");
    assert_eq!(rig.engine.holding("c1"), Ok(()), "a failed bridge unclaims it");
}

/// One-step parking (keys pressed during a call): a user's leg names where the other
/// party goes (its own extension, an extension, a lot by its number or a slot), and
/// that party is parked for the user, as an operator's park; a carrier's keys park
/// nobody, whatever digits they send.
#[test]
fn keys_during_a_call_park_the_other_party_only_from_a_user_s_leg() {
    let xml = group_conf(r#"recall="parking-user""#).replace(
        "      </groups>\n    </tenant>",
        "      </groups>\n      <lots><lot name=\"valet\" slots=\"5901-5902\" prefix=\"*\" number=\"*5900\"/></lots>\n    </tenant>",
    );
    let rig = Rig::new(&xml);
    let user = Facts {
        channel: Leg { authorized: true, user_name: Some("101"), domain_name: Some(ACME), ..Leg::default() },
        ..Facts::default()
    };
    let called = Facts {
        channel: Leg { outbound: true, dialed_user: Some("102"), dialed_domain: Some(ACME), ..Leg::default() },
        ..Facts::default()
    };
    let carrier = Facts { channel: Leg { domain_name: Some(ACME), ..Leg::default() }, ..Facts::default() };
    let at = |f: &Facts, d: &str| rig.engine.one_step(f, d);
    assert_eq!(at(&user, ""), Ok((ACME.to_string(), "101".to_string())), "nothing: the user's own extension");
    assert_eq!(at(&user, "105#"), Ok((ACME.to_string(), "105".to_string())));
    assert_eq!(at(&called, "105"), Ok((ACME.to_string(), "105".to_string())), "the user the switch called");
    assert_eq!(at(&user, "5900"), Ok((ACME.to_string(), "valet".to_string())), "a lot by its number");
    assert_eq!(at(&user, "5902"), Ok((ACME.to_string(), "5902".to_string())), "a slot by its code");
    assert_eq!(at(&carrier, "105"), Err(DialError::KeysOfNoUser));
    assert!(matches!(at(&user, "1*5"), Err(DialError::Code(_))));
    // Carried out as an operator's park of the other party: parked for the user it
    // talked to.
    let (tenant, target) = at(&user, "105").unwrap();
    let partner = Facts {
        channel: Leg { domain_name: Some(ACME), ..Leg::default() },
        bridge_partner: Some(Leg {
            authorized: true,
            user_name: Some("101"),
            domain_name: Some(ACME),
            ..Leg::default()
        }),
        ..Facts::default()
    };
    let r = rig.engine.answer(&operator_park("c1", &target, Some(&tenant), partner));
    assert!(matches!(r, Reply::Hold { ref extension, .. } if extension == "105"), "{r:?}");
    assert_eq!(rig.engine.parked("c1").map(|c| c.parking_user), Some("101".to_string()));
}

#[test]
fn what_the_end_of_the_hold_music_means() {
    let rig = Rig::new(&exit_conf());
    rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    // Music that ended after playing plays again; music that stopped at once could not
    // play (the hold goes on to silence); unknown: not replayed.
    assert!(rig.engine.music_stopped("c1", None, Some(1500)));
    assert!(rig.engine.music_stopped("c1", Some(""), Some(1000)), "an empty key is no key");
    assert!(!rig.engine.music_stopped("c1", None, Some(999)));
    assert!(!rig.engine.music_stopped("c1", None, None));
    // Another key: back to the music, still parked.
    assert!(rig.engine.music_stopped("c1", Some("5"), Some(200)));
    assert!(rig.engine.parked("c1").is_some());
    // The exit key: out of the park, no music.
    rig.dial(ACME, "c2", "*68103", None, Some("101")).unwrap();
    assert!(!rig.engine.music_stopped("c2", Some("#"), Some(300)));
    assert!(rig.engine.parked("c2").is_none(), "the exit key took it out");
    // A call the park does not have (adopted by nobody yet): its music plays on.
    assert!(rig.engine.music_stopped("gone", None, Some(2000)));
}
