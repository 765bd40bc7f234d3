//! C to Rust: the `callpark` API command of `fs_cli` and ESL, parsed by the library
//! (`cp_command_parse`), so that the module only carries it out.

use std::ffi::{c_char, CStr};

use super::api::cp_format;
use super::{boundary, cp_result, write_truncated};
use crate::command::{self, Command};

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
}

/// The size of `cp_command.tenant`: the longest domain (253 bytes) and its NUL.
pub const CP_COMMAND_TENANT_SIZE: usize = 254;
const _: () = assert!(CP_COMMAND_TENANT_SIZE == crate::config::MAX_DOMAIN_LEN + 1);

/// A buffer of this many bytes always holds a message of `cp_command_parse` whole.
pub const CP_COMMAND_MESSAGE_SIZE: usize = 512;

/// A parsed `callpark` API command, written by `cp_command_parse`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct cp_command {
    pub kind: cp_command_kind,
    /// `list`: `CP_FORMAT_JSON` when `json` was given, else `CP_FORMAT_TEXT`.
    pub format: cp_format,
    /// `list <domain>`: the domain, lower-case, NUL-terminated. Empty (`tenant[0] == 0`)
    /// for every tenant, and for the other commands.
    pub tenant: [c_char; CP_COMMAND_TENANT_SIZE],
}

/// The syntax of the `callpark` API command, a static NUL-terminated string:
/// `list [<domain>] [json] | reload | status`.
#[no_mangle]
pub extern "C" fn cp_command_usage() -> *const c_char {
    USAGE.as_ptr()
}

const USAGE: &CStr = c"list [<domain>] [json] | reload | status";

/// Parses the arguments of the `callpark` API command (the text after `callpark`):
/// `list [<domain>] [json] | reload | status`. Words are split on ASCII whitespace; the
/// sub-command and `json` are case-insensitive; `list` takes at most one domain (letters,
/// digits, `.`, `-`, `_`, at most 253 bytes) and one `json`, in either order.
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
    let mut out =
        cp_command { kind: cp_command_kind::Status, format: cp_format::Text, tenant: [0; CP_COMMAND_TENANT_SIZE] };
    match c {
        Command::List { tenant, json } => {
            out.kind = cp_command_kind::List;
            out.format = if *json { cp_format::Json } else { cp_format::Text };
            let t = tenant.as_deref().unwrap_or("").as_bytes();
            // The parser keeps domains to MAX_DOMAIN_LEN bytes of ASCII, no NUL.
            assert!(t.len() < CP_COMMAND_TENANT_SIZE, "a domain longer than the parser allows");
            for (d, s) in out.tenant.iter_mut().zip(t) {
                *d = *s as c_char;
            }
        }
        Command::Reload => out.kind = cp_command_kind::Reload,
        Command::Status => out.kind = cp_command_kind::Status,
    }
    out
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
        ];
        for (e, code) in cases {
            assert_eq!(cp_result::from(&e), code, "{e:?}");
        }
    }

    #[test]
    fn commands_reach_c_as_written() {
        let parse = |s: &CStr| {
            let mut out = cp_command { kind: cp_command_kind::Status, format: cp_format::Text, tenant: [1; 254] };
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
        let (r, _, msg, _) = parse(c"list \xff");
        assert_eq!((r, msg.as_str()), (cp_result::InvalidUtf8, "the command is not UTF-8 (byte 5)"));
    }
}
