//! Feature codes: what a user dialed, turned into an [`Intent`].
//!
//! The codes are configurable per tenant (defaults `*68`, `*88`, `*58`). A BLF park key
//! dials `park+<ext>` or `park+<group>` (its [`Intent::Key`]): a call transferred there
//! (the key pressed during a call) parks, a phone that dials it picks up; the engine
//! tells them apart. `park+*88<ext>` (phones that prepend the code) always picks up.
//! Extensions are digits only, within configured length limits; a group key names a
//! group (letters, digits, `-_.`): nothing else ever reaches a dial string built from a
//! parsed code.

use std::fmt;

/// The prefix a BLF key press dials (`park+102`), and the presence user of a slot.
pub const BLF_PREFIX: &str = crate::names::BLF_PREFIX;

/// The codes of one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureCodes {
    pub park: String,
    pub retrieve: String,
    pub group_park: String,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        FeatureCodes { park: "*68".into(), retrieve: "*88".into(), group_park: "*58".into() }
    }
}

/// How long an extension may be, in digits (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionRules {
    pub min_len: usize,
    pub max_len: usize,
}

impl Default for ExtensionRules {
    fn default() -> Self {
        ExtensionRules { min_len: 2, max_len: 10 }
    }
}

/// What the user dialed, as the code reads: what the engine then does (which group or
/// lot a key names, whether a key parks or picks up) is its own decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    /// `*68`: park at the parking user's own extension.
    ParkOwn,
    /// `*68<ext>`: park at `<ext>`.
    ParkAt(String),
    /// `*58`: park against the first free member of the parking user's group.
    GroupPark,
    /// `*88`: retrieve from the own extension, else the own group.
    Retrieve,
    /// `*88<ext>`, `park+*88<ext>`: retrieve from `<ext>`.
    RetrieveFrom(String),
    /// `*88<ext>*<n>`, `park+*88<ext>*<n>`: retrieve the `n`-th call parked at `<ext>`
    /// in park order (1 is the oldest, what `*88<ext>` takes), from 1 to 99.
    RetrieveNth { extension: String, position: u32 },
    /// `park+<ext>` (`group: false`) or `park+<group>`: a BLF park key. Parks there (at
    /// `<ext>`, or at the first free member of `<group>`, or in a free slot of the lot of
    /// that name) when the call was transferred to it, retrieves from there when a phone
    /// dialed it: the engine decides which, from the tenant's groups and lots.
    Key { target: String, group: bool },
}

/// A group name as a key may carry it.
fn is_key_group(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Why a dialed string is not a feature code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeError {
    Empty,
    /// A character that is not printable ASCII (control characters, non-ASCII).
    BadCharacter {
        position: usize,
    },
    /// Not one of the tenant's codes.
    Unknown(String),
    /// The part after the code is not all digits (letters, `*68*68`, `,hangup`, `@domain`).
    NotDigits {
        code: String,
        rest: String,
    },
    TooShort {
        extension: String,
        min: usize,
    },
    TooLong {
        extension: String,
        max: usize,
    },
    /// `*58` takes no extension.
    UnexpectedExtension {
        code: String,
        rest: String,
    },
    /// What follows `*88<ext>*` is not a place in the park order (1 to 99).
    NotAPosition {
        extension: String,
        rest: String,
    },
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeError::Empty => write!(f, "nothing was dialed"),
            CodeError::BadCharacter { position } => {
                write!(f, "dialed string has a control or non-ASCII character at byte {position}")
            }
            CodeError::Unknown(s) => write!(f, "\"{s}\" is not a call park code"),
            CodeError::NotDigits { code, rest } => {
                write!(f, "\"{rest}\" after {code} is not an extension (digits only)")
            }
            CodeError::TooShort { extension, min } => {
                write!(f, "extension \"{extension}\" is shorter than {min} digits")
            }
            CodeError::TooLong { extension, max } => {
                write!(f, "extension \"{extension}\" is longer than {max} digits")
            }
            CodeError::UnexpectedExtension { code, rest } => {
                write!(f, "{code} takes no extension, \"{rest}\" was dialed after it")
            }
            CodeError::NotAPosition { extension, rest } => {
                write!(f, "\"{rest}\" after {extension}* is not a call's place (1 the oldest, up to 99)")
            }
        }
    }
}

impl std::error::Error for CodeError {}

/// Checks that `ext` is an extension under `rules`.
pub fn check_extension(ext: &str, code: &str, rules: ExtensionRules) -> Result<(), CodeError> {
    if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeError::NotDigits { code: code.into(), rest: ext.into() });
    }
    if ext.len() < rules.min_len {
        return Err(CodeError::TooShort { extension: ext.into(), min: rules.min_len });
    }
    if ext.len() > rules.max_len {
        return Err(CodeError::TooLong { extension: ext.into(), max: rules.max_len });
    }
    Ok(())
}

/// True when `s` may be a feature code: `*` or `#` followed by 1 to 8 digits, `*` or `#`.
pub fn is_valid_code(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=9).contains(&b.len())
        && (b[0] == b'*' || b[0] == b'#')
        && b[1..].iter().all(|c| c.is_ascii_digit() || *c == b'*' || *c == b'#')
}

/// `<ext>` or `<ext>*<n>` after a retrieve code: which call there.
fn retrieve_from(rest: &str, code: &str, rules: ExtensionRules) -> Result<Intent, CodeError> {
    let Some((ext, n)) = rest.split_once('*') else {
        check_extension(rest, code, rules)?;
        return Ok(Intent::RetrieveFrom(rest.into()));
    };
    check_extension(ext, code, rules)?;
    match n.parse::<u32>() {
        Ok(p) if (1..=99).contains(&p) && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0') => {
            Ok(Intent::RetrieveNth { extension: ext.into(), position: p })
        }
        _ => Err(CodeError::NotAPosition { extension: ext.into(), rest: n.into() }),
    }
}

/// Parses what was dialed.
pub fn parse(dialed: &str, codes: &FeatureCodes, rules: ExtensionRules) -> Result<Intent, CodeError> {
    if dialed.is_empty() {
        return Err(CodeError::Empty);
    }
    if let Some(position) = dialed.bytes().position(|b| !(0x21..0x7f).contains(&b)) {
        return Err(CodeError::BadCharacter { position });
    }
    if let Some(rest) = dialed.strip_prefix(BLF_PREFIX) {
        if let Some(ext) = rest.strip_prefix(codes.retrieve.as_str()) {
            return retrieve_from(ext, BLF_PREFIX, rules);
        }
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            check_extension(rest, BLF_PREFIX, rules)?;
            return Ok(Intent::Key { target: rest.into(), group: false });
        }
        if is_key_group(rest) && !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Intent::Key { target: rest.into(), group: true });
        }
        return Err(CodeError::NotDigits { code: BLF_PREFIX.into(), rest: rest.into() });
    }
    // Longest code first, so that a code that extends another one wins.
    #[derive(Clone, Copy)]
    enum Which {
        Park,
        Retrieve,
        GroupPark,
    }
    let mut table =
        [(&codes.park, Which::Park), (&codes.retrieve, Which::Retrieve), (&codes.group_park, Which::GroupPark)];
    table.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
    for (code, which) in table {
        let Some(rest) = dialed.strip_prefix(code.as_str()) else { continue };
        return match (which, rest.is_empty()) {
            (Which::Park, true) => Ok(Intent::ParkOwn),
            (Which::Retrieve, true) => Ok(Intent::Retrieve),
            (Which::GroupPark, true) => Ok(Intent::GroupPark),
            (Which::GroupPark, false) => Err(CodeError::UnexpectedExtension { code: code.clone(), rest: rest.into() }),
            (Which::Retrieve, false) => retrieve_from(rest, code, rules),
            (Which::Park, false) => {
                check_extension(rest, code, rules)?;
                Ok(Intent::ParkAt(rest.into()))
            }
        };
    }
    Err(CodeError::Unknown(dialed.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Intent, CodeError> {
        parse(s, &FeatureCodes::default(), ExtensionRules::default())
    }

    #[test]
    fn every_code_form() {
        assert_eq!(p("*68"), Ok(Intent::ParkOwn));
        assert_eq!(p("*68102"), Ok(Intent::ParkAt("102".into())));
        assert_eq!(p("*88"), Ok(Intent::Retrieve));
        assert_eq!(p("*88102"), Ok(Intent::RetrieveFrom("102".into())));
        assert_eq!(p("*58"), Ok(Intent::GroupPark));
        assert_eq!(p("park+102"), Ok(Intent::Key { target: "102".into(), group: false }));
        assert_eq!(p("park+sales"), Ok(Intent::Key { target: "sales".into(), group: true }));
        assert_eq!(p("park+front-desk_2"), Ok(Intent::Key { target: "front-desk_2".into(), group: true }));
        assert_eq!(p("park+*88102"), Ok(Intent::RetrieveFrom("102".into())));
        let nth = |p| Ok(Intent::RetrieveNth { extension: "102".into(), position: p });
        assert_eq!(p("*88102*2"), nth(2));
        assert_eq!(p("park+*88102*12"), nth(12));
        for bad in ["*88102*", "*88102*0", "*88102*100", "*88102*02", "*88102*x", "*88102*2*3"] {
            assert!(matches!(p(bad), Err(CodeError::NotAPosition { .. })), "{bad}: {:?}", p(bad));
        }
        assert!(p("*88102*2").is_ok() && p("*68102*2").is_err(), "a park takes no place");
        assert_eq!(
            p("*88102*x").unwrap_err().to_string(),
            "\"x\" after 102* is not a call's place (1 the oldest, up to 99)"
        );
    }

    #[test]
    fn every_parse_error() {
        assert_eq!(p(""), Err(CodeError::Empty));
        assert_eq!(p("*68\n102"), Err(CodeError::BadCharacter { position: 3 }));
        assert_eq!(p("*88 102"), Err(CodeError::BadCharacter { position: 3 }));
        assert_eq!(p("*68é"), Err(CodeError::BadCharacter { position: 3 }));
        assert_eq!(p("1234"), Err(CodeError::Unknown("1234".into())));
        assert_eq!(p("*99"), Err(CodeError::Unknown("*99".into())));
        assert_eq!(p("*68abc"), Err(CodeError::NotDigits { code: "*68".into(), rest: "abc".into() }));
        assert_eq!(p("*68*68"), Err(CodeError::NotDigits { code: "*68".into(), rest: "*68".into() }));
        assert_eq!(p("*88102,hangup"), Err(CodeError::NotDigits { code: "*88".into(), rest: "102,hangup".into() }));
        assert_eq!(p("*88102'"), Err(CodeError::NotDigits { code: "*88".into(), rest: "102'".into() }));
        assert_eq!(
            p("park+102@other.domain"),
            Err(CodeError::NotDigits { code: "park+".into(), rest: "102@other.domain".into() })
        );
        assert_eq!(p("park+"), Err(CodeError::NotDigits { code: "park+".into(), rest: "".into() }));
        assert_eq!(p("park+a,b"), Err(CodeError::NotDigits { code: "park+".into(), rest: "a,b".into() }));
        assert_eq!(p("park+1"), Err(CodeError::TooShort { extension: "1".into(), min: 2 }));
        assert_eq!(p("*881"), Err(CodeError::TooShort { extension: "1".into(), min: 2 }));
        assert_eq!(p("*6812345678901"), Err(CodeError::TooLong { extension: "12345678901".into(), max: 10 }));
        assert_eq!(p("*58101"), Err(CodeError::UnexpectedExtension { code: "*58".into(), rest: "101".into() }));
        for e in [p(""), p("*68abc"), p("*99"), p("*881"), p("*58101")] {
            assert!(!e.unwrap_err().to_string().is_empty());
        }
    }

    #[test]
    fn custom_codes_longest_first() {
        let codes = FeatureCodes { park: "#7".into(), retrieve: "#77".into(), group_park: "#5".into() };
        let r = ExtensionRules { min_len: 3, max_len: 4 };
        assert_eq!(parse("#7", &codes, r), Ok(Intent::ParkOwn));
        assert_eq!(parse("#77", &codes, r), Ok(Intent::Retrieve));
        assert_eq!(parse("#77101", &codes, r), Ok(Intent::RetrieveFrom("101".into())));
        assert_eq!(parse("#7101", &codes, r), Ok(Intent::ParkAt("101".into())));
        assert_eq!(parse("park+#77101", &codes, r), Ok(Intent::RetrieveFrom("101".into())));
        assert_eq!(parse("*68", &codes, r), Err(CodeError::Unknown("*68".into())));
    }

    #[test]
    fn code_syntax() {
        assert!(is_valid_code("*68") && is_valid_code("#7") && is_valid_code("*6*8"));
        assert!(!is_valid_code("*") && !is_valid_code("68") && !is_valid_code("*6a") && !is_valid_code("*1234567890"));
    }
}
