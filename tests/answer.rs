//! A channel's dial as the module hands it over (`Engine::answer`): the facts the switch
//! has, the identity rules of src/identity.rs, and the one reply. One test per defect of
//! the identity code that once lived in mod_callpark.c.

mod common;

use callpark::host::Target;
use callpark::identity::{Facts, Leg, Overrides};
use callpark::reply::{Cause, ChannelDial, Media, Reply, SOUND_FAILED, SOUND_INVALID};
use callpark::DialError;
use common::*;

fn phone<'a>(user: &'a str, dom: &'a str) -> Leg<'a> {
    Leg { authorized: true, user_name: Some(user), domain_name: Some(dom), ..Leg::default() }
}

fn sent_to<'a>(user: &'a str, dom: &'a str) -> Leg<'a> {
    Leg { outbound: true, dialed_user: Some(user), dialed_domain: Some(dom), ..Leg::default() }
}

/// A carrier's call: no user; the dialplan set its domain; maybe a user it called.
fn trunk<'a>(dom: &'a str, called: Option<&'a str>) -> Leg<'a> {
    Leg { domain_name: Some(dom), dialed_user: called, dialed_domain: called.map(|_| dom), ..Leg::default() }
}

fn dial<'a>(uuid: &'a str, dialed: &'a str, facts: Facts<'a>) -> ChannelDial<'a> {
    ChannelDial { uuid, dialed, facts, caller_number: "5551234", caller_name: "Jane", ..ChannelDial::default() }
}

fn hold(ext: &str) -> Reply {
    Reply::Hold { extension: ext.into(), music: String::new(), exit_key: None, announce: None }
}

/// Defect 1: a forged Referred-By of another tenant on a call that reached 101 by its
/// contact (no directory user anywhere) parks in the tenant the switch knows, never in
/// the header's.
#[test]
fn a_forged_referred_by_of_another_tenant_parks_nothing_there() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let facts = Facts {
        channel: trunk(ACME, None),
        bridge_partner: Some(Leg { outbound: true, ..Leg::default() }),
        transferred: true,
        referred_by: Some("<sip:102@globex.example>"),
        ..Facts::default()
    };
    assert_eq!(rig.engine.answer(&dial("c1", "*68102", facts)), hold("102"));
    assert!(rig.engine.list(Some(GLOBEX)).unwrap().is_empty(), "nothing in globex");
    let calls = rig.engine.list(Some(ACME)).unwrap();
    assert_eq!((calls[0].extension.as_str(), calls[0].parking_user.as_str()), ("102", "102"));
    assert_eq!(rig.host.lamp(GLOBEX, &Target::Extension("102".into())), None, "no globex lamp");
    assert!(rig.host.messages().iter().all(|(ext, _)| ext == "102"));
    // *68 (its own extension) needs a parking user: there is none, and nobody to send
    // it back to: refused, with the failure prompt.
    let r = rig.engine.answer(&dial("c2", "*68", facts));
    assert_eq!(
        r,
        Reply::Refuse {
            cause: Cause::NormalTemporaryFailure,
            prompt: SOUND_FAILED.into(),
            error: DialError::NoParkingUser
        }
    );
}

/// A call that was not transferred, with no user of its own (a carrier's caller dialing
/// the code itself), parks nothing at anybody's extension.
#[test]
fn an_untransferred_call_without_a_user_parks_nowhere() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let facts = Facts { channel: trunk(ACME, None), ..Facts::default() };
    let r = rig.engine.answer(&dial("c1", "*68102", facts));
    assert!(matches!(r, Reply::Refuse { error: DialError::NoParkingUser, .. }), "{r:?}");
    assert_eq!(rig.engine.parked_count(), 0);
}

/// Defect 1 with an IP host: the header is nobody, the tenant is the switch's.
#[test]
fn a_referred_by_with_an_ip_host_parks_in_the_known_tenant() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let facts = Facts {
        channel: trunk(ACME, None),
        transferred: true,
        referred_by: Some("<sip:101@127.0.0.1:5060>"),
        ..Facts::default()
    };
    assert_eq!(rig.engine.answer(&dial("c1", "*68103", facts)), hold("103"));
    assert_eq!(rig.engine.list(Some(ACME)).unwrap()[0].parking_user, "103");
    // With no record of any tenant, the header makes none.
    let facts = Facts { channel: Leg::default(), ..facts };
    let r = rig.engine.answer(&dial("c2", "*68103", facts));
    assert!(matches!(r, Reply::Refuse { error: DialError::NoTenant, .. }), "{r:?}");
}

/// A rig where directory user `alice` exists, and the facts of a carrier's call that
/// alice (reached as a directory user) blind-transfers.
fn alice_transfers<'a>() -> (Rig, Facts<'a>) {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.host.add_users(ACME, &["alice"]);
    let facts = Facts {
        channel: trunk(ACME, Some("alice")),
        bridge_partner: Some(sent_to("alice", ACME)),
        transferred: true,
        ..Facts::default()
    };
    (rig, facts)
}

/// Defect 2: alice parks, is recalled, and picks up, like any user.
#[test]
fn a_user_called_alice_parks_is_recalled_and_retrieves() {
    let (rig, facts) = alice_transfers();
    assert_eq!(rig.engine.answer(&dial("c1", "*68", facts)), hold("alice"));
    assert_eq!(rig.host.lamp_count(ACME, "alice"), Some(1));
    rig.secs(60); // the tenant's recall time: alice is in no group
    assert_eq!(rig.host.rings().last().map(|r| r.extension.as_str()), Some("alice"), "the recall rings alice");
    // A mistyped code on alice's transfer goes back to alice.
    let r = rig.engine.answer(&dial("c2", "*6x", facts));
    assert!(matches!(&r, Reply::SendBack { user, prompt, .. } if user == "alice" && prompt == SOUND_INVALID), "{r:?}");
    // alice's own phone picks up with *88.
    let me = Facts { channel: phone("alice", ACME), ..Facts::default() };
    assert_eq!(rig.engine.answer(&dial("r1", "*88", me)), Reply::Bridged);
    assert_eq!(rig.engine.parked_count(), 0);
}

/// A slot named by a user id (`park+alice`) is answered on a probe like a numbered
/// one: a phone subscribing while a call is parked there sees it lit, and the lamp
/// republished after a module load goes out when the call is gone.
#[test]
fn the_lamp_of_a_slot_named_by_a_user_answers_a_probe() {
    let (rig, facts) = alice_transfers();
    assert_eq!(rig.engine.answer(&dial("c1", "*68", facts)), hold("alice"));
    rig.host.take();
    assert_eq!(rig.engine.probe(ACME, "park+alice", Some("104")), Ok(()));
    let lamp = rig.host.lamp(ACME, &Target::Extension("alice".into())).expect("a probe is answered");
    assert_eq!((lamp.state.count, lamp.subscriber.as_deref()), (1, Some("104")));
    rig.engine.hangup("c1").unwrap();
    assert_eq!(rig.engine.probe(ACME, "park+alice@acme.example", None), Ok(()));
    assert_eq!(rig.host.lamp_count(ACME, "alice"), Some(0), "the lamp goes out");
    // Still no lamp for what is neither a user id nor a group.
    assert!(rig.engine.probe(ACME, "park+a b", None).is_err());
}

/// A leg the switch sent to a contact 101 registered (a public dialplan's
/// `bridge ${sofia_contact(101@acme.example)}`): no directory user, not authenticated.
fn to_contact<'a>(contact: &'a str) -> Leg<'a> {
    Leg { outbound: true, contact: Some(contact), ..Leg::default() }
}

/// Issue 22, item 10: a carrier's call reached 101 through 101's registered contact; 101
/// blind-transfers it to bare *68. The registration is the switch's own record of who
/// 101 is: parked at 101 for 101 (before: no parking user, the caller hung up).
#[test]
fn a_call_sent_to_a_registered_contact_is_parked_for_whoever_registered_it() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.host.register(ACME, "101", "sip:101@127.0.0.1:5062;ob");
    for referred_by in [None, Some("<sip:101@127.0.0.1:5062>"), Some("<sip:102@globex.example>")] {
        let facts = Facts {
            channel: trunk(ACME, None),
            bridge_partner: Some(to_contact("101@127.0.0.1:5062;ob")),
            transferred: true,
            referred_by,
            ..Facts::default()
        };
        assert_eq!(rig.engine.answer(&dial("c1", "*68", facts)), hold("101"), "{referred_by:?}");
        let c = &rig.engine.list(None).unwrap()[0];
        assert_eq!((c.tenant.as_str(), c.parking_user.as_str()), (ACME, "101"));
        rig.engine.hangup("c1").unwrap();
    }
    // A contact nobody registered is nobody: bare *68 has no parking user, and the
    // contact's user part names no one.
    let facts = Facts {
        channel: trunk(ACME, None),
        bridge_partner: Some(to_contact("102@127.0.0.1:5070")),
        transferred: true,
        ..Facts::default()
    };
    assert!(matches!(rig.engine.answer(&dial("c2", "*68", facts)), Reply::Refuse { .. }));
}

/// Issue 22, item 12: the same call when the dialplan named no tenant (and the switch's
/// global `domain_name` is another tenant's, which the shim no longer reads): the tenant
/// is the one whose user registered the contact (101 is a user of both tenants; only
/// acme's 101 registered it).
#[test]
fn the_tenant_of_a_call_sent_to_a_contact_is_the_registering_user_s() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.host.register(ACME, "101", "sip:101@127.0.0.1:5062;ob");
    rig.host.register(GLOBEX, "101", "sip:101@127.0.0.1:5999");
    let facts = Facts {
        channel: Leg::default(),
        bridge_partner: Some(to_contact("101@127.0.0.1:5062;ob")),
        transferred: true,
        ..Facts::default()
    };
    assert_eq!(rig.engine.answer(&dial("c1", "*68102", facts)), hold("102"));
    let c = &rig.engine.list(None).unwrap()[0];
    assert_eq!((c.tenant.as_str(), c.extension.as_str(), c.parking_user.as_str()), (ACME, "102", "101"));
    assert!(rig.engine.list(Some(GLOBEX)).unwrap().is_empty());
}

/// Defect 3: after a simultaneous ring (109 dialed last), 102 answered and parks: the
/// partner recorded at the bridge is the parking user, not the last user dialed.
#[test]
fn after_a_simultaneous_ring_the_member_who_answered_is_the_parking_user() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user" recall-time="30""#));
    let facts = Facts {
        channel: trunk(ACME, Some("105")),
        bridge_partner: Some(sent_to("102", ACME)),
        transferred: true,
        ..Facts::default()
    };
    assert_eq!(rig.engine.answer(&dial("c1", "*68", facts)), hold("102"));
    rig.secs(30);
    assert_eq!(rig.host.rings()[0].extension, "102");
}

/// Defect 4: the far end of an outbound leg to 101 transfers it to *88102: 101's leg is
/// no authenticated retriever, and nothing is bridged.
#[test]
fn the_far_end_of_an_outbound_leg_retrieves_nothing() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    assert_eq!(rig.dial(ACME, "parked", "*68102", None, Some("101")), parked("102"));
    let facts = Facts {
        channel: sent_to("101", ACME),
        bridge_partner: Some(trunk(ACME, None)),
        transferred: true,
        ..Facts::default()
    };
    let r = rig.engine.answer(&dial("leg", "*88102", facts));
    assert!(matches!(r, Reply::Refuse { error: DialError::NoRetriever, .. }), "{r:?}");
    assert_eq!(rig.engine.parked_count(), 1, "still parked");
}

/// A sent-back call its parking user took comes back only when that conversation is
/// over: it ends, and is not parked again.
#[test]
fn a_sent_back_call_that_was_taken_ends() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let facts = Facts { channel: trunk(ACME, Some("101")), transferred: true, ..Facts::default() };
    let d = ChannelDial { back_to_park: true, sent_back_answered: true, ..dial("c1", "back-to-park", facts) };
    assert_eq!(rig.engine.answer(&d), Reply::End);
    assert_eq!(rig.engine.parked_count(), 0);
    let d = ChannelDial { sent_back_answered: false, ..d };
    assert_eq!(rig.engine.answer(&d), hold("101"), "not taken: parked at the parking user's");
}

#[test]
fn the_reply_carries_music_prompts_and_causes() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let media = Media { music: Some("local_stream://moh"), sound_empty: Some("empty.wav"), ..Media::default() };
    let me = Facts { channel: phone("101", ACME), ..Facts::default() };
    let d = ChannelDial { media, ..dial("c1", "*68", me) };
    assert_eq!(
        rig.engine.answer(&d),
        Reply::Hold { extension: "101".into(), music: "local_stream://moh".into(), exit_key: None, announce: None }
    );
    let d = ChannelDial { media, ..dial("r", "*88103", me) };
    let r = rig.engine.answer(&d);
    assert!(
        matches!(&r, Reply::Refuse { cause: Cause::SubscriberAbsent, prompt, .. } if prompt == "empty.wav"),
        "{r:?}"
    );
    let r = rig.engine.answer(&dial("r", "*99", me));
    assert!(matches!(&r, Reply::Refuse { cause: Cause::UnallocatedNumber, .. }), "{r:?}");
    // The admin's overrides: another tenant, user and parking user.
    let o = Overrides { tenant: Some(GLOBEX), domain: Some(GLOBEX), transferor: Some("103"), ..Overrides::default() };
    let d = dial("c9", "*68", Facts { overrides: o, ..me });
    assert_eq!(rig.engine.answer(&d), hold("103"));
    assert_eq!(rig.engine.list(Some(GLOBEX)).unwrap()[0].parking_user, "103");
}

/// Who hears where the call was parked (`announce`). By default the channel that dialed
/// the code itself (a phone parking its own call, an attended transfer's consult call),
/// only when the park chose the extension: a group's free member (`*58`), a lot's free
/// slot. `dialed` also repeats an extension the parker dialed; `always` tells a caller
/// parked by a blind transfer too; `none` nobody.
#[test]
fn the_announcement_goes_to_the_parker_on_the_line_when_the_park_chose() {
    let said = |conf: &str, d: &ChannelDial| match Rig::new(conf).engine.answer(d) {
        Reply::Hold { announce, .. } => announce,
        other => panic!("not parked: {other:?}"),
    };
    let me = Facts { channel: phone("101", ACME), ..Facts::default() };
    let blind = Facts { channel: trunk(ACME, Some("101")), transferred: true, ..Facts::default() };
    let basic = group_conf(r#"recall="parking-user""#);
    let lots = basic.replace("</groups>", r#"</groups><lots><lot name="main" slots="701-703" number="*700"/></lots>"#);
    // chosen (the default): the extension the parker named is not repeated to it.
    assert_eq!(said(&basic, &dial("c1", "*68102", me)), None, "named by the parker");
    assert_eq!(said(&basic, &dial("c1", "*68", me)), None, "the parker's own");
    assert_eq!(said(&basic, &dial("c1", "*58", me)), Some("en number iterated 101".into()), "a group's member");
    assert_eq!(said(&lots, &dial("c1", "*700", me)), Some("en number iterated 701".into()), "a lot's slot");
    assert_eq!(said(&lots, &dial("c1", "park+main", blind)), None, "the parker is gone: it is messaged instead");
    let with = |conf: &str, v: &str| {
        conf.replace(
            "<param name=\"recall-time\" value=\"60\"/>",
            &format!("<param name=\"recall-time\" value=\"60\"/><param name=\"announce\" value=\"{v}\"/>"),
        )
    };
    assert_eq!(said(&with(&basic, "dialed"), &dial("c1", "*68102", me)), Some("en number iterated 102".into()));
    assert_eq!(said(&with(&basic, "dialed"), &dial("c1", "*68102", blind)), None, "off for blind transfers");
    assert_eq!(said(&with(&basic, "always"), &dial("c1", "*68102", blind)), Some("en number iterated 102".into()));
    assert_eq!(said(&with(&basic, "none"), &dial("c1", "*58", me)), None);
    assert_eq!(said(&with(&lots, "none"), &dial("c1", "*700", me)), None);
    let alice = Facts { channel: phone("alice", ACME), ..Facts::default() };
    assert_eq!(said(&with(&basic, "dialed"), &dial("c1", "*68", alice)), Some("en name_spelled iterated alice".into()));
    let bad = callpark::config::from_xml("t.xml", &with(&basic, "loud")).unwrap_err().to_string();
    assert!(bad.contains("announce \"loud\" is none, chosen, dialed or always"), "{bad}");
}

/// Found by the fuzzer (`ffi`): a hand-over dialed on a switch that is no node of a
/// shared park, or from an address that is no node, is refused with a cause. No prompt:
/// nobody listens to a call between switches, and a flood of them must cost no early
/// media.
#[test]
fn a_hand_over_from_no_node_is_refused_without_a_prompt() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    let facts = Facts { channel: trunk(ACME, None), ..Facts::default() };
    let d = ChannelDial { network_addr: "198.51.100.7", ..dial("leg", "callpark-handover-00ff", facts) };
    match rig.engine.answer(&d) {
        Reply::Refuse { cause, prompt, error } => {
            assert_eq!(prompt, "", "no prompt, no early media");
            assert_eq!(cause, callpark::reply::Cause::NormalTemporaryFailure);
            assert!(matches!(error, DialError::NotANode { .. }), "{error:?}");
        }
        other => panic!("refused, not {other:?}"),
    }
}
