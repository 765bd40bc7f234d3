//! C to Rust: the `callpark` API command of `fs_cli` and ESL, parsed by the library
//! (`cp_command_parse`), so that the module only carries it out.

use std::ffi::{c_char, CStr};

use super::api::{cp_engine, cp_format, with_engine};
use super::dial::{channel_dial, clear_hold, cp_action, cp_dial, cp_hold_terms, put_hold};
use super::{boundary, cp_result, write_truncated};
use crate::command::{self, Command, Done, Operation, Target};
use crate::error::DialError;
use crate::identity::MAX_USER_LEN;
use crate::listing;
use crate::reply::{OperatorPark, Reply};

/// What a `callpark` API command asks for (see `cp_command_parse`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cp_command_kind {
    /// `list [<domain>] [json]`.
    List = 1,
    /// `reload`.
    Reload = 2,
    /// `status`.
    Status = 3,
    /// `park <uuid> <ext>[@<domain>] [<seconds>] [json]`.
    Park = 4,
    /// `retrieve <ext>[@<domain>]|<uuid> <user>[@<domain>] [json]`.
    Retrieve = 5,
    /// `hangup <uuid> [<domain>] [json]`.
    Hangup = 6,
}

/// The size of `cp_command.tenant`: the longest domain (253 bytes) and its NUL.
pub const CP_COMMAND_TENANT_SIZE: usize = 254;
const _: () = assert!(CP_COMMAND_TENANT_SIZE == crate::config::MAX_DOMAIN_LEN + 1);

/// The size of `cp_command.uuid`, `.extension` and `.user`: the longest user id (64
/// bytes; a uuid is 36) and its NUL.
pub const CP_COMMAND_WORD_SIZE: usize = 65;
const _: () = assert!(CP_COMMAND_WORD_SIZE == MAX_USER_LEN + 1);

/// A buffer of this many bytes always holds a message of `cp_command_parse` whole.
pub const CP_COMMAND_MESSAGE_SIZE: usize = 512;

/// A parsed `callpark` API command, written by `cp_command_parse`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct cp_command {
    pub kind: cp_command_kind,
    /// `list`: `CP_FORMAT_JSON` when `json` was given, else `CP_FORMAT_TEXT`.
    pub format: cp_format,
    /// `list <domain>`, and the domain an operator's command names: lower-case,
    /// NUL-terminated. Empty (`tenant[0] == 0`) when none was given.
    pub tenant: [c_char; CP_COMMAND_TENANT_SIZE],
    /// `park`, `hangup`: the call's uuid (lower-case); `retrieve`: the call's uuid, or
    /// empty when the target is an extension. Empty for the other commands.
    pub uuid: [c_char; CP_COMMAND_WORD_SIZE],
    /// `park`: the extension or group; `retrieve`: the extension when the target is one.
    pub extension: [c_char; CP_COMMAND_WORD_SIZE],
    /// `retrieve`: the user to ring.
    pub user: [c_char; CP_COMMAND_WORD_SIZE],
    /// Carry it out on this node only (false as parsed): set by the host for a command
    /// another node sent it (`cp_host.operate`), which is never sent on.
    pub local: bool,
    /// `park`: the call's own recall time in seconds (`0`: never); -1 when none was
    /// given (the channel's `callpark_timeout`, else the configured `recall-time`).
    pub timeout: i32,
}

/// The syntax of the `callpark` API command, every sub-command (`list`, `reload`,
/// `status`, `park`, `retrieve`, `hangup`), a static NUL-terminated string: the text the
/// module registers as the command's usage and prints for an empty command.
#[no_mangle]
pub extern "C" fn cp_command_usage() -> *const c_char {
    USAGE.as_ptr()
}

const USAGE: &CStr = match CStr::from_bytes_with_nul(concat!(crate::command::usage_text!(), "\0").as_bytes()) {
    Ok(c) => c,
    Err(_) => panic!("the usage has no NUL inside"),
};

/// What FreeSWITCH's console completes after `callpark`, one line each (`park
/// ::console::list_uuid`, ...), a static NUL-terminated string: the module adds each
/// line with `switch_console_set_complete("add callpark <line>")`.
#[no_mangle]
pub extern "C" fn cp_command_completions() -> *const c_char {
    static LINES: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();
    LINES
        .get_or_init(|| {
            let lines: Vec<String> =
                crate::command::COMPLETIONS.iter().map(|c| c.replace("<uuid>", "::console::list_uuid")).collect();
            std::ffi::CString::new(lines.join("\n")).unwrap_or_default()
        })
        .as_ptr()
}

/// Parses the arguments of the `callpark` API command (the text after `callpark`; the
/// grammar is `cp_command_usage`'s). Words are split on ASCII whitespace; the
/// sub-command and `json` are case-insensitive; `list` takes at most one domain (letters,
/// digits, `.`, `-`, `_`, at most 253 bytes) and one `json`, in either order; the
/// operator's commands (`park`, `retrieve`, `hangup`) take a uuid (8-4-4-4-12 hex
/// digits), extensions and users (letters, digits, `+-_.`, at most 64 bytes), each
/// optionally `@<domain>`, and `json` anywhere.
///
/// On `CP_RESULT_OK`, `*command_out` is written; on any other result it is left as it
/// was. `CP_RESULT_COMMAND_EMPTY`: nothing but whitespace (print the usage,
/// `cp_command_usage`). The other refusals (`CP_RESULT_COMMAND_*`, and
/// `CP_RESULT_INVALID_UTF8` for text that is not UTF-8) write a message that says what
/// was wrong into `err_buf` (`err_len` bytes, NUL-terminated, cut to fit; a message is
/// shorter than `CP_COMMAND_MESSAGE_SIZE` bytes whatever the input) and its length without
/// the NUL into `*err_n`; `err_buf` and `err_n` may be NULL.
///
/// # Safety
/// `line` is NULL or a NUL-terminated string; `command_out` is NULL or valid; `err_buf`
/// is NULL or valid for `err_len` bytes; `err_n` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cp_command_parse(
    line: *const c_char,
    command_out: *mut cp_command,
    err_buf: *mut c_char,
    err_len: usize,
    err_n: *mut usize,
) -> cp_result {
    boundary("cp_command_parse", None, || {
        if line.is_null() || command_out.is_null() {
            return cp_result::NullParameter;
        }
        match command::parse_bytes(CStr::from_ptr(line).to_bytes()) {
            Ok(c) => {
                std::ptr::write(command_out, to_c_command(&c));
                cp_result::Ok
            }
            Err(e) => {
                write_truncated(&e.to_string(), err_buf, err_len, err_n);
                cp_result::from(&e)
            }
        }
    })
}

fn to_c_command(c: &Command) -> cp_command {
    let mut out = cp_command {
        kind: cp_command_kind::Status,
        format: if c.json() { cp_format::Json } else { cp_format::Text },
        tenant: [0; CP_COMMAND_TENANT_SIZE],
        uuid: [0; CP_COMMAND_WORD_SIZE],
        extension: [0; CP_COMMAND_WORD_SIZE],
        user: [0; CP_COMMAND_WORD_SIZE],
        local: false,
        timeout: -1,
    };
    // The parser keeps domains to MAX_DOMAIN_LEN bytes and ids to MAX_USER_LEN, ASCII, no
    // NUL: each fits its field whole.
    let copy = |to: &mut [c_char], s: &str| {
        assert!(s.len() < to.len(), "a word longer than the parser allows");
        for (d, b) in to.iter_mut().zip(s.as_bytes()) {
            *d = *b as c_char;
        }
    };
    let tenant = match c {
        Command::List { tenant, .. } => {
            out.kind = cp_command_kind::List;
            tenant
        }
        Command::Park { uuid, extension, tenant, timeout, .. } => {
            out.kind = cp_command_kind::Park;
            out.timeout = timeout.map_or(-1, |s| s as i32);
            copy(&mut out.uuid, uuid);
            copy(&mut out.extension, extension);
            tenant
        }
        Command::Retrieve { target, user, tenant, .. } => {
            out.kind = cp_command_kind::Retrieve;
            match target {
                Target::Call(u) => copy(&mut out.uuid, u),
                Target::Extension(e) => copy(&mut out.extension, e),
            }
            copy(&mut out.user, user);
            tenant
        }
        Command::Hangup { uuid, tenant, .. } => {
            out.kind = cp_command_kind::Hangup;
            copy(&mut out.uuid, uuid);
            tenant
        }
        Command::Reload => {
            out.kind = cp_command_kind::Reload;
            &None
        }
        Command::Status => &None,
    };
    copy(&mut out.tenant, tenant.as_deref().unwrap_or(""));
    out
}

/// The size of `cp_operation.line`, NUL included.
pub const CP_OPERATION_LINE_SIZE: usize = 2048;

/// What `cp_engine_operate` asks the switch to do, and the line to answer with.
#[repr(C)]
pub struct cp_operation {
    /// `CP_ACTION_PARKED`: hold the channel with `music` (empty: silence), as the
    /// callpark application does; `CP_ACTION_HANG_UP`: hang the call up (normal
    /// clearing); `CP_ACTION_NONE`: nothing (refused, or the library acts itself: a
    /// retrieve rings through `cp_host.ring`).
    pub action: cp_action,
    pub code: cp_result,
    /// `CP_ACTION_PARKED`: the hold, as `cp_dial_result`'s.
    pub hold: cp_hold_terms,
    /// `+OK ...` / `-ERR ...` or one JSON object, with its newline, NUL-terminated.
    pub line: [c_char; CP_OPERATION_LINE_SIZE],
}

/// A field of a `cp_command`: up to its first NUL (none: the whole field), UTF-8.
fn word(field: &[c_char]) -> Result<&str, cp_result> {
    // SAFETY: c_char and u8 have the same size and alignment.
    let bytes = unsafe { std::slice::from_raw_parts(field.as_ptr().cast::<u8>(), field.len()) };
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    std::str::from_utf8(&bytes[..end]).map_err(|_| cp_result::InvalidUtf8)
}

/// One-step parking: keys pressed during a call (the dialplan binds a meta key, e.g.
/// `bind_meta_app 6 ab s callpark_one_step::`). `presser` is what the switch knows of the
/// leg whose phone sent them (as for `cp_engine_dial`; its `uuid` and `dialed` are not
/// read), `digits` what followed the meta key (NULL or empty: the user's own extension),
/// `partner_uuid` the party it talks to. Writes into `*out` the operator's park of that
/// party that carries it out (`CP_COMMAND_KIND_PARK`, in the presser's tenant, on this
/// node only), for the switch to run as `cp_engine_operate`: its parking user is then the
/// one it talked to, the presser. Refused (`*out` untouched) for a leg that is no user's
/// (`CP_RESULT_KEYS_OF_NO_USER`: a carrier's or an outside party's keys park nobody) and
/// for digits that are no extension.
///
/// # Safety
/// `presser` is NULL or valid (its strings and legs NULL or valid); `digits` and
/// `partner_uuid` NULL or NUL-terminated; `out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_one_step(
    engine: *const cp_engine,
    presser: *const cp_dial,
    digits: *const c_char,
    partner_uuid: *const c_char,
    out: *mut cp_command,
) -> cp_result {
    with_engine("cp_engine_one_step", engine, |e| {
        if presser.is_null() || out.is_null() {
            return cp_result::NullParameter;
        }
        let digits = match super::opt_str_arg(digits) {
            Ok(d) => d.unwrap_or(""),
            Err(r) => return r,
        };
        let partner = match super::str_arg(partner_uuid) {
            Ok(p) if command::is_uuid(p) => p.to_ascii_lowercase(),
            Ok(_) => return cp_result::InvalidArgument,
            Err(r) => return r,
        };
        let facts = channel_dial(&*presser, "", "").facts;
        match e.engine.one_step(&facts, digits) {
            Ok((tenant, target)) => {
                let Ok(c) = command::parse(&format!("park {partner} {target}@{tenant}")) else {
                    return cp_result::InvalidArgument;
                };
                let mut c = to_c_command(&c);
                c.local = true;
                *out = c;
                cp_result::Ok
            }
            Err(err) => cp_result::from(&err),
        }
    })
}

/// Carries out an operator's command (`CP_COMMAND_KIND_PARK`, `_RETRIEVE`, `_HANGUP`,
/// as `cp_command_parse` wrote it): checks the tenant named, acts, fires the usual
/// events, and writes into `*out` what the switch must still do and the line to answer.
/// For `park`, `call` holds what the switch knows of the channel `command->uuid` (as for
/// `cp_engine_dial`; its `uuid` and `dialed` are not read), or is NULL when there is no
/// such channel; for the others it is not read. A park that fails leaves the channel as
/// it was. `*out` is written on every return but `CP_RESULT_NULL_PARAMETER`,
/// `CP_RESULT_INVALID_HANDLE` and `CP_RESULT_PANIC`; the return value is `out->code`.
///
/// # Safety
/// `command` is NULL or valid; `call` NULL or valid (its strings and legs NULL or valid);
/// `out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn cp_engine_operate(
    engine: *const cp_engine,
    command: *const cp_command,
    call: *const cp_dial,
    out: *mut cp_operation,
) -> cp_result {
    with_engine("cp_engine_operate", engine, |e| {
        if command.is_null() || out.is_null() {
            return cp_result::NullParameter;
        }
        let (c, out) = (&*command, &mut *out);
        clear_hold(&mut out.hold);
        out.line[0] = 0;
        out.action = cp_action::None;
        let (uuid, ext, user, tenant) = match (word(&c.uuid), word(&c.extension), word(&c.user), word(&c.tenant)) {
            (Ok(u), Ok(x), Ok(n), Ok(t)) => (u, x, n, Some(t).filter(|t| !t.is_empty())),
            _ => {
                out.code = cp_result::InvalidUtf8;
                return out.code;
            }
        };
        let json = c.format == cp_format::Json;
        let engine = &e.engine;
        // A call another node holds (or, for a park, a channel this switch does not have):
        // that node carries the command out, and its answer is this one.
        if !c.local {
            let t = tenant.map(str::to_string);
            let asked = match c.kind {
                cp_command_kind::Park => {
                    let timeout = u32::try_from(c.timeout).ok();
                    Some(Command::Park { uuid: uuid.into(), extension: ext.into(), tenant: t, timeout, json })
                }
                cp_command_kind::Retrieve => Some(Command::Retrieve {
                    target: if uuid.is_empty() { Target::Extension(ext.into()) } else { Target::Call(uuid.into()) },
                    user: user.into(),
                    tenant: t,
                    json,
                }),
                cp_command_kind::Hangup => Some(Command::Hangup { uuid: uuid.into(), tenant: t, json }),
                _ => None,
            };
            if let Some((nodes, command)) = asked.and_then(|a| engine.elsewhere(&a, !call.is_null())) {
                let line = engine.forward(&command, &nodes);
                let done = command::answered_ok(&line);
                write_truncated(&line, out.line.as_mut_ptr(), CP_OPERATION_LINE_SIZE, std::ptr::null_mut());
                out.code = if done { cp_result::Ok } else { cp_result::HostFailed };
                return out.code;
            }
        }
        let (op, outcome): (Operation, Result<(listing::CallInfo, String), DialError>) = match c.kind {
            cp_command_kind::Park => (Operation::Park, {
                match call.as_ref() {
                    None => Err(command::no_such_call(uuid)),
                    Some(r) => {
                        let mut d = channel_dial(r, uuid, ext);
                        d.operator = Some(OperatorPark { tenant });
                        // The operator's seconds over the channel's `callpark_timeout`.
                        let secs = u32::try_from(c.timeout).ok().map(|s| s.to_string());
                        if let Some(s) = &secs {
                            d.timeout = s;
                        }
                        match engine.answer(&d) {
                            Reply::Hold { extension, music, exit_key, announce } => {
                                put_hold(&*e.host, &music, exit_key, announce.as_deref(), &mut out.hold);
                                out.action = cp_action::Parked;
                                match engine.parked(uuid) {
                                    Some(info) => {
                                        let done = Done::Parked { call: &info, extension: &extension }.to_string();
                                        Ok((info, done))
                                    }
                                    // Gone at once (hung up): nothing to hold.
                                    None => {
                                        out.action = cp_action::None;
                                        Err(DialError::NotParked { uuid: uuid.into() })
                                    }
                                }
                            }
                            Reply::Refuse { error, .. } | Reply::SendBack { error, .. } => Err(error),
                            Reply::Bridged | Reply::End => Err(command::not_a_park()),
                        }
                    }
                }
            }),
            cp_command_kind::Retrieve => {
                let target = if uuid.is_empty() { Target::Extension(ext.into()) } else { Target::Call(uuid.into()) };
                (Operation::Retrieve, {
                    engine.operator_retrieve(&target, user, tenant).map(|info| {
                        let done = Done::Ringing { call: &info, user }.to_string();
                        (info, done)
                    })
                })
            }
            cp_command_kind::Hangup => (Operation::Hangup, {
                engine.operator_hangup(uuid, tenant).map(|info| {
                    out.action = cp_action::HangUp;
                    let done = Done::HungUp { call: &info }.to_string();
                    (info, done)
                })
            }),
            _ => {
                out.code = cp_result::InvalidArgument;
                return out.code;
            }
        };
        let line = op.answer(outcome.as_ref().map(|(info, done)| (info, done.as_str())), json);
        let code = outcome.as_ref().map_or_else(cp_result::from, |_| cp_result::Ok);
        write_truncated(&line, out.line.as_mut_ptr(), CP_OPERATION_LINE_SIZE, std::ptr::null_mut());
        out.code = code;
        code
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_is_the_core_s() {
        assert_eq!(USAGE.to_str(), Ok(command::USAGE));
        assert_eq!(unsafe { CStr::from_ptr(cp_command_usage()) }, USAGE);
    }

    #[test]
    fn every_command_error_has_its_code() {
        use command::CommandError as E;
        let cases = [
            (E::Empty, cp_result::CommandEmpty),
            (E::NotUtf8 { at: 0 }, cp_result::InvalidUtf8),
            (E::BadCharacter { at: 0 }, cp_result::CommandBadCharacter),
            (E::UnknownVerb("x".into()), cp_result::CommandUnknown),
            (E::ExtraArgument { verb: "status", arg: "x".into() }, cp_result::CommandExtraArgument),
            (E::TwoDomains { first: "a".into(), second: "b".into() }, cp_result::CommandTwoDomains),
            (E::JsonTwice, cp_result::CommandJsonTwice),
            (E::NotADomain("a$".into()), cp_result::CommandNotADomain),
            (E::DomainTooLong { len: 254 }, cp_result::CommandDomainTooLong),
            (E::MissingArgument { verb: "park", what: "x" }, cp_result::CommandMissingArgument),
            (E::NotAUuid("x".into()), cp_result::CommandNotAUuid),
            (E::NotAnExtension("*".into()), cp_result::CommandNotAnExtension),
            (E::TwoTenants { first: "a".into(), second: "b".into() }, cp_result::CommandTwoTenants),
        ];
        for (e, code) in cases {
            assert_eq!(cp_result::from(&e), code, "{e:?}");
        }
    }

    #[test]
    fn commands_reach_c_as_written() {
        let parse = |s: &CStr| {
            let mut out = cp_command {
                kind: cp_command_kind::Status,
                format: cp_format::Text,
                tenant: [1; 254],
                uuid: [1; CP_COMMAND_WORD_SIZE],
                extension: [1; CP_COMMAND_WORD_SIZE],
                user: [1; CP_COMMAND_WORD_SIZE],
                local: true,
                timeout: 7,
            };
            let mut err = [0 as c_char; 128];
            let mut n = 0usize;
            let r = unsafe { cp_command_parse(s.as_ptr(), &mut out, err.as_mut_ptr(), err.len(), &mut n) };
            let msg = unsafe { CStr::from_ptr(err.as_ptr()) }.to_str().unwrap().to_string();
            (r, out, msg, n)
        };
        let (r, out, _, _) = parse(c"list Acme.Example json");
        assert_eq!(r, cp_result::Ok);
        assert_eq!((out.kind, out.format), (cp_command_kind::List, cp_format::Json));
        assert_eq!(unsafe { CStr::from_ptr(out.tenant.as_ptr()) }, c"acme.example");
        let (r, out, _, _) = parse(c"list");
        assert_eq!(
            (r, out.kind, out.format, out.tenant[0]),
            (cp_result::Ok, cp_command_kind::List, cp_format::Text, 0)
        );
        assert_eq!(parse(c"reload").1.kind, cp_command_kind::Reload);
        assert_eq!(parse(c"status").1.kind, cp_command_kind::Status);
        let (r, out, msg, n) = parse(c"lst");
        assert_eq!(r, cp_result::CommandUnknown);
        assert_eq!(out.tenant[0], 1, "left as it was");
        assert!(msg.starts_with("unknown sub-command \"lst\"") && n == msg.len(), "{msg}");
        let (r, out, _, _) = parse(c"retrieve 102@Acme.Example 104 JSON");
        assert_eq!((r, out.kind, out.format), (cp_result::Ok, cp_command_kind::Retrieve, cp_format::Json));
        let field = |f: &[c_char]| unsafe { CStr::from_ptr(f.as_ptr()) }.to_str().unwrap().to_string();
        assert_eq!(
            [field(&out.uuid), field(&out.extension), field(&out.user), field(&out.tenant)],
            ["", "102", "104", "acme.example"]
        );
        let (_, out, _, _) = parse(c"park 0B7A1C2E-3F4D-4E5F-8A9B-0C1D2E3F4A5B sales");
        assert_eq!(out.kind, cp_command_kind::Park);
        assert_eq!(
            [field(&out.uuid), field(&out.extension), field(&out.user), field(&out.tenant)],
            ["0b7a1c2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b", "sales", "", ""]
        );
        assert_eq!(out.timeout, -1, "no seconds given");
        let (_, out, _, _) = parse(c"park 0b7a1c2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b 102 0");
        assert_eq!((out.kind, out.timeout), (cp_command_kind::Park, 0), "never recalled");
        let (r, _, msg, _) = parse(c"park 0b7a1c2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b 102 3");
        assert_eq!(r, cp_result::CommandNotATimeout, "{msg}");
        let (_, out, _, _) = parse(c"hangup 0b7a1c2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b globex.example");
        assert_eq!((out.kind, field(&out.tenant)), (cp_command_kind::Hangup, "globex.example".to_string()));
        let (r, _, msg, _) = parse(c"list \xff");
        assert_eq!((r, msg.as_str()), (cp_result::InvalidUtf8, "the command is not UTF-8 (byte 5)"));
    }
}
