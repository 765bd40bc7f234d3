//! One test per identity rule (src/identity.rs, docs/admin-guide.md "Who is who").

use super::*;

const ACME: &str = "acme.example";
const GLOBEX: &str = "globex.example";

fn phone<'a>(user: &'a str, dom: &'a str) -> Leg<'a> {
    Leg { authorized: true, user_name: Some(user), domain_name: Some(dom), ..Leg::default() }
}

fn sent_to<'a>(user: &'a str, dom: &'a str) -> Leg<'a> {
    Leg { outbound: true, dialed_user: Some(user), dialed_domain: Some(dom), ..Leg::default() }
}

/// A call from a carrier: no user, a domain the dialplan set, maybe a user it called.
fn trunk<'a>(dom: Option<&'a str>, called: Option<&'a str>) -> Leg<'a> {
    Leg { domain_name: dom, dialed_user: called, dialed_domain: called.and(dom), ..Leg::default() }
}

fn nobody_exists(_: &str, _: &str) -> bool {
    false
}

fn everybody_exists(_: &str, _: &str) -> bool {
    true
}

fn who(f: &Facts) -> (Option<String>, Option<String>, Option<String>) {
    let i = resolve(f, everybody_exists);
    (i.tenant, i.user, i.parking_user)
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn a_phone_that_dials_is_its_own_user_tenant_and_parking_user() {
    let f = Facts { channel: phone("101", ACME), ..Facts::default() };
    assert_eq!(who(&f), (s(ACME), s("101"), s("101")));
    assert!(!resolve(&f, nobody_exists).by_transfer);
}

#[test]
fn the_tenant_is_lower_case() {
    let f = Facts { channel: phone("101", "ACME.Example"), ..Facts::default() };
    assert_eq!(who(&f).0, s(ACME));
}

#[test]
fn a_blind_transfer_is_parked_by_the_transferring_leg() {
    let f = Facts {
        channel: phone("104", ACME),
        transferring_leg: Some(sent_to("101", ACME)),
        bridge_partner: Some(sent_to("103", ACME)),
        transferred: true,
        ..Facts::default()
    };
    let i = resolve(&f, everybody_exists);
    assert_eq!((i.user, i.parking_user, i.by_transfer), (s("104"), s("101"), true));
}

#[test]
fn without_the_transferring_leg_the_bridge_partner_parks() {
    let f = Facts {
        channel: trunk(Some(ACME), Some("109")),
        bridge_partner: Some(sent_to("102", ACME)),
        transferred: true,
        ..Facts::default()
    };
    assert_eq!(who(&f), (s(ACME), None, s("102")));
}

/// Defect 1: a Referred-By of another tenant never picks the tenant.
#[test]
fn referred_by_of_another_tenant_picks_neither_tenant_nor_user() {
    let f = Facts {
        channel: trunk(Some(ACME), None),
        bridge_partner: Some(Leg { outbound: true, ..Leg::default() }),
        transferred: true,
        referred_by: Some("<sip:102@globex.example>"),
        ..Facts::default()
    };
    assert_eq!(who(&f), (s(ACME), None, None));
}

#[test]
fn referred_by_with_an_ip_host_is_nobody() {
    let f = Facts {
        channel: trunk(Some(ACME), None),
        transferred: true,
        referred_by: Some("\"Bob\" <sip:102@127.0.0.1:5060;transport=udp>"),
        ..Facts::default()
    };
    assert_eq!(who(&f), (s(ACME), None, None));
}

#[test]
fn with_no_record_of_a_tenant_a_referred_by_makes_none() {
    let f = Facts {
        channel: Leg::default(),
        transferred: true,
        referred_by: Some("<sip:102@globex.example>"),
        ..Facts::default()
    };
    assert_eq!(who(&f), (None, None, None));
}

#[test]
fn referred_by_picks_a_user_inside_the_known_tenant_that_the_directory_has() {
    let f = Facts {
        channel: trunk(Some(ACME), None),
        transferred: true,
        referred_by: Some("Bob <sip:102@Acme.Example;user=phone>"),
        ..Facts::default()
    };
    assert_eq!(who(&f).2, s("102"));
    assert_eq!(resolve(&f, nobody_exists).parking_user, None, "not a user of the directory");
}

#[test]
fn referred_by_counts_only_for_a_transferred_call() {
    let f = Facts { channel: trunk(Some(ACME), None), referred_by: Some("<sip:102@acme.example>"), ..Facts::default() };
    assert_eq!(who(&f).2, None);
}

#[test]
fn a_transferring_leg_of_another_tenant_is_nobody() {
    let f = Facts {
        channel: phone("104", ACME),
        transferring_leg: Some(phone("101", GLOBEX)),
        transferred: true,
        ..Facts::default()
    };
    let i = resolve(&f, everybody_exists);
    assert_eq!((i.tenant.as_deref(), i.user, i.parking_user, i.by_transfer), (Some(ACME), None, None, false));
}

/// A far end (a carrier, a user of another tenant) REFERs an authenticated user's own
/// inbound call to `*88102`: the user asked for nothing, nobody retrieves.
#[test]
fn a_far_end_transfer_of_an_authenticated_call_retrieves_nothing() {
    let f = Facts {
        channel: phone("101", ACME),
        bridge_partner: Some(Leg { outbound: true, ..Leg::default() }),
        transferred: true,
        ..Facts::default()
    };
    assert_eq!(who(&f), (s(ACME), None, None));
}

/// An authenticated channel whose user id the rules do not take still belongs to its own
/// domain: the legs it was connected to never name another tenant for it.
#[test]
fn an_authenticated_channel_with_an_odd_user_id_keeps_its_domain() {
    let f = Facts {
        channel: phone("a b", ACME),
        transferring_leg: Some(sent_to("101", GLOBEX)),
        transferred: true,
        ..Facts::default()
    };
    assert_eq!(who(&f), (s(ACME), None, None));
}

/// Defect 2: user ids that are not digits are users.
#[test]
fn non_numeric_user_ids_are_users() {
    for id in ["alice", "+4930123456", "j.doe", "front-desk_2"] {
        let f = Facts { channel: phone(id, ACME), ..Facts::default() };
        assert_eq!(who(&f), (s(ACME), s(id), s(id)), "{id}");
    }
}

#[test]
fn a_malformed_user_id_is_no_user_not_an_error() {
    for id in ["", " ", "a b", "x,y", "101@acme", "a:b", &"9".repeat(MAX_USER_LEN + 1)] {
        let f = Facts { channel: phone(id, ACME), ..Facts::default() };
        assert_eq!(who(&f), (s(ACME), None, None), "{id:?}");
    }
}

/// Defect 3: the user recorded for the answered leg wins over the last user dialed.
#[test]
fn after_a_simultaneous_ring_the_member_who_answered_parks() {
    let f = Facts {
        channel: trunk(Some(ACME), Some("101")),
        bridge_partner: Some(sent_to("102", ACME)),
        transferred: true,
        referred_by: Some("<sip:103@acme.example>"),
        ..Facts::default()
    };
    assert_eq!(who(&f).2, s("102"));
}

#[test]
fn the_user_it_called_parks_when_nothing_better_is_known() {
    let f = Facts { channel: trunk(Some(ACME), Some("101")), transferred: true, ..Facts::default() };
    assert_eq!(who(&f).2, s("101"));
}

/// Defect 4: the far end of an outbound leg retrieves nothing.
#[test]
fn an_outbound_leg_is_no_retriever() {
    let f = Facts {
        channel: sent_to("101", ACME),
        transferring_leg: Some(trunk(None, None)),
        transferred: true,
        ..Facts::default()
    };
    let i = resolve(&f, everybody_exists);
    assert_eq!((i.tenant.as_deref(), i.user), (Some(ACME), None));
}

#[test]
fn an_unauthenticated_phone_is_no_user() {
    let f = Facts {
        channel: Leg { authorized: false, user_name: Some("101"), domain_name: Some(ACME), ..Leg::default() },
        ..Facts::default()
    };
    assert_eq!(who(&f), (s(ACME), None, None));
}

#[test]
fn the_dialplan_overrides_win() {
    let o = Overrides { tenant: Some(GLOBEX), user: Some("103"), domain: Some(GLOBEX), transferor: Some("102") };
    let f = Facts { channel: phone("101", ACME), overrides: o, ..Facts::default() };
    let i = resolve(&f, nobody_exists);
    assert_eq!((i.tenant, i.user, i.parking_user, i.by_transfer), (s(GLOBEX), s("103"), s("102"), true));
}

#[test]
fn an_override_user_of_another_domain_than_the_tenant_is_nobody() {
    let o = Overrides { tenant: Some(GLOBEX), user: Some("103"), domain: Some(ACME), transferor: None };
    let f = Facts { overrides: o, ..Facts::default() };
    assert_eq!(who(&f), (s(GLOBEX), None, None));
}

#[test]
fn callpark_user_or_transferor_without_callpark_domain_is_nobody() {
    let o = Overrides { user: Some("103"), transferor: Some("102"), ..Overrides::default() };
    let f = Facts { channel: phone("101", ACME), overrides: o, ..Facts::default() };
    assert_eq!(who(&f), (s(ACME), s("101"), s("101")));
    let o = Overrides { domain: Some(GLOBEX), ..Overrides::default() };
    let f = Facts { channel: trunk(None, None), overrides: o, ..Facts::default() };
    assert_eq!(who(&f), (None, None, None), "callpark_domain alone names no tenant");
}

#[test]
fn callpark_domain_names_the_tenant() {
    let o = Overrides { user: Some("103"), domain: Some(ACME), ..Overrides::default() };
    let f = Facts { channel: trunk(None, None), overrides: o, ..Facts::default() };
    assert_eq!(who(&f), (s(ACME), s("103"), s("103")));
}

#[test]
fn referred_by_values() {
    assert_eq!(referred_by_user("<sip:102@acme.example>"), Some(("102", "acme.example")));
    assert_eq!(
        referred_by_user("\"A, B\" <SIPS:alice@acme.example:5061;transport=tls>"),
        Some(("alice", "acme.example"))
    );
    assert_eq!(referred_by_user("sip:acme.example"), None);
    assert_eq!(referred_by_user("garbage"), None);
    assert_eq!(referred_by_user(""), None);
}

#[test]
fn contacts_compare_by_user_host_and_port() {
    use super::contact_key;
    let k = |c: &str| contact_key(c).map(|(u, h)| format!("{u}@{h}"));
    assert_eq!(k("101@127.0.0.1:5062;ob"), Some("101@127.0.0.1:5062".into()));
    assert_eq!(k("sofia/internal/sip:101@127.0.0.1:5062;ob"), Some("101@127.0.0.1:5062".into()));
    assert_eq!(k("<sips:101@Phone.Example>"), Some("101@phone.example:5060".into()));
    assert_eq!(k("sip:101@[::1]"), Some("101@[::1]:5060".into()));
    assert_eq!(k("sip:101@[::1]:5070;transport=tcp"), Some("101@[::1]:5070".into()));
    for bad in ["", "sip:", "127.0.0.1:5060", "@host", "101@"] {
        assert_eq!(k(bad), None, "{bad}");
    }
}
