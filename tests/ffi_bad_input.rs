//! Every export of the C ABI called with NULL pointers, non-UTF-8, over-long strings and
//! unknown or freed handles: each answers with a result code, none crashes or panics.

use std::ffi::{c_char, c_void, CString};
use std::ptr::{null, null_mut};

use callpark::ffi::api::*;
use callpark::ffi::command::*;
use callpark::ffi::cp_result;
use callpark::ffi::dial::*;
use callpark::ffi::host::*;

unsafe extern "C" fn ok_bridge(_: *mut c_void, _: *const c_char, _: *const c_char, _: cp_joining) -> cp_result {
    cp_result::Ok
}
unsafe extern "C" fn ring(_: *mut c_void, _: *const cp_ring) -> cp_result {
    cp_result::Ok
}
unsafe extern "C" fn cancel(_: *mut c_void, _: *const c_char) {}
unsafe extern "C" fn transfer(
    _: *mut c_void,
    _: *const c_char,
    _: *const c_char,
    _: *const c_char,
    _: *const c_char,
) -> cp_result {
    cp_result::Ok
}
unsafe extern "C" fn presence(_: *mut c_void, _: *const cp_presence) {}
unsafe extern "C" fn message(_: *mut c_void, _: *const c_char, _: *const c_char, _: *const c_char) {}
unsafe extern "C" fn event(_: *mut c_void, _: *const cp_event) {}
unsafe extern "C" fn exists(_: *mut c_void, _: *const c_char, _: *const c_char) -> bool {
    true
}

/// A dial of `uuid`, which dialed `dialed`, by the authenticated `user`@`domain`.
fn dial(uuid: *const c_char, dialed: *const c_char, user: *const c_char, domain: *const c_char) -> cp_dial {
    cp_dial {
        uuid,
        dialed,
        channel: cp_leg {
            authorized: true,
            user_name: user,
            domain_name: domain,
            outbound: false,
            dialed_user: null(),
            dialed_domain: null(),
            contact: null(),
        },
        transferring_leg: null(),
        bridge_partner: null(),
        refer_to: null(),
        blind_transfer_uuid: null(),
        referred_by: null(),
        tenant_override: null(),
        user_override: null(),
        domain_override: null(),
        transferor_override: null(),
        caller_number: null(),
        caller_name: null(),
        music: null(),
        hold_music: null(),
        sound_empty: null(),
        sound_invalid: null(),
        sound_failed: null(),
        back_to_park: false,
        sent_back_answered: false,
        network_addr: null(),
        timeout: null(),
    }
}

fn result() -> Box<cp_dial_result> {
    Box::new(cp_dial_result {
        action: cp_action::Bridged,
        code: cp_result::Panic,
        hangup_cause: 99,
        hold: cp_hold_terms { music: [7; CP_DIAL_TEXT_SIZE], exit_key: [7; 2], announce: [7; CP_DIAL_NAME_SIZE] },
        prompt: [7; CP_DIAL_TEXT_SIZE],
        user: [7; CP_DIAL_NAME_SIZE],
        tenant: [7; CP_DIAL_NAME_SIZE],
    })
}

fn text(b: &[c_char]) -> String {
    unsafe { std::ffi::CStr::from_ptr(b.as_ptr()) }.to_str().unwrap().to_string()
}

fn host() -> cp_host {
    cp_host {
        host_ctx: null_mut(),
        bridge: Some(ok_bridge),
        ring: Some(ring),
        cancel_ring: Some(cancel),
        transfer: Some(transfer),
        presence: Some(presence),
        message: Some(message),
        event: Some(event),
        user_exists: Some(exists),
        log: None,
        sip_notify: None,
        bridge_to_node: None,
        contacts: None,
        operate: None,
        redirect_to_node: None,
    }
}

const XML: &str = "<configuration name=\"callpark.conf\"/>";

fn config() -> *const cp_config {
    let mut out: *const cp_config = null();
    let src = CString::new("t").unwrap();
    let r =
        unsafe { cp_config_parse(src.as_ptr(), XML.as_ptr().cast(), XML.len(), &mut out, null_mut(), 0, null_mut()) };
    assert_eq!(r, cp_result::Ok);
    out
}

fn engine() -> *const cp_engine {
    let c = config();
    let mut e: *const cp_engine = null();
    assert_eq!(unsafe { cp_engine_new(&host(), c, CP_ENGINE_MANUAL_CLOCK, &mut e) }, cp_result::Ok);
    cp_config_free(c);
    e
}

fn cs(s: &[u8]) -> CString {
    CString::new(s).unwrap()
}

#[test]
fn result_message_and_version() {
    let mut n = 0usize;
    let mut buf = [0 as c_char; 4];
    unsafe {
        assert_eq!(cp_result_message(0, null_mut(), 10, &mut n), cp_result::NullParameter);
        assert_eq!(cp_result_message(u32::MAX, buf.as_mut_ptr(), buf.len(), null_mut()), cp_result::Ok);
        assert_eq!(
            cp_result_message(1, buf.as_mut_ptr(), 0, &mut n),
            cp_result::Ok,
            "a zero-length buffer is left alone"
        );
    }
    assert!(!cp_version().is_null());
}

#[test]
fn config_parse_bad_input() {
    let src = cs(b"t");
    let mut out: *const cp_config = null();
    let mut err = [0 as c_char; 64];
    let mut n = 0usize;
    unsafe {
        assert_eq!(
            cp_config_parse(null(), XML.as_ptr().cast(), XML.len(), &mut out, null_mut(), 0, null_mut()),
            cp_result::NullParameter
        );
        assert_eq!(
            cp_config_parse(src.as_ptr(), null(), 0, &mut out, null_mut(), 0, null_mut()),
            cp_result::NullParameter
        );
        assert_eq!(
            cp_config_parse(src.as_ptr(), XML.as_ptr().cast(), XML.len(), null_mut(), null_mut(), 0, null_mut()),
            cp_result::NullParameter
        );
        let bad = b"<configuration name=\"callpark.conf\">\xff</configuration>";
        assert_eq!(
            cp_config_parse(
                src.as_ptr(),
                bad.as_ptr().cast(),
                bad.len(),
                &mut out,
                err.as_mut_ptr(),
                err.len(),
                &mut n
            ),
            cp_result::InvalidUtf8
        );
        let src_bad = cs(b"\xfe");
        assert_eq!(
            cp_config_parse(src_bad.as_ptr(), XML.as_ptr().cast(), XML.len(), &mut out, null_mut(), 0, null_mut()),
            cp_result::InvalidUtf8
        );
        // An over-long broken document: every error reported, cut to the buffer, no overflow.
        let long = format!(
            "<configuration name=\"callpark.conf\"><settings>{}</settings></configuration>",
            "<param name=\"x\" value=\"y\"/>".repeat(5000)
        );
        assert_eq!(
            cp_config_parse(
                src.as_ptr(),
                long.as_ptr().cast(),
                long.len(),
                &mut out,
                err.as_mut_ptr(),
                err.len(),
                &mut n
            ),
            cp_result::ConfigInvalid
        );
        assert_eq!(n, err.len() - 1);
        assert!(out.is_null(), "no handle on failure");
    }
    cp_config_free(null());
    cp_config_free(0x4440 as *const cp_config);
}

#[test]
fn engine_new_and_free_bad_input() {
    let c = config();
    let mut e: *const cp_engine = null();
    unsafe {
        assert_eq!(cp_engine_new(null(), c, 0, &mut e), cp_result::NullParameter);
        assert_eq!(cp_engine_new(&host(), c, 0, null_mut()), cp_result::NullParameter);
        assert_eq!(cp_engine_new(&host(), null(), 0, &mut e), cp_result::NullParameter);
        assert_eq!(cp_engine_new(&host(), 0x5550 as *const cp_config, 0, &mut e), cp_result::InvalidHandle);
        let mut h = host();
        h.bridge = None;
        assert_eq!(cp_engine_new(&h, c, 0, &mut e), cp_result::NullParameter);
        assert_eq!(cp_engine_new(&host(), c, 2, &mut e), cp_result::InvalidArgument);
    }
    assert!(e.is_null());
    cp_config_free(c);
    // A freed config handle is unknown afterwards.
    assert_eq!(unsafe { cp_engine_new(&host(), c, 0, &mut e) }, cp_result::InvalidHandle);
    cp_engine_free(null());
    cp_engine_free(0x6660 as *const cp_engine);
}

#[test]
fn engine_calls_on_unknown_and_freed_handles() {
    let e = engine();
    cp_engine_free(e);
    let bogus = 0x7770 as *const cp_engine;
    let u = cs(b"x");
    let mut n = 0usize;
    let mut buf = [0 as c_char; 16];
    let mut out = result();
    let d = dial(u.as_ptr(), u.as_ptr(), u.as_ptr(), u.as_ptr());
    for h in [e, bogus] {
        unsafe {
            assert_eq!(cp_engine_reload(h, null()), cp_result::InvalidHandle);
            assert_eq!(cp_engine_dial(h, &d, &mut *out), cp_result::InvalidHandle);
            assert_eq!(out.action, cp_action::Bridged, "not written");
            assert_eq!(cp_engine_hangup(h, u.as_ptr()), cp_result::InvalidHandle);
            assert_eq!(cp_engine_recall_answered(h, u.as_ptr(), 1, u.as_ptr()), cp_result::InvalidHandle);
            assert_eq!(cp_engine_recall_failed(h, u.as_ptr(), 1), cp_result::InvalidHandle);
            assert_eq!(cp_engine_probe(h, u.as_ptr(), u.as_ptr(), null()), cp_result::InvalidHandle);
            assert_eq!(
                cp_engine_list(h, null(), cp_format::Text, buf.as_mut_ptr(), buf.len(), &mut n),
                cp_result::InvalidHandle
            );
            assert_eq!(cp_engine_status(h, buf.as_mut_ptr(), buf.len(), &mut n), cp_result::InvalidHandle);
            let a = cp_adopt {
                tenant: u.as_ptr(),
                uuid: u.as_ptr(),
                extension: u.as_ptr(),
                parking_user: u.as_ptr(),
                caller_number: null(),
                caller_name: null(),
                parked_epoch: null(),
                now_epoch: 0,
                timeout: null(),
                why: cp_adoption::LeftAlone,
                running: null(),
                exit_key: true,
            };
            let mut then = cp_after_adopt::Nothing;
            assert_eq!(cp_engine_adopt(h, &a, &mut then), cp_result::InvalidHandle);
            assert_eq!(then, cp_after_adopt::PlainHold, "a caller left alone keeps a hold whatever the library says");
        }
        assert_eq!(cp_engine_advance(h, 1), cp_result::InvalidHandle);
    }
    assert_eq!(cp_engine_advance(null(), 1), cp_result::NullParameter);
}

#[test]
fn engine_calls_with_null_bad_utf8_and_over_long_strings() {
    let e = engine();
    let ok = cs(b"acme.example");
    let code = cs(b"*68");
    let user = cs(b"101");
    let bad = cs(b"\xc3\x28");
    let long = CString::new("a".repeat(100_000)).unwrap();
    let long_digits = CString::new(format!("*88{}", "1".repeat(100_000))).unwrap();
    let mut n = 0usize;
    let mut buf = [0 as c_char; 16];
    unsafe {
        // dial: NULL request or result, each required field NULL: nothing written.
        let mut out = result();
        let d = dial(user.as_ptr(), code.as_ptr(), user.as_ptr(), ok.as_ptr());
        assert_eq!(cp_engine_dial(e, null(), &mut *out), cp_result::NullParameter);
        assert_eq!(cp_engine_dial(e, &d, null_mut()), cp_result::NullParameter);
        for d in [
            dial(null(), code.as_ptr(), user.as_ptr(), ok.as_ptr()),
            dial(user.as_ptr(), null(), user.as_ptr(), ok.as_ptr()),
        ] {
            assert_eq!(cp_engine_dial(e, &d, &mut *out), cp_result::NullParameter);
            assert_eq!(out.action, cp_action::Bridged, "not written");
        }
        // Refused, each with its prompt and cause: a uuid or dialed string that is no
        // UTF-8, an over-long uuid or code; a user or domain that is no UTF-8 or too long
        // is nobody (no parking user, no tenant).
        for (d, want, cause) in [
            (dial(bad.as_ptr(), code.as_ptr(), user.as_ptr(), ok.as_ptr()), cp_result::InvalidUtf8, 41),
            (dial(user.as_ptr(), bad.as_ptr(), user.as_ptr(), ok.as_ptr()), cp_result::CodeBadCharacter, 1),
            (dial(long.as_ptr(), code.as_ptr(), user.as_ptr(), ok.as_ptr()), cp_result::InvalidArgument, 41),
            (dial(user.as_ptr(), long_digits.as_ptr(), user.as_ptr(), ok.as_ptr()), cp_result::CodeTooLong, 1),
            (dial(user.as_ptr(), long.as_ptr(), user.as_ptr(), ok.as_ptr()), cp_result::CodeUnknown, 1),
            (dial(user.as_ptr(), code.as_ptr(), bad.as_ptr(), ok.as_ptr()), cp_result::NoParkingUser, 41),
            (dial(user.as_ptr(), code.as_ptr(), long.as_ptr(), ok.as_ptr()), cp_result::NoParkingUser, 41),
            (dial(user.as_ptr(), code.as_ptr(), user.as_ptr(), bad.as_ptr()), cp_result::NoTenant, 41),
            (dial(user.as_ptr(), code.as_ptr(), user.as_ptr(), long.as_ptr()), cp_result::NoTenant, 41),
        ] {
            let mut out = result();
            assert_eq!(cp_engine_dial(e, &d, &mut *out), want);
            assert_eq!((out.action, out.code, out.hangup_cause), (cp_action::None, want, cause));
            assert!(text(&out.prompt).starts_with("ivr/"), "a prompt: {}", text(&out.prompt));
            assert_eq!(
                (text(&out.hold.music), text(&out.user), text(&out.tenant)),
                (String::new(), String::new(), String::new())
            );
        }

        // The other calls.
        assert_eq!(cp_engine_hangup(e, null()), cp_result::NullParameter);
        assert_eq!(cp_engine_hangup(e, bad.as_ptr()), cp_result::InvalidUtf8);
        assert_eq!(cp_engine_hangup(e, long.as_ptr()), cp_result::InvalidArgument);
        assert_eq!(cp_engine_recall_answered(e, null(), 1, user.as_ptr()), cp_result::NullParameter);
        assert_eq!(cp_engine_recall_answered(e, user.as_ptr(), 1, null()), cp_result::NullParameter);
        assert_eq!(cp_engine_recall_answered(e, bad.as_ptr(), 1, user.as_ptr()), cp_result::InvalidUtf8);
        assert_eq!(cp_engine_recall_answered(e, user.as_ptr(), 1, long.as_ptr()), cp_result::InvalidArgument);
        assert_eq!(cp_engine_recall_failed(e, null(), 1), cp_result::NullParameter);
        assert_eq!(cp_engine_recall_failed(e, bad.as_ptr(), 1), cp_result::InvalidUtf8);
        assert_eq!(cp_engine_recall_failed(e, long.as_ptr(), 1), cp_result::InvalidArgument);
        assert_eq!(cp_engine_probe(e, null(), user.as_ptr(), null()), cp_result::NullParameter);
        assert_eq!(cp_engine_probe(e, ok.as_ptr(), null(), null()), cp_result::NullParameter);
        assert_eq!(cp_engine_probe(e, bad.as_ptr(), user.as_ptr(), null()), cp_result::InvalidUtf8);
        assert_eq!(cp_engine_probe(e, ok.as_ptr(), user.as_ptr(), bad.as_ptr()), cp_result::InvalidUtf8);
        assert_eq!(cp_engine_probe(e, long.as_ptr(), user.as_ptr(), null()), cp_result::InvalidArgument);
        assert_eq!(cp_engine_probe(e, ok.as_ptr(), long.as_ptr(), null()), cp_result::NotFound);
        assert_eq!(
            cp_engine_list(e, bad.as_ptr(), cp_format::Json, buf.as_mut_ptr(), buf.len(), &mut n),
            cp_result::InvalidUtf8
        );
        assert_eq!(
            cp_engine_list(e, long.as_ptr(), cp_format::Json, buf.as_mut_ptr(), buf.len(), &mut n),
            cp_result::InvalidArgument
        );
        assert_eq!(
            cp_engine_list(e, null(), cp_format::Text, buf.as_mut_ptr(), buf.len(), null_mut()),
            cp_result::NullParameter
        );
        assert_eq!(cp_engine_status(e, null_mut(), 0, &mut n), cp_result::NullParameter);
        assert_eq!(cp_engine_status(e, buf.as_mut_ptr(), 4, &mut n), cp_result::BufferTooSmall);
        assert!(n > 4, "the size needed is reported");
        assert_eq!(cp_engine_reload(e, null()), cp_result::NullParameter);
        let adopt = |tenant: *const c_char, uuid: *const c_char, ext: *const c_char, pu: *const c_char| cp_adopt {
            tenant,
            uuid,
            extension: ext,
            parking_user: pu,
            caller_number: null(),
            caller_name: null(),
            parked_epoch: c"99999999999999999999".as_ptr(),
            now_epoch: u64::MAX,
            timeout: null(),
            why: cp_adoption::LeftAlone,
            running: null(),
            exit_key: false,
        };
        assert_eq!(cp_engine_adopt(e, null(), null_mut()), cp_result::NullParameter);
        // After a load, a channel that runs nothing is no longer in the hold: not adopted.
        let mut then = cp_after_adopt::Hold;
        let gone =
            cp_adopt { why: cp_adoption::AfterLoad, ..adopt(ok.as_ptr(), user.as_ptr(), user.as_ptr(), user.as_ptr()) };
        assert_eq!(cp_engine_adopt(e, &gone, &mut then), cp_result::NotFound);
        assert_eq!(then, cp_after_adopt::NotParked);
        for (a, want) in [
            (adopt(null(), user.as_ptr(), user.as_ptr(), user.as_ptr()), cp_result::NullParameter),
            (adopt(ok.as_ptr(), null(), user.as_ptr(), user.as_ptr()), cp_result::NullParameter),
            (adopt(ok.as_ptr(), user.as_ptr(), null(), user.as_ptr()), cp_result::NullParameter),
            (adopt(ok.as_ptr(), user.as_ptr(), user.as_ptr(), null()), cp_result::NullParameter),
            (adopt(bad.as_ptr(), user.as_ptr(), user.as_ptr(), user.as_ptr()), cp_result::InvalidUtf8),
            (adopt(ok.as_ptr(), long.as_ptr(), user.as_ptr(), user.as_ptr()), cp_result::InvalidArgument),
            (adopt(ok.as_ptr(), user.as_ptr(), long.as_ptr(), user.as_ptr()), cp_result::InvalidArgument),
            (adopt(ok.as_ptr(), user.as_ptr(), user.as_ptr(), bad.as_ptr()), cp_result::InvalidUtf8),
        ] {
            let mut then = cp_after_adopt::Nothing;
            assert_eq!(cp_engine_adopt(e, &a, &mut then), want);
            assert_eq!(then, cp_after_adopt::PlainHold, "refused, the caller keeps a hold");
        }
        assert_eq!(cp_engine_reload(e, 0x8880 as *const cp_config), cp_result::InvalidHandle);
    }
    // After all that, the engine still works.
    let c1 = cs(b"c1");
    let d = dial(c1.as_ptr(), code.as_ptr(), user.as_ptr(), ok.as_ptr());
    let mut out = result();
    assert_eq!(unsafe { cp_engine_dial(e, &d, &mut *out) }, cp_result::Ok);
    assert_eq!((out.action, out.hangup_cause, text(&out.hold.music)), (cp_action::Parked, 0, String::new()));
    cp_engine_free(e);
}

#[test]
fn command_parse_bad_input() {
    let untouched = cp_command {
        kind: cp_command_kind::Reload,
        format: cp_format::Json,
        tenant: [7; CP_COMMAND_TENANT_SIZE],
        uuid: [7; CP_COMMAND_WORD_SIZE],
        extension: [7; CP_COMMAND_WORD_SIZE],
        user: [7; CP_COMMAND_WORD_SIZE],
        local: true,
        timeout: -1,
    };
    let mut c = untouched;
    let mut err = [0 as c_char; 64];
    let mut n = usize::MAX;
    let list = cs(b"list");
    let msg = |err: &[c_char]| unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) }.to_str().unwrap().to_string();
    unsafe {
        // NULL: the line, the command; the message buffer and its length may be NULL.
        assert_eq!(cp_command_parse(null(), &mut c, err.as_mut_ptr(), err.len(), &mut n), cp_result::NullParameter);
        assert_eq!(
            cp_command_parse(list.as_ptr(), null_mut(), err.as_mut_ptr(), err.len(), &mut n),
            cp_result::NullParameter
        );
        assert_eq!(n, usize::MAX, "nothing written");
        let lst = cs(b"lst");
        assert_eq!(cp_command_parse(lst.as_ptr(), &mut c, null_mut(), 0, null_mut()), cp_result::CommandUnknown);
        assert_eq!(cp_command_parse(lst.as_ptr(), &mut c, err.as_mut_ptr(), 0, &mut n), cp_result::CommandUnknown);
        assert_eq!(n, usize::MAX, "a zero-length buffer is left alone");
        assert_eq!(
            cp_command_parse(lst.as_ptr(), &mut c, err.as_mut_ptr(), err.len(), null_mut()),
            cp_result::CommandUnknown
        );
        assert!(msg(&err).starts_with("unknown sub-command \"lst\""));

        // Non-UTF-8, in the verb and in the domain.
        for bad in [&b"\xc3\x28"[..], b"list \xff", b"list acme.example \xed\xa0\x80"] {
            let bad = cs(bad);
            assert_eq!(
                cp_command_parse(bad.as_ptr(), &mut c, err.as_mut_ptr(), err.len(), &mut n),
                cp_result::InvalidUtf8
            );
            assert!(msg(&err).starts_with("the command is not UTF-8"), "{}", msg(&err));
            assert_eq!(n, msg(&err).len());
        }

        // 100 kB as a domain, a verb, an extra argument, whitespace (and a short non-ASCII
        // domain): the message stays short, and is cut to a smaller buffer.
        let a = "a".repeat(100_000);
        for (line, want) in [
            (format!("list {a}"), cp_result::CommandDomainTooLong),
            (a.clone(), cp_result::CommandUnknown),
            (format!("status {a}"), cp_result::CommandExtraArgument),
            (format!("list x.example {a}"), cp_result::CommandTwoDomains),
            (format!("list {}", "é".repeat(100)), cp_result::CommandNotADomain),
            (format!("list {}\u{1}", " ".repeat(100_000)), cp_result::CommandBadCharacter),
            (" ".repeat(100_000), cp_result::CommandEmpty),
        ] {
            let line = CString::new(line).unwrap();
            let mut big = [0 as c_char; CP_COMMAND_MESSAGE_SIZE];
            assert_eq!(cp_command_parse(line.as_ptr(), &mut c, big.as_mut_ptr(), big.len(), &mut n), want);
            assert!(n < CP_COMMAND_MESSAGE_SIZE - 1 && n == msg(&big).len(), "whole: {}", msg(&big));
            assert_eq!(cp_command_parse(line.as_ptr(), &mut c, err.as_mut_ptr(), err.len(), &mut n), want);
            assert!(n < err.len() && n == msg(&err).len());
        }
        assert_eq!(c, untouched, "a refused command writes nothing");

        // The longest domain is accepted, NUL-terminated inside the struct.
        let longest = CString::new(format!("list {}", "A".repeat(CP_COMMAND_TENANT_SIZE - 1))).unwrap();
        assert_eq!(cp_command_parse(longest.as_ptr(), &mut c, null_mut(), 0, null_mut()), cp_result::Ok);
        assert_eq!(c.kind, cp_command_kind::List);
        assert_eq!(c.tenant[CP_COMMAND_TENANT_SIZE - 1], 0);
        assert!(c.tenant[..CP_COMMAND_TENANT_SIZE - 1].iter().all(|&b| b == b'a' as c_char));
    }
    assert!(!cp_command_usage().is_null());
}

/// A panic inside an export never unwinds into C: the boundary every export goes
/// through turns it into `CP_RESULT_PANIC` and a log line naming the export.
fn parsed(line: &str) -> cp_command {
    let mut c = cp_command {
        kind: cp_command_kind::Status,
        format: cp_format::Text,
        tenant: [0; CP_COMMAND_TENANT_SIZE],
        uuid: [0; CP_COMMAND_WORD_SIZE],
        extension: [0; CP_COMMAND_WORD_SIZE],
        user: [0; CP_COMMAND_WORD_SIZE],
        local: false,
        timeout: -1,
    };
    let l = cs(line.as_bytes());
    assert_eq!(unsafe { cp_command_parse(l.as_ptr(), &mut c, null_mut(), 0, null_mut()) }, cp_result::Ok, "{line}");
    c
}

fn operation() -> Box<cp_operation> {
    Box::new(cp_operation {
        action: cp_action::Bridged,
        code: cp_result::Panic,
        hold: cp_hold_terms { music: [7; CP_DIAL_TEXT_SIZE], exit_key: [7; 2], announce: [7; CP_DIAL_NAME_SIZE] },
        line: [7; CP_OPERATION_LINE_SIZE],
    })
}

#[test]
fn operate_bad_input_and_each_command() {
    const U: &str = "0b7a1c2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b";
    let e = engine();
    let (user, dom, ignored) = (cs(b"101"), cs(b"acme.example"), cs(b"\xff"));
    let d = dial(ignored.as_ptr(), ignored.as_ptr(), user.as_ptr(), dom.as_ptr());
    let park = parsed(&format!("park {U} 105 json"));
    let mut out = operation();
    unsafe {
        assert_eq!(cp_engine_operate(null(), &park, &d, &mut *out), cp_result::NullParameter);
        assert_eq!(cp_engine_operate(e, null(), &d, &mut *out), cp_result::NullParameter);
        assert_eq!(cp_engine_operate(e, &park, &d, null_mut()), cp_result::NullParameter);
        assert_eq!(out.code, cp_result::Panic, "nothing written");
        // No such channel: refused, in JSON as asked.
        assert_eq!(cp_engine_operate(e, &park, null(), &mut *out), cp_result::InvalidArgument);
        assert_eq!(out.action, cp_action::None);
        let line = text(&out.line);
        assert!(line.starts_with(r#"{"command":"park","error":"bad request: there is no call "#), "{line}");
        // Not an operator's command.
        assert_eq!(cp_engine_operate(e, &parsed("status"), null(), &mut *out), cp_result::InvalidArgument);
        // Fields that are not UTF-8, or not NUL-terminated.
        let mut bad = park;
        bad.extension[0] = 0xff_u8 as c_char;
        assert_eq!(cp_engine_operate(e, &bad, &d, &mut *out), cp_result::InvalidUtf8);
        let mut long = parsed(&format!("retrieve {U} 104"));
        long.user = [b'1' as c_char; CP_COMMAND_WORD_SIZE];
        assert_eq!(cp_engine_operate(e, &long, null(), &mut *out), cp_result::NotParked);
        // The channel (uuid from the command, not from `call`) parks at 105; then it is
        // hung up by the operator.
        assert_eq!(cp_engine_operate(e, &park, &d, &mut *out), cp_result::Ok);
        assert_eq!(out.action, cp_action::Parked);
        let line = text(&out.line);
        assert!(line.contains(r#""ok":true"#) && line.contains(&format!(r#""uuid":"{U}""#)), "{line}");
        let other = parsed(&format!("hangup {U} globex.example"));
        assert_eq!(cp_engine_operate(e, &other, null(), &mut *out), cp_result::NotParked);
        assert_eq!((out.action, text(&out.line)), (cp_action::None, format!("-ERR no call {U} is parked\n")));
        let hangup = parsed(&format!("hangup {U} acme.example"));
        assert_eq!(cp_engine_operate(e, &hangup, null(), &mut *out), cp_result::Ok);
        assert_eq!(out.action, cp_action::HangUp);
        assert_eq!(text(&out.line), format!("+OK hung up {U} parked at 105 in acme.example\n"));
    }
    cp_engine_free(e);
}

#[test]
fn one_step_bad_input_and_a_park_command() {
    const U: &str = "0b7a1c2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b";
    let e = engine();
    let (user, dom, ignored) = (cs(b"101"), cs(b"acme.example"), cs(b"\xff"));
    let d = dial(ignored.as_ptr(), ignored.as_ptr(), user.as_ptr(), dom.as_ptr());
    let (digits, partner, bad) = (cs(b"105#"), cs(U.as_bytes()), cs(b"not-a-uuid"));
    let mut out = parsed("status");
    unsafe {
        assert_eq!(
            cp_engine_one_step(null(), &d, digits.as_ptr(), partner.as_ptr(), &mut out),
            cp_result::NullParameter
        );
        assert_eq!(
            cp_engine_one_step(e, null(), digits.as_ptr(), partner.as_ptr(), &mut out),
            cp_result::NullParameter
        );
        assert_eq!(cp_engine_one_step(e, &d, digits.as_ptr(), partner.as_ptr(), null_mut()), cp_result::NullParameter);
        assert_eq!(cp_engine_one_step(e, &d, digits.as_ptr(), null(), &mut out), cp_result::NullParameter);
        assert_eq!(cp_engine_one_step(e, &d, digits.as_ptr(), bad.as_ptr(), &mut out), cp_result::InvalidArgument);
        assert_eq!(cp_engine_one_step(e, &d, ignored.as_ptr(), partner.as_ptr(), &mut out), cp_result::InvalidUtf8);
        assert_eq!(out.kind, cp_command_kind::Status, "left as it was");
        assert_eq!(cp_engine_one_step(e, &d, digits.as_ptr(), partner.as_ptr(), &mut out), cp_result::Ok);
        assert_eq!(out.kind, cp_command_kind::Park);
        assert_eq!(
            (text(&out.uuid), text(&out.extension), text(&out.tenant)),
            (U.to_string(), "105".into(), "acme.example".into())
        );
        assert!(out.local, "carried out on this node");
        // A leg that is no user's (no authentication): nobody is parked.
        let carrier = dial(ignored.as_ptr(), ignored.as_ptr(), null(), dom.as_ptr());
        let mut again = parsed("status");
        assert_eq!(
            cp_engine_one_step(e, &carrier, digits.as_ptr(), partner.as_ptr(), &mut again),
            cp_result::KeysOfNoUser
        );
    }
    cp_engine_free(e);
}

#[test]
fn a_forced_panic_becomes_a_result_code_and_a_log_line() {
    let lines = std::cell::RefCell::new(Vec::<String>::new());
    let log = |l: &str| lines.borrow_mut().push(l.to_string());
    let r = callpark::ffi::boundary("cp_forced", Some(&log), || panic!("forced for the test"));
    assert_eq!(r, cp_result::Panic);
    let lines = lines.into_inner();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("cp_forced") && lines[0].contains("forced for the test"), "{lines:?}");
    // A panicking logger is caught too: still a result code.
    let bad_log = |_: &str| panic!("the logger panics as well");
    let r = callpark::ffi::boundary("cp_forced", Some(&bad_log), || panic!("again"));
    assert_eq!(r, cp_result::Panic);
    // And a panic carrying a String payload is named as well.
    let r = callpark::ffi::boundary("cp_forced", None, || panic!("{}", String::from("owned")));
    assert_eq!(r, cp_result::Panic);
}

/// Threads calling into an engine while another frees it: every call answers `Ok` (it
/// got the engine before the free) or `InvalidHandle` (after), never a panic outside the
/// boundary (which aborted the process in the first round when the handle was looked up
/// twice).
#[test]
fn engine_freed_while_other_threads_call_it() {
    for round in 0..200 {
        let e = engine() as usize;
        let start = std::sync::Arc::new(std::sync::Barrier::new(4));
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    // Calls until the free is seen, so that calls overlap the free.
                    for calls in 1..=10_000_000u64 {
                        match cp_engine_advance(e as *const cp_engine, 1) {
                            cp_result::Ok => {}
                            cp_result::InvalidHandle => return calls,
                            other => panic!("cp_engine_advance on an engine being freed: {other:?}"),
                        }
                    }
                    panic!("the engine was never freed");
                })
            })
            .collect();
        start.wait();
        std::thread::yield_now();
        cp_engine_free(e as *const cp_engine);
        for c in callers {
            let calls = c.join().expect("a caller thread answered every call with Ok or InvalidHandle");
            assert!(calls >= 1, "round {round}");
        }
    }
}

/// The exit key comes back as a NUL-terminated string of one character, whatever the
/// result buffer held before (found by the ffi fuzz target: the NUL was missing).
#[test]
fn the_exit_key_is_a_terminated_string() {
    const XML: &str = r##"<configuration name="callpark.conf"><settings>
      <param name="exit-key" value="#"/><param name="exit-destination" value="6000"/></settings></configuration>"##;
    let mut cfg: *const cp_config = null();
    let src = cs(b"t");
    assert_eq!(
        unsafe { cp_config_parse(src.as_ptr(), XML.as_ptr().cast(), XML.len(), &mut cfg, null_mut(), 0, null_mut()) },
        cp_result::Ok
    );
    let mut e: *const cp_engine = null();
    assert_eq!(unsafe { cp_engine_new(&host(), cfg, CP_ENGINE_MANUAL_CLOCK, &mut e) }, cp_result::Ok);
    cp_config_free(cfg);
    let (uuid, code, user, dom) = (cs(b"c1"), cs(b"*68"), cs(b"101"), cs(b"acme.example"));
    let d = dial(uuid.as_ptr(), code.as_ptr(), user.as_ptr(), dom.as_ptr());
    let mut out = result();
    assert_eq!(unsafe { cp_engine_dial(e, &d, &mut *out) }, cp_result::Ok);
    assert_eq!(out.action, cp_action::Parked);
    assert_eq!(out.hold.exit_key, [b'#' as c_char, 0]);
    cp_engine_free(e);
}
