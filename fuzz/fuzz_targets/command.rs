//! The `callpark` API command (`list [<domain>] [json] | reload | status` and the
//! operator's `park`, `retrieve`, `hangup`): arbitrary
//! bytes through `command::parse_bytes`, and the same bytes (cut at the first NUL, as C
//! hands them over) through `cp_command_parse`.
//!
//! Input: the whole input is the command line.
//!
//! Invariants checked on every `Ok`: the words of the line are exactly what the command
//! says (the verb, at most one domain and at most one `json` for `list`, nothing after
//! `reload` or `status`; for the operator's commands a uuid of FreeSWITCH's form,
//! lower-case, extensions and users that are user ids, at most three words besides
//! `json`); a domain is a valid configuration domain, lower-case; the
//! canonical spelling parses back to the same command. On every `Err`: the message is
//! printable ASCII (what was typed is escaped), shorter than `CP_COMMAND_MESSAGE_SIZE`,
//! and the error's details are right (`BadCharacter` points at the first control
//! character that is not whitespace, `NotUtf8` at the first bad byte, `Empty` means only
//! whitespace). The line upper-cased gives the same answer (the domain is lower-cased
//! anyway; an operator's extension or user keeps its case, so there only the kind). Through the C ABI: the result code and the command written agree with the
//! core's, a refused command leaves `*command_out` alone, and the message is the core's,
//! whole in a `CP_COMMAND_MESSAGE_SIZE` buffer and cut, NUL-terminated, with the right
//! `*err_n`, in a small one.
#![no_main]

use std::ffi::{c_char, CStr, CString};
use std::mem::discriminant;

use callpark::command::{self, Command, CommandError, Target};
use callpark::config::{valid_domain, MAX_DOMAIN_LEN};
use callpark::ffi::api::cp_format;
use callpark::ffi::command::{
    self as ffi_command, cp_command, cp_command_kind, CP_COMMAND_MESSAGE_SIZE, CP_COMMAND_TENANT_SIZE,
    CP_COMMAND_WORD_SIZE,
};
use callpark::ffi::cp_result;
use callpark::identity::valid_user;
use libfuzzer_sys::fuzz_target;

fn check_ok(line: &str, c: &Command) {
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    match c {
        Command::List { tenant, json } => {
            assert!(words[0].eq_ignore_ascii_case("list"), "{line:?} is not a list");
            let jsons = words[1..].iter().filter(|w| w.eq_ignore_ascii_case("json")).count();
            assert_eq!(jsons, usize::from(*json), "{line:?}: json words");
            let others: Vec<&&str> = words[1..].iter().filter(|w| !w.eq_ignore_ascii_case("json")).collect();
            match tenant {
                Some(t) => {
                    assert!(valid_domain(t) && t.len() <= MAX_DOMAIN_LEN, "{line:?}: bad domain {t:?}");
                    assert_eq!(*t, t.to_ascii_lowercase(), "{line:?}: domain not lower-case");
                    assert_eq!(others.len(), 1, "{line:?}: domain words");
                    assert!(others[0].eq_ignore_ascii_case(t), "{line:?}: domain {t:?} is not what was typed");
                }
                None => assert!(others.is_empty(), "{line:?}: words ignored"),
            }
            let canonical = format!("list {} {}", tenant.as_deref().unwrap_or(""), if *json { "json" } else { "" });
            assert_eq!(command::parse(&canonical).as_ref(), Ok(c), "{canonical:?} does not round-trip");
        }
        Command::Reload | Command::Status => {
            assert_eq!(words.len(), 1, "{line:?}: words after {c:?} ignored");
            let verb = if *c == Command::Reload { "reload" } else { "status" };
            assert!(words[0].eq_ignore_ascii_case(verb), "{line:?} is not {verb}");
        }
        // The operator's commands: below.
        _ => {}
    }
    if let Some((verb, ids, uuid, tenant, json)) = operator_parts(c) {
        assert!(words[0].eq_ignore_ascii_case(verb), "{line:?} is not {verb}");
        let jsons = words[1..].iter().filter(|w| w.eq_ignore_ascii_case("json")).count();
        assert_eq!(jsons, usize::from(json), "{line:?}: json words");
        // Two words (park: the uuid and the extension; retrieve: what and who), and park's
        // own recall time when it has one.
        let timeout = usize::from(matches!(c, Command::Park { timeout: Some(_), .. }));
        assert!(words.len() - 1 - jsons <= 2 + timeout, "{line:?}: words ignored");
        if let Some(u) = uuid {
            assert!(command::is_uuid(u) && u == u.to_ascii_lowercase(), "{line:?}: uuid {u:?}");
        }
        for id in &ids {
            assert!(valid_user(id), "{line:?}: id {id:?}");
        }
        if let Some(t) = tenant {
            assert!(valid_domain(t) && *t == t.to_ascii_lowercase(), "{line:?}: tenant {t:?}");
        }
        let canonical = canonical(c);
        assert_eq!(command::parse(&canonical).as_ref(), Ok(c), "{canonical:?} does not round-trip");
    }
}

/// An operator's command's verb, ids (extension, user), uuid, tenant and json.
fn operator_parts(c: &Command) -> Option<(&'static str, Vec<&str>, Option<&str>, Option<&str>, bool)> {
    match c {
        Command::Park { uuid, extension, tenant, json, .. } => {
            Some(("park", vec![extension.as_str()], Some(uuid.as_str()), tenant.as_deref(), *json))
        }
        Command::Retrieve { target, user, tenant, json } => {
            let (ids, uuid) = match target {
                Target::Call(u) => (vec![user.as_str()], Some(u.as_str())),
                Target::Extension(e) => (vec![e.as_str(), user.as_str()], None),
            };
            Some(("retrieve", ids, uuid, tenant.as_deref(), *json))
        }
        Command::Hangup { uuid, tenant, json } => {
            Some(("hangup", vec![], Some(uuid.as_str()), tenant.as_deref(), *json))
        }
        _ => None,
    }
}

/// An operator's command written out plainly.
fn canonical(c: &Command) -> String {
    let at = |t: &Option<String>| t.as_ref().map(|t| format!("@{t}")).unwrap_or_default();
    let j = |json: bool| if json { " json" } else { "" };
    match c {
        Command::Park { uuid, extension, tenant, timeout, json } => {
            let secs = timeout.map(|s| format!(" {s}")).unwrap_or_default();
            format!("park {uuid} {extension}{}{secs}{}", at(tenant), j(*json))
        }
        Command::Retrieve { target, user, tenant, json } => {
            let t = match target {
                Target::Call(u) => u.clone(),
                Target::Extension(e) => e.clone(),
            };
            // The domain on both ids: an id named `json` is written only with one.
            format!("retrieve {t}{} {user}{}{}", at(tenant), at(tenant), j(*json))
        }
        Command::Hangup { uuid, tenant, json } => {
            format!("hangup {uuid} {}{}", tenant.as_deref().unwrap_or(""), j(*json))
        }
        _ => unreachable!("not an operator's command"),
    }
}

fn check_err(data: &[u8], e: &CommandError) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    assert!(msg.len() < CP_COMMAND_MESSAGE_SIZE, "{} bytes: {msg}", msg.len());
    assert!(msg.bytes().all(|b| (0x20..0x7f).contains(&b)), "not printable ASCII: {msg:?}");
    match e {
        CommandError::NotUtf8 { at } => {
            assert!(std::str::from_utf8(&data[..*at]).is_ok() && std::str::from_utf8(data).is_err());
        }
        CommandError::BadCharacter { at } => {
            let line = std::str::from_utf8(data).expect("UTF-8 is checked first");
            let bad = |c: char| c.is_control() && !c.is_ascii_whitespace();
            let first = line.char_indices().find(|&(_, c)| bad(c)).map(|(i, _)| i);
            assert_eq!(first, Some(*at), "{line:?}: BadCharacter at {at}");
        }
        CommandError::Empty => assert!(data.iter().all(u8::is_ascii_whitespace)),
        CommandError::DomainTooLong { len } => assert!(*len > MAX_DOMAIN_LEN),
        CommandError::NotADomain(d) => assert!(d.len() <= MAX_DOMAIN_LEN && !valid_domain(d)),
        _ => {}
    }
}

/// The core's answer as the C ABI must give it.
fn expected(r: &Result<Command, CommandError>) -> (cp_result, Option<cp_command>) {
    match r {
        Err(e) => (cp_result::from(e), None),
        Ok(c) => {
            let mut out = blank(0);
            let put = |to: &mut [c_char], s: &str| {
                for (d, b) in to.iter_mut().zip(s.bytes()) {
                    *d = b as c_char;
                }
            };
            if let Some((verb, _, uuid, tenant, json)) = operator_parts(c) {
                out.kind = match verb {
                    "park" => cp_command_kind::Park,
                    "retrieve" => cp_command_kind::Retrieve,
                    _ => cp_command_kind::Hangup,
                };
                out.format = if json { cp_format::Json } else { cp_format::Text };
                put(&mut out.uuid, uuid.unwrap_or(""));
                put(&mut out.tenant, tenant.unwrap_or(""));
                match c {
                    Command::Park { extension, timeout, .. } => {
                        put(&mut out.extension, extension);
                        out.timeout = timeout.map_or(-1, |s| s as i32);
                    }
                    Command::Retrieve { target, user, .. } => {
                        if let Target::Extension(e) = target {
                            put(&mut out.extension, e);
                        }
                        put(&mut out.user, user);
                    }
                    _ => {}
                }
                return (cp_result::Ok, Some(out));
            }
            match c {
                Command::List { tenant, json } => {
                    out.kind = cp_command_kind::List;
                    out.format = if *json { cp_format::Json } else { cp_format::Text };
                    for (d, s) in out.tenant.iter_mut().zip(tenant.as_deref().unwrap_or("").bytes()) {
                        *d = s as c_char;
                    }
                }
                Command::Reload => out.kind = cp_command_kind::Reload,
                _ => {}
            }
            (cp_result::Ok, Some(out))
        }
    }
}

/// A command with every field `fill`.
fn blank(fill: c_char) -> cp_command {
    cp_command {
        kind: cp_command_kind::Status,
        format: cp_format::Text,
        tenant: [fill; CP_COMMAND_TENANT_SIZE],
        uuid: [fill; CP_COMMAND_WORD_SIZE],
        extension: [fill; CP_COMMAND_WORD_SIZE],
        user: [fill; CP_COMMAND_WORD_SIZE],
        local: fill != 0,
        timeout: -1,
    }
}

fn check_ffi(data: &[u8]) {
    let cut = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
    let core = command::parse_bytes(cut);
    let (want, want_cmd) = expected(&core);
    let line = CString::new(cut).expect("cut at the first NUL");
    let untouched = cp_command { kind: cp_command_kind::Reload, format: cp_format::Json, ..blank(7) };

    let mut c = untouched;
    let mut whole = [0x55 as c_char; CP_COMMAND_MESSAGE_SIZE];
    let mut n = usize::MAX;
    let r = unsafe { ffi_command::cp_command_parse(line.as_ptr(), &mut c, whole.as_mut_ptr(), whole.len(), &mut n) };
    assert_eq!(r, want, "{cut:?}");
    match (want_cmd, &core) {
        (Some(w), _) => {
            assert_eq!(c, w, "{cut:?}");
            assert_eq!(n, usize::MAX, "a message for an accepted command");
        }
        (None, Err(e)) => {
            assert_eq!(c, untouched, "{cut:?}: a refused command was written");
            let msg = unsafe { CStr::from_ptr(whole.as_ptr()) }.to_str().expect("an ASCII message");
            assert_eq!(msg, e.to_string(), "the message is the core's, whole");
            assert_eq!(n, msg.len());
        }
        (None, Ok(_)) => unreachable!(),
    }

    // A small buffer: the message cut, NUL-terminated, *err_n its length.
    let small_len = data.len() % 23;
    let mut small = vec![0x55 as c_char; small_len];
    let mut m = usize::MAX;
    let mut c2 = untouched;
    let r2 = unsafe { ffi_command::cp_command_parse(line.as_ptr(), &mut c2, small.as_mut_ptr(), small_len, &mut m) };
    assert_eq!(r2, want);
    if let (Err(e), true) = (&core, small_len > 0) {
        let msg = e.to_string();
        let keep = msg.len().min(small_len - 1);
        assert_eq!(m, keep, "*err_n of a cut message");
        assert_eq!(small[keep], 0, "a cut message is NUL-terminated");
        let got: Vec<u8> = small[..keep].iter().map(|&b| b as u8).collect();
        assert_eq!(got, msg.as_bytes()[..keep], "a cut message is a prefix of the whole");
    } else {
        assert_eq!(m, usize::MAX, "nothing written in an empty buffer or for an accepted command");
    }
}

fuzz_target!(|data: &[u8]| {
    let r = command::parse_bytes(data);
    match &r {
        Ok(c) => check_ok(std::str::from_utf8(data).expect("accepted text is UTF-8"), c),
        Err(e) => check_err(data, e),
    }
    if let Ok(line) = std::str::from_utf8(data) {
        assert_eq!(command::parse(line), r, "parse and parse_bytes disagree");
        let upper = command::parse(&line.to_ascii_uppercase());
        match (&r, &upper) {
            (Ok(a), Ok(b)) if operator_parts(a).is_some() => {
                assert_eq!(discriminant(a), discriminant(b), "{line:?}: case changes the command")
            }
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{line:?}: case changes the command"),
            (Err(a), Err(b)) => assert_eq!(discriminant(a), discriminant(b), "{line:?}: case changes the error"),
            _ => panic!("{line:?}: case changes the answer: {r:?} vs {upper:?}"),
        }
    }
    check_ffi(data);
});
