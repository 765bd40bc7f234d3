//! The `callpark` API command of `fs_cli` and ESL ([`USAGE`]), parsed into a [`Command`]
//! or a [`CommandError`] that says what was wrong.
//!
//! The grammar, as the switch hands over the text after `callpark`:
//! - words are split on ASCII whitespace (space, tab, CR, LF, form feed), any number;
//! - the sub-command and the word `json` are case-insensitive (`LIST`, `Json`);
//! - `list` takes at most one domain and at most one `json`, in either order; `json`
//!   given twice is an error, like any other repeated or extra word (a typo must not
//!   pass silently); a domain is a configuration domain ([`config::valid_domain`]:
//!   letters, digits, `.`, `-`, `_`, at most [`config::MAX_DOMAIN_LEN`] bytes) and is
//!   returned lower-case;
//! - `reload` and `status` take nothing;
//! - the operator's commands: `park <uuid> <ext>[@<domain>] [json]`,
//!   `retrieve <ext>[@<domain>]|<uuid> <user>[@<domain>] [json]` and
//!   `hangup <uuid> [<domain>] [json]`. A uuid is FreeSWITCH's form (8-4-4-4-12 hex
//!   digits); an extension or user is a user id ([`identity::valid_user`]), a group name
//!   for `park`; a domain names the tenant the operator acts in (the call must be of it),
//!   and two domains given must be the same; `json` may stand anywhere after the verb,
//!   and the bare word is always that flag: an extension or user named `json` is
//!   written with its domain (`json@acme.example`);
//! - a control character anywhere (other than the whitespace above) refuses the whole
//!   line, and so does text that is not UTF-8.
//!
//! Messages quote what was typed escaped and cut to a few dozen characters, so that they
//! are safe to print and short whatever was sent.

use std::fmt;

use crate::config::{self, MAX_DOMAIN_LEN};
use crate::error::DialError;
use crate::identity;
use crate::listing::{self, CallInfo};

/// The syntax's text: a macro, so that the C ABI's NUL-terminated copy
/// (`cp_command_usage`) is made from the same literal.
macro_rules! usage_text {
    () => {
        "list [<domain>] [json] | reload | status | park <uuid> <ext>[@<domain>] [<seconds>] [json] | \
retrieve <ext>[@<domain>]|<uuid> <user>[@<domain>] [json] | hangup <uuid> [<domain>] [json]"
    };
}
pub(crate) use usage_text;

/// The syntax, as `fs_cli` shows it after `-USAGE:`.
pub const USAGE: &str = usage_text!();

/// What a console completes after `callpark`, in the usage's order; `<uuid>` stands for
/// a live call's uuid. The sub-commands are these lines' first words.
pub const COMPLETIONS: &[&str] = &["list", "list json", "reload", "status", "park <uuid>", "retrieve", "hangup <uuid>"];

/// The sub-commands, as an unknown one's message lists them: `list, reload, ...`.
fn verbs() -> String {
    let mut v: Vec<&str> = Vec::new();
    for first in COMPLETIONS.iter().filter_map(|c| c.split(' ').next()) {
        if !v.contains(&first) {
            v.push(first);
        }
    }
    v.join(", ")
}

/// What `retrieve` picks up: the oldest call at an extension, or one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Extension(String),
    Call(String),
}

/// What the command asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `list [<domain>] [json]`: the parked calls of one tenant (lower-case domain) or of
    /// every tenant, as text or JSON.
    List { tenant: Option<String>, json: bool },
    /// `reload`: re-read the XML and swap in the configuration if it is valid.
    Reload,
    /// `status`: counts of parked calls, timers, tenants and groups.
    Status,
    /// `park <uuid> <ext>[@<domain>] [<seconds>]`: park the call `uuid` at `extension`
    /// (or in the group of that name), in `tenant` if one is named, recalled after
    /// `timeout` seconds if given (`0`: never) instead of the configured `recall-time`.
    Park { uuid: String, extension: String, tenant: Option<String>, timeout: Option<u32>, json: bool },
    /// `retrieve <ext|uuid> <user>`: ring `user` and connect it to the parked call.
    Retrieve { target: Target, user: String, tenant: Option<String>, json: bool },
    /// `hangup <uuid> [<domain>]`: hang up a parked call.
    Hangup { uuid: String, tenant: Option<String>, json: bool },
}

impl Command {
    /// The answer is JSON.
    pub fn json(&self) -> bool {
        match self {
            Command::List { json, .. }
            | Command::Park { json, .. }
            | Command::Retrieve { json, .. }
            | Command::Hangup { json, .. } => *json,
            Command::Reload | Command::Status => false,
        }
    }
}

impl Command {
    /// The command as it is typed, [`parse`] reading it back as it is: what a node sends
    /// another to carry out (`park`, `retrieve` and `hangup` of a call held there). The
    /// domain is written on every id, so that an id named `json` stays an id.
    pub fn text(&self) -> String {
        let at = |t: &Option<String>| t.as_ref().map(|t| format!("@{t}")).unwrap_or_default();
        let j = |json: bool| if json { " json" } else { "" };
        match self {
            Command::List { tenant, json } => format!("list {}{}", tenant.as_deref().unwrap_or(""), j(*json)),
            Command::Reload => "reload".into(),
            Command::Status => "status".into(),
            Command::Park { uuid, extension, tenant, timeout, json } => {
                let secs = timeout.map(|s| format!(" {s}")).unwrap_or_default();
                format!("park {uuid} {extension}{}{secs}{}", at(tenant), j(*json))
            }
            Command::Retrieve { target, user, tenant, json } => {
                let t = match target {
                    Target::Call(u) => u,
                    Target::Extension(e) => e,
                };
                format!("retrieve {t}{} {user}{}{}", at(tenant), at(tenant), j(*json))
            }
            Command::Hangup { uuid, tenant, json } => {
                format!("hangup {uuid} {}{}", tenant.as_deref().unwrap_or(""), j(*json))
            }
        }
    }
}

/// Why a command line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Nothing, or only whitespace: the caller prints the usage.
    Empty,
    /// The bytes are not UTF-8 from byte `at` on.
    NotUtf8 { at: usize },
    /// A control character (not a separator) at byte `at`.
    BadCharacter { at: usize },
    /// The first word is none of the sub-commands (`list`, `reload`, `status`, `park`,
    /// `retrieve`, `hangup`).
    UnknownVerb(String),
    /// `reload` or `status` followed by something.
    ExtraArgument { verb: &'static str, arg: String },
    /// `list` with two words that are not `json`.
    TwoDomains { first: String, second: String },
    /// `list ... json ... json`.
    JsonTwice,
    /// A domain with a character a domain may not have.
    NotADomain(String),
    /// A domain longer than [`MAX_DOMAIN_LEN`] bytes (`len` bytes).
    DomainTooLong { len: usize },
    /// An operator's command without one of its words (`what`).
    MissingArgument { verb: &'static str, what: &'static str },
    /// Not a uuid where one is needed.
    NotAUuid(String),
    /// Not an extension, group or user id where one is needed.
    NotAnExtension(String),
    /// Two different domains in one operator's command.
    TwoTenants { first: String, second: String },
    /// `park`'s seconds are neither 0 nor from 5 to 86400.
    NotATimeout(String),
}

/// At most this many characters of what was typed are quoted in a message.
const QUOTE_CHARS: usize = 40;

/// `s` escaped (control and non-ASCII characters as `\u{..}`) and cut to
/// [`QUOTE_CHARS`] characters, with `...` when cut.
fn quoted(s: &str) -> String {
    let mut out: String = s.chars().take(QUOTE_CHARS).flat_map(char::escape_default).collect();
    if s.chars().nth(QUOTE_CHARS).is_some() {
        out.push_str("...");
    }
    out
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Empty => write!(f, "no sub-command; usage: {USAGE}"),
            CommandError::NotUtf8 { at } => write!(f, "the command is not UTF-8 (byte {at})"),
            CommandError::BadCharacter { at } => write!(f, "the command has a control character at byte {at}"),
            CommandError::UnknownVerb(v) => {
                write!(f, "unknown sub-command \"{}\"; one of {}", quoted(v), verbs())
            }
            CommandError::ExtraArgument { verb, arg } => {
                write!(f, "{verb} takes no arguments, \"{}\" was given", quoted(arg))
            }
            CommandError::TwoDomains { first, second } => {
                write!(f, "list takes one domain, \"{}\" and \"{}\" were given", quoted(first), quoted(second))
            }
            CommandError::JsonTwice => write!(f, "json was given twice"),
            CommandError::NotADomain(d) => {
                write!(f, "\"{}\" is not a domain (letters, digits, '.', '-', '_')", quoted(d))
            }
            CommandError::DomainTooLong { len } => {
                write!(f, "the domain is {len} bytes long, more than {MAX_DOMAIN_LEN}")
            }
            CommandError::MissingArgument { verb, what } => write!(f, "{verb} needs {what}; usage: {}", usage_of(verb)),
            CommandError::NotAUuid(u) => write!(f, "\"{}\" is not a call's uuid", quoted(u)),
            CommandError::NotAnExtension(e) => {
                write!(f, "\"{}\" is not an extension (letters, digits, '+', '-', '_', '.')", quoted(e))
            }
            CommandError::NotATimeout(s) => {
                write!(f, "\"{}\" is neither 0 (never recalled) nor a number of seconds from 5 to 86400", quoted(s))
            }
            CommandError::TwoTenants { first, second } => {
                write!(f, "two tenants were named, \"{}\" and \"{}\"", quoted(first), quoted(second))
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// Parses a command line given as bytes (what C hands over): not UTF-8 is
/// [`CommandError::NotUtf8`].
pub fn parse_bytes(line: &[u8]) -> Result<Command, CommandError> {
    match std::str::from_utf8(line) {
        Ok(s) => parse(s),
        Err(e) => Err(CommandError::NotUtf8 { at: e.valid_up_to() }),
    }
}

/// Parses a command line (the text after `callpark`).
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let bad = |c: char| c.is_control() && !c.is_ascii_whitespace();
    if let Some((at, _)) = line.char_indices().find(|&(_, c)| bad(c)) {
        return Err(CommandError::BadCharacter { at });
    }
    let mut words = line.split_ascii_whitespace();
    let Some(verb) = words.next() else {
        return Err(CommandError::Empty);
    };
    if verb.eq_ignore_ascii_case("list") {
        return parse_list(words);
    }
    for v in ["park", "retrieve", "hangup"] {
        if verb.eq_ignore_ascii_case(v) {
            return parse_operator(v, words);
        }
    }
    let (verb, command) = if verb.eq_ignore_ascii_case("reload") {
        ("reload", Command::Reload)
    } else if verb.eq_ignore_ascii_case("status") {
        ("status", Command::Status)
    } else {
        return Err(CommandError::UnknownVerb(verb.into()));
    };
    match words.next() {
        Some(arg) => Err(CommandError::ExtraArgument { verb, arg: arg.into() }),
        None => Ok(command),
    }
}

fn parse_list<'a>(words: impl Iterator<Item = &'a str>) -> Result<Command, CommandError> {
    let mut tenant: Option<String> = None;
    let mut json = false;
    for w in words {
        if w.eq_ignore_ascii_case("json") {
            if json {
                return Err(CommandError::JsonTwice);
            }
            json = true;
            continue;
        }
        if let Some(first) = tenant {
            return Err(CommandError::TwoDomains { first, second: w.into() });
        }
        tenant = Some(a_domain(w)?);
    }
    Ok(Command::List { tenant, json })
}

/// The syntax of one operator's command, for its messages.
fn usage_of(verb: &str) -> &'static str {
    match verb {
        "park" => "park <uuid> <ext>[@<domain>] [<seconds>] [json]",
        "retrieve" => "retrieve <ext>[@<domain>]|<uuid> <user>[@<domain>] [json]",
        _ => "hangup <uuid> [<domain>] [json]",
    }
}

/// FreeSWITCH's uuid form: 8-4-4-4-12 hex digits.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

fn a_domain(w: &str) -> Result<String, CommandError> {
    if w.len() > MAX_DOMAIN_LEN {
        return Err(CommandError::DomainTooLong { len: w.len() });
    }
    if !config::valid_domain(w) {
        return Err(CommandError::NotADomain(w.into()));
    }
    Ok(w.to_ascii_lowercase())
}

fn parse_operator<'a>(verb: &'static str, words: impl Iterator<Item = &'a str>) -> Result<Command, CommandError> {
    let mut json = false;
    let mut args = Vec::with_capacity(3);
    for w in words {
        if w.eq_ignore_ascii_case("json") {
            if json {
                return Err(CommandError::JsonTwice);
            }
            json = true;
        } else {
            args.push(w);
        }
    }
    // `<id>[@<domain>]`: the id checked, and its domain if one was written.
    let id_at = |w: &str| -> Result<(String, Option<String>), CommandError> {
        let (id, dom) = match w.split_once('@') {
            Some((id, d)) => (id, Some(d)),
            None => (w, None),
        };
        if !identity::valid_user(id) {
            return Err(CommandError::NotAnExtension(w.into()));
        }
        Ok((id.to_string(), dom.map(a_domain).transpose()?))
    };
    let uuid = |w: &str| if is_uuid(w) { Ok(w.to_ascii_lowercase()) } else { Err(CommandError::NotAUuid(w.into())) };
    let missing = |what| CommandError::MissingArgument { verb, what };
    let extra = |args: &[&str], n: usize| match args.get(n) {
        Some(a) => Err(CommandError::ExtraArgument { verb, arg: (*a).into() }),
        None => Ok(()),
    };
    match verb {
        "park" => {
            let u = uuid(args.first().ok_or_else(|| missing("a call's uuid"))?)?;
            let (extension, tenant) = id_at(args.get(1).ok_or_else(|| missing("an extension"))?)?;
            let timeout = match args.get(2) {
                None => None,
                Some(s) => config::own_recall_time(s).map_err(|_| CommandError::NotATimeout((*s).into()))?,
            };
            extra(&args, 3)?;
            Ok(Command::Park { uuid: u, extension, tenant, timeout, json })
        }
        "retrieve" => {
            let t = args.first().ok_or_else(|| missing("an extension or a call's uuid"))?;
            // A uuid is a call's, with or without `@<domain>`: no extension is
            // named like a uuid, so the line means the same however written.
            let (id, first) = id_at(t)?;
            let target = if is_uuid(&id) { Target::Call(id.to_ascii_lowercase()) } else { Target::Extension(id) };
            let (user, second) = id_at(args.get(1).ok_or_else(|| missing("the user to ring"))?)?;
            let tenant = match (first, second) {
                (Some(a), Some(b)) if a != b => return Err(CommandError::TwoTenants { first: a, second: b }),
                (a, b) => a.or(b),
            };
            extra(&args, 2)?;
            Ok(Command::Retrieve { target, user, tenant, json })
        }
        _ => {
            let u = uuid(args.first().ok_or_else(|| missing("a call's uuid"))?)?;
            let tenant = args.get(1).map(|d| a_domain(d)).transpose()?;
            extra(&args, 2)?;
            Ok(Command::Hangup { uuid: u, tenant, json })
        }
    }
}

/// An operator's command that acts on one call, as the switch carries it out
/// (`cp_engine_operate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Park,
    Retrieve,
    Hangup,
}

/// What an operator's command did to a call, in the words of its answer.
#[derive(Clone, Copy, Debug)]
pub enum Done<'a> {
    /// `park`: the call is parked at `extension`.
    Parked { call: &'a CallInfo, extension: &'a str },
    /// `retrieve`: `user` of the call's tenant rings for it.
    Ringing { call: &'a CallInfo, user: &'a str },
    /// `hangup`: the call is hung up.
    HungUp { call: &'a CallInfo },
}

impl fmt::Display for Done<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Done::Parked { call, extension } => write!(f, "parked {} at {extension} in {}", call.uuid, call.tenant),
            Done::Ringing { call, user } => {
                write!(f, "ringing {user}@{} for {} parked at {}", call.tenant, call.uuid, call.extension)
            }
            Done::HungUp { call } => write!(f, "hung up {} parked at {} in {}", call.uuid, call.extension, call.tenant),
        }
    }
}

impl Operation {
    /// The sub-command, as a JSON answer names it (`"command": "park"`).
    pub fn verb(self) -> &'static str {
        match self {
            Operation::Park => "park",
            Operation::Retrieve => "retrieve",
            Operation::Hangup => "hangup",
        }
    }

    /// The answer to the operator: `+OK <what was done>` or `-ERR <why not>`, or one JSON
    /// object; with its newline.
    pub fn answer(self, outcome: Result<(&CallInfo, &str), &DialError>, json: bool) -> String {
        match outcome {
            Ok(done) => listing::operator_answer(self.verb(), Ok(done), json),
            Err(error) => listing::operator_answer(self.verb(), Err(&error.to_string()), json),
        }
    }
}

/// Whether an operator's answer (text or JSON, as [`Operation::answer`] writes it) says
/// the command was carried out.
pub fn answered_ok(line: &str) -> bool {
    line.starts_with("+OK") || line.contains("\"ok\":true")
}

/// An operator's `park` of a channel the switch does not have.
pub fn no_such_call(uuid: &str) -> DialError {
    DialError::BadRequest(format!("there is no call {uuid}"))
}

/// An operator's `park` that the engine answered with something else than a park.
pub fn not_a_park() -> DialError {
    DialError::BadRequest("not a park".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_s_text_reads_back_as_the_command() {
        let u = "4cbf1e2a-57d4-4a34-9d0f-0f3c2a6b8e11";
        for line in [
            "list",
            "list acme.example json",
            "reload",
            "status",
            &format!("park {u} 105"),
            &format!("park {u} json@acme.example json"),
            &format!("retrieve {u} 103"),
            "retrieve 102@acme.example 103 json",
            "retrieve json@acme.example json@acme.example",
            &format!("hangup {u}"),
            &format!("hangup {u} globex.example json"),
        ] {
            let c = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(parse(&c.text()), Ok(c.clone()), "{line} -> {}", c.text());
        }
    }

    fn list(tenant: Option<&str>, json: bool) -> Result<Command, CommandError> {
        Ok(Command::List { tenant: tenant.map(String::from), json })
    }

    #[test]
    fn every_command() {
        assert_eq!(parse("list"), list(None, false));
        assert_eq!(parse("list json"), list(None, true));
        assert_eq!(parse("list acme.example"), list(Some("acme.example"), false));
        assert_eq!(parse("list acme.example json"), list(Some("acme.example"), true));
        assert_eq!(parse("list json acme.example"), list(Some("acme.example"), true), "either order");
        assert_eq!(parse("reload"), Ok(Command::Reload));
        assert_eq!(parse("status"), Ok(Command::Status));
    }

    #[test]
    fn case_and_whitespace() {
        assert_eq!(parse("LIST Acme.EXAMPLE JSON"), list(Some("acme.example"), true), "domain lower-cased");
        assert_eq!(parse("Reload"), Ok(Command::Reload));
        assert_eq!(parse("sTaTuS"), Ok(Command::Status));
        assert_eq!(parse("  list \t acme.example\r\n"), list(Some("acme.example"), false));
        assert_eq!(parse("\x0clist\x0cjson\x0c"), list(None, true), "form feed is whitespace");
    }

    #[test]
    fn domains_follow_the_configuration_rules() {
        assert_eq!(parse("list a-b_c.example"), list(Some("a-b_c.example"), false));
        assert_eq!(parse("list 10.0.0.1"), list(Some("10.0.0.1"), false));
        let longest = "a".repeat(MAX_DOMAIN_LEN);
        assert_eq!(parse(&format!("list {longest}")), list(Some(&longest), false));
        let long = "a".repeat(MAX_DOMAIN_LEN + 1);
        assert_eq!(parse(&format!("list {long}")), Err(CommandError::DomainTooLong { len: MAX_DOMAIN_LEN + 1 }));
        for d in ["acme.example;x", "102@acme.example", "acme/example", "ex'ample", "ex%sample", "exämple"] {
            assert_eq!(parse(&format!("list {d}")), Err(CommandError::NotADomain(d.into())), "{d}");
        }
    }

    #[test]
    fn every_error() {
        assert_eq!(parse(""), Err(CommandError::Empty));
        assert_eq!(parse(" \t\r\n"), Err(CommandError::Empty));
        assert_eq!(parse("lst"), Err(CommandError::UnknownVerb("lst".into())));
        assert_eq!(parse("json"), Err(CommandError::UnknownVerb("json".into())));
        assert_eq!(parse("list-json"), Err(CommandError::UnknownVerb("list-json".into())));
        assert_eq!(parse("reload now"), Err(CommandError::ExtraArgument { verb: "reload", arg: "now".into() }));
        assert_eq!(parse("STATUS json"), Err(CommandError::ExtraArgument { verb: "status", arg: "json".into() }));
        assert_eq!(
            parse("list a.example b.example"),
            Err(CommandError::TwoDomains { first: "a.example".into(), second: "b.example".into() })
        );
        assert_eq!(
            parse("list a.example json b$d"),
            Err(CommandError::TwoDomains { first: "a.example".into(), second: "b$d".into() }),
            "a second domain is refused as such, whatever it is"
        );
        assert_eq!(parse("list json json"), Err(CommandError::JsonTwice));
        assert_eq!(parse("list json a.example JSON"), Err(CommandError::JsonTwice));
        assert_eq!(parse("list a\x01b"), Err(CommandError::BadCharacter { at: 6 }));
        assert_eq!(parse("list\0"), Err(CommandError::BadCharacter { at: 4 }));
        assert_eq!(parse("status\x7f"), Err(CommandError::BadCharacter { at: 6 }));
        assert_eq!(parse("list \x0bacme"), Err(CommandError::BadCharacter { at: 5 }), "vertical tab");
        assert_eq!(parse("list é\u{85}"), Err(CommandError::BadCharacter { at: 7 }), "C1 control, byte offset");
        assert_eq!(parse("lst \x1b[2J"), Err(CommandError::BadCharacter { at: 4 }), "before the verb is looked at");
        assert_eq!(
            parse("list\u{a0}acme"),
            Err(CommandError::UnknownVerb("list\u{a0}acme".into())),
            "NBSP splits nothing"
        );
    }

    const U: &str = "0b7a1c2e-3f4d-4e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn the_operators_commands() {
        let park = |ext: &str, tenant: Option<&str>, json| {
            Ok(Command::Park {
                uuid: U.into(),
                extension: ext.into(),
                tenant: tenant.map(String::from),
                timeout: None,
                json,
            })
        };
        // A call's own recall time: seconds, or 0 for never; anything else is said.
        let timed = |s| {
            Ok(Command::Park { uuid: U.into(), extension: "102".into(), tenant: None, timeout: Some(s), json: false })
        };
        assert_eq!(parse(&format!("park {U} 102 300")), timed(300));
        assert_eq!(parse(&format!("park {U} 102 0")), timed(0));
        for bad in ["4", "86401", "1m", "-5"] {
            let e = parse(&format!("park {U} 102 {bad}")).unwrap_err();
            assert_eq!(e, CommandError::NotATimeout(bad.into()));
            assert!(e.to_string().contains("neither 0 (never recalled) nor"), "{e}");
        }
        assert!(matches!(parse(&format!("park {U} 102 300 x")), Err(CommandError::ExtraArgument { .. })));
        let text =
            Command::Park { uuid: U.into(), extension: "102".into(), tenant: None, timeout: Some(0), json: false }
                .text();
        assert_eq!(parse(&text), timed(0), "{text}");
        assert_eq!(parse(&format!("park {U} 102")), park("102", None, false));
        assert_eq!(
            parse(&format!("PARK {} 102@Acme.Example json", U.to_uppercase())),
            park("102", Some("acme.example"), true)
        );
        assert_eq!(parse(&format!("park json {U} sales")), park("sales", None, true), "a group, json first");
        let retrieve = |target: Target, user: &str, tenant: Option<&str>| {
            Ok(Command::Retrieve { target, user: user.into(), tenant: tenant.map(String::from), json: false })
        };
        assert_eq!(
            parse("retrieve 102@acme.example 104"),
            retrieve(Target::Extension("102".into()), "104", Some("acme.example"))
        );
        assert_eq!(
            parse(&format!("retrieve {U} alice@acme.example")),
            retrieve(Target::Call(U.into()), "alice", Some("acme.example"))
        );
        assert_eq!(
            parse("retrieve 102@acme.example 104@ACME.example"),
            retrieve(Target::Extension("102".into()), "104", Some("acme.example"))
        );
        assert_eq!(parse("retrieve 102 104"), retrieve(Target::Extension("102".into()), "104", None));
        // Found by the fuzzer: the bare word `json` is always the flag, so an extension
        // or user named `json` is written with its domain, on each id so named.
        assert_eq!(
            parse("retrieve JSON@4cA 10mBBam4-a"),
            retrieve(Target::Extension("JSON".into()), "10mBBam4-a", Some("4ca"))
        );
        assert_eq!(
            parse("retrieve JSON@4ca 10mBBam4-a@4ca"),
            retrieve(Target::Extension("JSON".into()), "10mBBam4-a", Some("4ca"))
        );
        assert_eq!(
            parse("retrieve JSON 10mBBam4-a@4ca"),
            Err(CommandError::MissingArgument { verb: "retrieve", what: "the user to ring" })
        );
        assert_eq!(
            parse("retrieve 102 json@acme.example"),
            retrieve(Target::Extension("102".into()), "json", Some("acme.example"))
        );
        // Found by the fuzzer: a uuid with its domain is the call, as it is without.
        assert_eq!(
            parse(&format!("retrieve {}@Acme.example 10me.Example", U.to_uppercase())),
            retrieve(Target::Call(U.into()), "10me.Example", Some("acme.example"))
        );
        assert_eq!(parse(&format!("hangup {U}")), Ok(Command::Hangup { uuid: U.into(), tenant: None, json: false }));
        assert_eq!(
            parse(&format!("hangup {U} acme.example json")),
            Ok(Command::Hangup { uuid: U.into(), tenant: Some("acme.example".into()), json: true })
        );
        assert!(parse(&format!("park {U} 102 json")).unwrap().json());
        assert!(!parse("status").unwrap().json());
    }

    #[test]
    fn the_operators_commands_refuse_what_is_wrong() {
        let e = |s: &str| parse(s).unwrap_err();
        assert_eq!(e("park"), CommandError::MissingArgument { verb: "park", what: "a call's uuid" });
        assert_eq!(e(&format!("park {U}")), CommandError::MissingArgument { verb: "park", what: "an extension" });
        assert_eq!(e("park 102 102"), CommandError::NotAUuid("102".into()));
        assert_eq!(e(&format!("park {}x 102", &U[..35])), CommandError::NotAUuid(format!("{}x", &U[..35])));
        assert_eq!(e(&format!("park {U} *88102")), CommandError::NotAnExtension("*88102".into()));
        assert_eq!(e(&format!("park {U} 102@")), CommandError::NotADomain("".into()));
        assert_eq!(e(&format!("park {U} 102 sales")), CommandError::NotATimeout("sales".into()), "one slot only");
        assert_eq!(
            e(&format!("park {U} 102 300 103")),
            CommandError::ExtraArgument { verb: "park", arg: "103".into() }
        );
        assert_eq!(e(&format!("park {U} 102 json json")), CommandError::JsonTwice);
        assert_eq!(e("retrieve 102"), CommandError::MissingArgument { verb: "retrieve", what: "the user to ring" });
        assert_eq!(
            e("retrieve 102@acme.example 104@globex.example"),
            CommandError::TwoTenants { first: "acme.example".into(), second: "globex.example".into() }
        );
        assert_eq!(e("retrieve 102 10 4"), CommandError::ExtraArgument { verb: "retrieve", arg: "4".into() });
        assert_eq!(e("retrieve 102 <sip:104>"), CommandError::NotAnExtension("<sip:104>".into()));
        assert_eq!(e("hangup 102"), CommandError::NotAUuid("102".into()));
        assert_eq!(e(&format!("hangup {U} a$b")), CommandError::NotADomain("a$b".into()));
        assert_eq!(
            e(&format!("hangup {U} a.example b.example")),
            CommandError::ExtraArgument { verb: "hangup", arg: "b.example".into() }
        );
        assert!(
            e("park").to_string().contains("usage: park <uuid> <ext>[@<domain>] [<seconds>] [json]"),
            "{}",
            e("park")
        );
    }

    #[test]
    fn bytes_that_are_not_utf8() {
        assert_eq!(parse_bytes(b"list"), list(None, false));
        assert_eq!(parse_bytes(b"list \xff"), Err(CommandError::NotUtf8 { at: 5 }));
        assert_eq!(parse_bytes(b"\xc3"), Err(CommandError::NotUtf8 { at: 0 }));
        assert_eq!(parse_bytes(b""), Err(CommandError::Empty));
    }

    #[test]
    fn messages_say_what_was_wrong_and_stay_short() {
        let m = |s: &str| parse(s).unwrap_err().to_string();
        assert_eq!(m(""), format!("no sub-command; usage: {USAGE}"));
        assert_eq!(m("lst"), "unknown sub-command \"lst\"; one of list, reload, status, park, retrieve, hangup");
        assert_eq!(m("reload now"), "reload takes no arguments, \"now\" was given");
        assert_eq!(m("list a b"), "list takes one domain, \"a\" and \"b\" were given");
        assert_eq!(m("list json json"), "json was given twice");
        assert_eq!(m("list a$b"), "\"a$b\" is not a domain (letters, digits, '.', '-', '_')");
        assert_eq!(m(&format!("list {}", "a".repeat(300))), "the domain is 300 bytes long, more than 253");
        assert_eq!(m("list a\x01"), "the command has a control character at byte 6");
        assert_eq!(parse_bytes(b"list \xff").unwrap_err().to_string(), "the command is not UTF-8 (byte 5)");
        // Quoted text is escaped and cut: nothing a terminal would interpret, whatever length.
        assert_eq!(m("list a\"é"), "\"a\\\"\\u{e9}\" is not a domain (letters, digits, '.', '-', '_')");
        let huge = m(&"x".repeat(100_000));
        assert!(huge.len() < 200 && huge.contains(&format!("\"{}...\"", "x".repeat(QUOTE_CHARS))), "{huge}");
        let unicode = m(&"é".repeat(50));
        assert!(unicode.is_ascii(), "{unicode}");
    }

    #[test]
    fn the_longest_messages_fit_in_512_bytes() {
        // The C ABI promises that CP_COMMAND_MESSAGE_SIZE (512) bytes hold any message.
        let wide = "\u{10ffff}".repeat(100); // escaped as 10 bytes each
        let domain = "a".repeat(253);
        for line in [
            wide.clone(),
            format!("status {wide}"),
            format!("list {domain} {wide}"),
            format!("list {wide}"),
            format!("list {}", "a".repeat(100_000)),
        ] {
            let msg = parse(&line).unwrap_err().to_string();
            assert!(msg.len() < 512, "{} bytes: {msg}", msg.len());
        }
    }

    #[test]
    fn what_an_operator_s_command_did_in_words() {
        let call = CallInfo {
            tenant: "acme.example".into(),
            extension: "102".into(),
            group: None,
            uuid: "4cbf1e2a-0000-4000-8000-000000000001".into(),
            caller_number: "104".into(),
            caller_name: String::new(),
            parking_user: "101".into(),
            parked_secs: 3,
            state: "parked",
            attempt: 0,
            next_in_secs: Some(57),
            policy: "parking-user",
        };
        let u = &call.uuid;
        let parked = Done::Parked { call: &call, extension: "102" }.to_string();
        assert_eq!(parked, format!("parked {u} at 102 in acme.example"));
        let ringing = Done::Ringing { call: &call, user: "105" }.to_string();
        assert_eq!(ringing, format!("ringing 105@acme.example for {u} parked at 102"));
        let hung_up = Done::HungUp { call: &call }.to_string();
        assert_eq!(hung_up, format!("hung up {u} parked at 102 in acme.example"));

        let ok = Operation::Hangup.answer(Ok((&call, &hung_up)), false);
        assert_eq!(ok, format!("+OK {hung_up}\n"));
        let refused = Operation::Park.answer(Err(&no_such_call("x")), false);
        assert_eq!(refused, "-ERR bad request: there is no call x\n");
        assert_eq!(Operation::Park.answer(Err(&not_a_park()), false), "-ERR bad request: not a park\n");
        let json = Operation::Retrieve.answer(Ok((&call, &ringing)), true);
        assert!(json.ends_with('\n') && json.contains("\"command\":\"retrieve\""), "{json}");
        assert!(json.contains(&format!("\"done\":\"{ringing}\"")), "{json}");
        let json_refused = Operation::Retrieve.answer(Err(&not_a_park()), true);
        assert!(answered_ok(&ok) && answered_ok(&json));
        assert!(!answered_ok(&refused) && !answered_ok(&json_refused));
    }
}
