//! A caller's number and name as callpark keeps them: what may safely go into a dial
//! string, a SIP header, a lamp or an event. The same cut applies to what the switch
//! passes in and to what a shared store reads back.

/// Caller names are cut to this many characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Keeps what a caller number may hold: digits, `+`, `*`, `#`.
pub fn clean_number(s: &str) -> String {
    // Every character kept is ASCII: bytes will do.
    let mut kept = Vec::with_capacity(s.len().min(32));
    kept.extend(s.bytes().filter(|b| b.is_ascii_digit() || b"+*#".contains(b)).take(32));
    String::from_utf8(kept).expect("only ASCII is kept")
}

/// Keeps what a caller name may safely carry into a dial string or a SIP header.
pub fn clean_name(s: &str) -> String {
    let keep = |c: char| c.is_alphanumeric() || " .-_+()&/".contains(c);
    let mut kept = String::with_capacity(s.len().min(MAX_NAME_CHARS * 4));
    if s.is_ascii() {
        let keep = |b: &u8| b.is_ascii_alphanumeric() || b" .-_+()&/".contains(b);
        kept.extend(s.bytes().filter(keep).take(MAX_NAME_CHARS).map(char::from));
    } else {
        kept.extend(s.chars().filter(|c| keep(*c)).take(MAX_NAME_CHARS));
    }
    // Trimmed in place, without a second string.
    kept.truncate(kept.trim_end().len());
    let lead = kept.len() - kept.trim_start().len();
    kept.drain(..lead);
    kept
}
