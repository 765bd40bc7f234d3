//! Request cleaning: what the host passes in (uuids, extensions, domains, caller
//! numbers and names) checked or cut to what the rules and a dial string may carry.

use std::borrow::Cow;

use crate::config::valid_domain;
use crate::identity;

/// Longest identifier (uuid, user, caller number) accepted from the host.
pub const MAX_ID_LEN: usize = 256;
pub use crate::caller::{clean_name, clean_number, MAX_NAME_CHARS};

pub(super) fn clean_id<'a>(what: &str, s: &'a str) -> Result<&'a str, String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > MAX_ID_LEN {
        return Err(format!("{what} is longer than {MAX_ID_LEN} bytes"));
    }
    let bad = |c: char| c.is_control() || c.is_whitespace();
    // ASCII: control characters and whitespace are the bytes up to the space, and DEL.
    if if s.is_ascii() { s.bytes().any(|b| b <= b' ' || b == 0x7f) } else { s.chars().any(bad) } {
        return Err(format!("{what} has a space or control character"));
    }
    Ok(s)
}

/// A user id: see [`identity::valid_user`].
pub(super) fn clean_user<'a>(what: &str, s: Option<&'a str>) -> Result<Option<&'a str>, String> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(u) if identity::valid_user(u) => Ok(Some(u)),
        Some(u) => Err(format!("{what} \"{}\" is not a user id", u.escape_default())),
    }
}

/// The domain, lower-case: borrowed when it already is.
pub(super) fn clean_tenant(s: &str) -> Result<Cow<'_, str>, String> {
    let trimmed = s.trim();
    let t = if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    };
    if valid_domain(&t) {
        Ok(t)
    } else {
        Err(format!("tenant \"{}\" is not a domain", s.escape_default()))
    }
}
