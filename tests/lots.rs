//! Parking lots beside parking at extensions: a transfer to `park+<lot>` parks in a free
//! slot (the first, or the one after the slot used last), the parking user is told the
//! slot, each slot is picked up by `*88<slot>` or `park+<slot>`, `park+<lot>` lights while
//! anything is parked there and dialed picks up its oldest call, a full lot sends the
//! call back, and the lot's own recall settings apply to its calls. Modelled on Asterisk's
//! `tests/callparking` and `tests/bridge/parkcall_blindxfer`, and Wazo's lot tests.

mod common;

use callpark::host::Target;
use callpark::{DialOutcome, DialRequest};
use common::*;

fn conf(lots: &str) -> String {
    group_conf(r#"recall="parking-user""#).replace(
        "      </groups>\n    </tenant>\n    <tenant domain=\"globex.example\"/>",
        &format!("      </groups>\n      <lots>{lots}</lots>\n    </tenant>\n    <tenant domain=\"globex.example\"/>"),
    )
}

const LOTS: &str = r#"<lot name="main" slots="701-703"/>
  <lot name="lobby" slots="801-803" choose="next" recall-time="20"/>
  <lot name="one" slots="901-901"/>"#;

/// `uuid` blind-transferred by `by` to `dialed`.
fn transfer(rig: &Rig, uuid: &str, dialed: &str, by: &str) -> Result<DialOutcome, callpark::DialFailure> {
    rig.engine.dial(&DialRequest {
        tenant: ACME,
        uuid,
        dialed,
        transferor: Some(by),
        caller_number: "5551234",
        transferred: true,
        ..Default::default()
    })
}

#[test]
fn a_lot_parks_in_its_first_free_slot_and_says_which() {
    let rig = Rig::new(&conf(LOTS));
    assert_eq!(transfer(&rig, "c1", "park+main", "101"), parked_chosen("701"));
    assert_eq!(transfer(&rig, "c2", "park+main", "101"), parked_chosen("702"));
    assert_eq!(transfer(&rig, "c3", "park+main", "102"), parked_chosen("703"));
    let told: Vec<(String, String)> = rig.host.messages();
    assert!(told.contains(&("101".into(), "Parked 5551234 at 701, dial *88701".into())), "{told:?}");
    assert!(told.contains(&("102".into(), "Parked 5551234 at 703, dial *88703".into())), "{told:?}");
    assert!(!told.iter().any(|(to, _)| to.starts_with('7')), "no slot is messaged: {told:?}");
    let parked_event = &rig.host.events()[0];
    assert_eq!((parked_event.extension.as_str(), parked_event.detail.as_deref()), ("701", Some("lot main")));
    // The slot's lamp and the lot's.
    let lamp = |t: Target| rig.host.lamp(ACME, &t).map(|p| p.state.count);
    assert_eq!(lamp(Target::Extension("702".into())), Some(1));
    assert_eq!(lamp(Target::Group("main".into())), Some(3));
    // A full lot sends the call back to whoever transferred it.
    let full = transfer(&rig, "c4", "park+main", "101").unwrap_err();
    assert!(full.sent_back && full.error.to_string() == "every slot of lot \"main\" holds a call", "{full:?}");
    // Picked up by its slot, freeing it for the next park.
    assert_eq!(
        rig.dial(ACME, "r", "*88702", Some("103"), None),
        Ok(DialOutcome::Retrieved { parked_uuid: "c2".into(), extension: "702".into() })
    );
    assert_eq!(lamp(Target::Group("main".into())), Some(2));
    assert_eq!(transfer(&rig, "c5", "park+main", "101"), parked_chosen("702"), "first free again");
    // park+<slot> dialed picks up there; park+<lot> dialed picks up the lot's oldest.
    assert_eq!(
        rig.dial(ACME, "r2", "park+703", Some("103"), None),
        Ok(DialOutcome::Retrieved { parked_uuid: "c3".into(), extension: "703".into() })
    );
    assert_eq!(
        rig.dial(ACME, "r3", "park+main", Some("103"), None),
        Ok(DialOutcome::Retrieved { parked_uuid: "c1".into(), extension: "701".into() })
    );
}

#[test]
fn next_takes_the_slot_after_the_last_one_used_and_the_lot_s_recall_applies() {
    let rig = Rig::new(&conf(LOTS));
    assert_eq!(transfer(&rig, "c1", "park+lobby", "101"), parked_chosen("801"));
    assert_eq!(rig.dial(ACME, "r", "*88801", Some("103"), None).map(|_| ()), Ok(()));
    assert_eq!(transfer(&rig, "c2", "park+lobby", "101"), parked_chosen("802"), "801, just freed, is not reused");
    assert_eq!(transfer(&rig, "c3", "park+lobby", "101"), parked_chosen("803"));
    assert_eq!(transfer(&rig, "c4", "park+lobby", "101"), parked_chosen("801"), "wrapping");
    // The lot's recall-time (20 s), not the group's (60 s): 101 is rung.
    rig.secs(20);
    let rung: Vec<String> = rig.host.rings().iter().map(|r| r.parked_uuid.clone()).collect();
    assert!(rung.contains(&"c2".to_string()) && rung.contains(&"c3".to_string()), "{rung:?}");
    assert_eq!(rig.host.rings()[0].extension, "101", "the parking user is recalled");
}

#[test]
fn a_slot_holds_one_call_and_another_tenant_sees_no_lot() {
    let rig = Rig::new(&conf(LOTS));
    assert_eq!(transfer(&rig, "c1", "*68901", "101"), parked("901"), "a slot named by the park code");
    let again = transfer(&rig, "c2", "*68901", "101").unwrap_err();
    assert!(again.sent_back && matches!(again.error, callpark::DialError::SlotFull { max: 1, .. }), "{again:?}");
    let one = transfer(&rig, "c3", "park+one", "101").unwrap_err();
    assert!(matches!(one.error, callpark::DialError::SlotFull { .. }), "a one-slot lot: {one:?}");
    // globex has no lot "main": its key is no lot there, and acme's slots are not its.
    let r = rig.engine.dial(&DialRequest {
        tenant: "globex.example",
        uuid: "g1",
        dialed: "park+main",
        user: Some("101"),
        ..Default::default()
    });
    assert!(r.is_err(), "{r:?}");
    assert!(rig.engine.list(Some("globex.example")).unwrap().is_empty());
    // A probe of the lot's lamp is answered; an unknown name is not.
    rig.engine.probe(ACME, "park+one", Some("sub-1")).unwrap();
    assert_eq!(rig.host.lamp(ACME, &Target::Group("one".into())).map(|p| p.state.count), Some(1));
    assert!(rig.engine.probe(ACME, "park+nolot", Some("sub-2")).is_err());
}

#[test]
fn lots_are_checked_like_any_configuration() {
    let err = |lots: &str| callpark::config::from_xml("t.xml", &conf(lots)).unwrap_err().to_string();
    for (lots, says) in [
        (r#"<lot name="main"/>"#, "<lot> needs slots=\"701-720\""),
        (r#"<lot name="main" slots="720-701"/>"#, "greater than the last"),
        (r#"<lot name="701" slots="701-702"/>"#, "all digits"),
        (r#"<lot name="sales" slots="701-702"/>"#, "used twice"),
        (r#"<lot name="a" slots="701-703"/><lot name="b" slots="703-705"/>"#, "slot 703 is already in lot \"a\""),
        (r#"<lot name="a" slots="101-103"/>"#, "slot 101 is a member of a group"),
        (r#"<lot name="a" slots="701-702" choose="random"/>"#, "choose \"random\" is first-free or next"),
        (r#"<lot name="a" slots="701-702" recall="sometimes"/>"#, "recall"),
        (r#"<lot name="a" slots="701-702"><slot/></lot>"#, "unexpected <slot> in <lot>"),
    ] {
        let e = err(lots);
        assert!(e.contains(says), "{lots}: {e}");
    }
    let c = callpark::config::from_xml("t.xml", &conf(LOTS)).unwrap();
    let t = c.tenant(ACME);
    assert_eq!(t.lot("lobby").map(|l| (l.slots.len(), l.recall.recall_time)), Some((3, 20)));
    assert_eq!(t.lot_of("802").map(|l| l.name.as_str()), Some("lobby"));
    assert!(c.tenant("globex.example").lots.is_empty());
}

/// `lamp-state` per lot (and per group): a lot's slots and key show its own, the rest of
/// the tenant its setting.
#[test]
fn a_lot_s_own_lamp_state() {
    let rig = Rig::new(&conf(r#"<lot name="main" slots="701-702" lamp-state="early"/>"#));
    assert_eq!(transfer(&rig, "c1", "park+main", "101"), parked_chosen("701"));
    assert_eq!(transfer(&rig, "c2", "*68102", "101"), parked("102"));
    let state = |t: Target| rig.host.lamp(ACME, &t).map(|p| p.answer_state());
    assert_eq!(state(Target::Extension("701".into())), Some(c"early"));
    assert_eq!(state(Target::Group("main".into())), Some(c"early"));
    assert_eq!(state(Target::Extension("102".into())), Some(c"confirmed"), "the tenant's default elsewhere");
    let bad = callpark::config::from_xml("t.xml", &conf(r#"<lot name="m" slots="701-702" lamp-state="on"/>"#));
    assert!(bad.unwrap_err().to_string().contains("lamp-state \"on\" is confirmed or early"));
}

/// Coming from mod_valet_parking (FusionPBX): the lot's number `*5900` and its slots
/// `*5901`... keep the phones' codes and `park+*5901` keys.
#[test]
fn valet_parking_s_codes_and_keys_keep_working() {
    let rig = Rig::new(&conf(r#"<lot name="valet" slots="5901-5903" prefix="*" number="*5900"/>"#));
    assert_eq!(transfer(&rig, "c1", "*5900", "101"), parked_chosen("5901"), "the lot's number parks in a free slot");
    assert_eq!(transfer(&rig, "c2", "park+*5900", "101"), parked_chosen("5902"), "and its key");
    assert_eq!(transfer(&rig, "c3", "*5903", "101"), parked("5903"), "a slot by its code");
    let told = rig.host.messages();
    assert!(told.contains(&("101".into(), "Parked 5551234 at 5901, dial *5901".into())), "{told:?}");
    let count = |t: Target| rig.host.lamp(ACME, &t).map(|p| p.state.count);
    assert_eq!(count(Target::Extension("*5901".into())), Some(1), "the lamp of park+*5901");
    assert_eq!(count(Target::Extension("5901".into())), Some(1), "and of park+5901");
    assert_eq!(count(Target::Group("*5900".into())), Some(3), "the lot's, under its number");
    rig.engine.probe(ACME, "park+*5902", Some("sub-1")).unwrap();
    let retrieved = |p: &str, e: &str| Ok(DialOutcome::Retrieved { parked_uuid: p.into(), extension: e.into() });
    assert_eq!(rig.dial(ACME, "r1", "*5902", Some("103"), None), retrieved("c2", "5902"));
    assert_eq!(rig.dial(ACME, "r2", "park+*5903", Some("103"), None), retrieved("c3", "5903"));
    // The number dialed by a phone parks that call (a consult call, before an attended
    // transfer), in the first free slot.
    assert_eq!(rig.dial(ACME, "r3", "*5900", Some("103"), None), parked_chosen("5902"));
    assert_eq!(rig.dial(ACME, "r4", "*5901", Some("103"), None), retrieved("c1", "5901"));
    assert_eq!(count(Target::Extension("*5901".into())), Some(0));
    for (lots, says) in [
        (r#"<lot name="v" slots="5901-5902" prefix="59"/>"#, "not digits only"),
        (r#"<lot name="v" slots="5901-5902" number="5900"/>"#, "begin it with * or #"),
        (r#"<lot name="v" slots="5901-5902" number="*59x"/>"#, "*, # and digits"),
    ] {
        let e = callpark::config::from_xml("t.xml", &conf(lots)).unwrap_err().to_string();
        assert!(e.contains(says), "{lots}: {e}");
    }
}
