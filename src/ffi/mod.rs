//! The C ABI: every `extern "C"` item of callpark lives under this module.
//!
//! - `api.rs`: what C calls (C to Rust): the `cp_*` functions.
//! - `command.rs`: the `callpark` API command (C to Rust): `cp_command_parse`.
//! - `dial.rs`: a channel's dial (C to Rust): `cp_dial` in, one `cp_dial_result` out.
//! - `host.rs`: what Rust calls (Rust to C): the `cp_host` callback table.
//!
//! Conventions (after rustls-ffi): one `cp_` prefix; results are [`cp_result`] codes
//! with fixed numbers; every export runs inside [`boundary`], so a panic becomes
//! `CP_RESULT_PANIC` and a log line, never an unwind into C; null pointers are
//! `CP_RESULT_NULL_PARAMETER` and bad UTF-8 `CP_RESULT_INVALID_UTF8`; output
//! parameters come last; a buffer is followed by its length.
#![allow(non_camel_case_types)]

pub mod api;
pub mod command;
pub mod dial;
pub mod hold;
pub mod host;
mod result;

pub use result::cp_result;

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::codes::CodeError;
use crate::command::CommandError;
use crate::error::{CallError, DialError};

impl From<&DialError> for cp_result {
    fn from(e: &DialError) -> Self {
        match e {
            DialError::BadRequest(_) => cp_result::InvalidArgument,
            DialError::Code(c) => match c {
                CodeError::Empty => cp_result::CodeEmpty,
                CodeError::BadCharacter { .. } => cp_result::CodeBadCharacter,
                CodeError::Unknown(_) => cp_result::CodeUnknown,
                CodeError::NotDigits { .. } => cp_result::CodeNotDigits,
                CodeError::TooShort { .. } => cp_result::CodeTooShort,
                CodeError::TooLong { .. } => cp_result::CodeTooLong,
                CodeError::UnexpectedExtension { .. } => cp_result::CodeUnexpectedExtension,
                CodeError::NotAPosition { .. } => cp_result::CodeNotAPosition,
            },
            DialError::NoTenant => cp_result::NoTenant,
            DialError::NoParkingUser => cp_result::NoParkingUser,
            DialError::UnknownExtension(_) => cp_result::UnknownExtension,
            DialError::SlotFull { .. } => cp_result::SlotFull,
            DialError::LotFull { .. } => cp_result::LotFull,
            DialError::KeysOfNoUser => cp_result::KeysOfNoUser,
            DialError::NoGroup { .. } => cp_result::NoGroup,
            DialError::NoFreeMember { .. } => cp_result::NoFreeMember,
            DialError::AlreadyParked => cp_result::AlreadyParked,
            DialError::NoRetriever => cp_result::NoRetriever,
            DialError::Empty { .. } => cp_result::SlotEmpty,
            DialError::HostFailed(_) => cp_result::HostFailed,
            DialError::OtherTenant { .. } => cp_result::OtherTenant,
            DialError::NotParked { .. } => cp_result::NotParked,
            DialError::UnknownUser(_) => cp_result::UnknownUser,
            DialError::Leaving { .. } => cp_result::Leaving,
            DialError::Store(_) => cp_result::StoreUnavailable,
            DialError::NotANode { .. } => cp_result::NotANode,
        }
    }
}

impl From<&CallError> for cp_result {
    fn from(e: &CallError) -> Self {
        match e {
            CallError::BadRequest(_) => cp_result::InvalidArgument,
            CallError::NotFound => cp_result::NotFound,
            CallError::AlreadyTaken => cp_result::AlreadyTaken,
            CallError::BridgeFailed(_) => cp_result::BridgeFailed,
            CallError::Store(_) => cp_result::StoreUnavailable,
        }
    }
}

impl From<&CommandError> for cp_result {
    fn from(e: &CommandError) -> Self {
        match e {
            CommandError::Empty => cp_result::CommandEmpty,
            CommandError::NotUtf8 { .. } => cp_result::InvalidUtf8,
            CommandError::BadCharacter { .. } => cp_result::CommandBadCharacter,
            CommandError::UnknownVerb(_) => cp_result::CommandUnknown,
            CommandError::ExtraArgument { .. } => cp_result::CommandExtraArgument,
            CommandError::TwoDomains { .. } => cp_result::CommandTwoDomains,
            CommandError::JsonTwice => cp_result::CommandJsonTwice,
            CommandError::NotADomain(_) => cp_result::CommandNotADomain,
            CommandError::DomainTooLong { .. } => cp_result::CommandDomainTooLong,
            CommandError::MissingArgument { .. } => cp_result::CommandMissingArgument,
            CommandError::NotAUuid(_) => cp_result::CommandNotAUuid,
            CommandError::NotAnExtension(_) => cp_result::CommandNotAnExtension,
            CommandError::TwoTenants { .. } => cp_result::CommandTwoTenants,
            CommandError::NotATimeout(_) => cp_result::CommandNotATimeout,
        }
    }
}

/// Runs `f`; a panic inside becomes `CP_RESULT_PANIC` and a line on standard error
/// (and in the host's log when `log` is given). Every export goes through here.
pub fn boundary(name: &str, log: Option<&dyn Fn(&str)>, f: impl FnOnce() -> cp_result) -> cp_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let line = format!("callpark: panic caught in {name}: {what}");
            eprintln!("{line}");
            if let Some(log) = log {
                let _ = catch_unwind(AssertUnwindSafe(|| log(&line)));
            }
            cp_result::Panic
        }
    }
}

/// A required C string: NULL and bad UTF-8 are result codes.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char) -> Result<&'a str, cp_result> {
    if p.is_null() {
        return Err(cp_result::NullParameter);
    }
    CStr::from_ptr(p).to_str().map_err(|_| cp_result::InvalidUtf8)
}

/// An optional C string: NULL is `None`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char) -> Result<Option<&'a str>, cp_result> {
    if p.is_null() {
        Ok(None)
    } else {
        str_arg(p).map(Some)
    }
}

/// Writes `s` and a NUL into `buf` of `len` bytes; `*out_n` gets the bytes written
/// without the NUL, or, with `CP_RESULT_BUFFER_TOO_SMALL`, the size needed with it.
///
/// # Safety
/// `buf` is NULL or valid for `len` bytes; `out_n` is NULL or valid.
pub(crate) unsafe fn write_out(s: &str, buf: *mut c_char, len: usize, out_n: *mut usize) -> cp_result {
    if buf.is_null() || out_n.is_null() {
        return cp_result::NullParameter;
    }
    // A C string ends at its first NUL: never write one inside (the length would lie).
    let bytes = &s.as_bytes()[..s.find('\0').unwrap_or(s.len())];
    if bytes.len() + 1 > len {
        *out_n = bytes.len() + 1;
        return cp_result::BufferTooSmall;
    }
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
    *buf.add(bytes.len()) = 0;
    *out_n = bytes.len();
    cp_result::Ok
}

/// Like [`write_out`], but cuts `s` to fit (at a character boundary) instead of failing.
///
/// # Safety
/// As [`write_out`].
pub(crate) unsafe fn write_truncated(s: &str, buf: *mut c_char, len: usize, out_n: *mut usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    let s = &s[..s.find('\0').unwrap_or(s.len())];
    let mut end = s.len().min(len - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), end);
    *buf.add(end) = 0;
    if !out_n.is_null() {
        *out_n = end;
    }
}
