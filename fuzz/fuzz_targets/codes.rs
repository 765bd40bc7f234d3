//! Feature-code parsing: arbitrary dialed strings against the default codes, a few
//! fixed custom code sets, and (when the input starts with a header line) codes taken
//! from the input itself.
//!
//! Input: the whole input is a dialed string. If it contains a newline, the first line
//! may also be a header `<park> <retrieve> <group-park> [<min> <max>]` and the rest is
//! dialed with those codes and rules (codes are not validated: `parse` must not panic
//! on any).
//!
//! Invariants checked on every `Ok`: the extension of `ParkAt`/`RetrieveFrom`/`RetrieveNth` is ASCII
//! digits only within the length limits, and every intent round-trips to exactly the
//! dialed string. On every `Err`: the message is not empty, and `BadCharacter` points
//! at a byte that is indeed not printable ASCII.
#![no_main]

use callpark::codes::{self, CodeError, ExtensionRules, FeatureCodes, Intent, BLF_PREFIX};
use libfuzzer_sys::fuzz_target;

fn check(dialed: &str, c: &FeatureCodes, rules: ExtensionRules) {
    let r = codes::parse(dialed, c, rules);
    let ext_ok = |e: &str| {
        assert!(!e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()), "extension {e:?} of {dialed:?} is not digits");
        assert!(
            (rules.min_len..=rules.max_len).contains(&e.len()),
            "extension {e:?} of {dialed:?} is outside {}..={}",
            rules.min_len,
            rules.max_len
        );
    };
    match &r {
        Ok(Intent::ParkOwn) => assert_eq!(dialed, c.park),
        Ok(Intent::Retrieve) => assert_eq!(dialed, c.retrieve),
        Ok(Intent::GroupPark) => assert_eq!(dialed, c.group_park),
        Ok(Intent::ParkAt(e)) => {
            ext_ok(e);
            assert_eq!(dialed, format!("{}{e}", c.park), "ParkAt does not round-trip");
        }
        Ok(Intent::RetrieveFrom(e)) => {
            ext_ok(e);
            let forms = [format!("{}{e}", c.retrieve), format!("{BLF_PREFIX}{}{e}", c.retrieve)];
            assert!(forms.iter().any(|f| f == dialed), "RetrieveFrom({e:?}) does not round-trip to {dialed:?}");
        }
        Ok(Intent::RetrieveNth { extension, position }) => {
            ext_ok(extension);
            assert!((1..=99).contains(position), "place {position} of {dialed:?}");
            let forms = [
                format!("{}{extension}*{position}", c.retrieve),
                format!("{BLF_PREFIX}{}{extension}*{position}", c.retrieve),
            ];
            assert!(forms.iter().any(|f| f == dialed), "RetrieveNth does not round-trip to {dialed:?}");
        }
        Ok(Intent::Key { target, group }) => {
            assert_eq!(dialed, format!("{BLF_PREFIX}{target}"), "a key does not round-trip");
            if *group {
                // A group's or a user's name: nothing a dial string could be split on.
                assert!(!target.bytes().all(|b| b.is_ascii_digit()), "a digits-only group key {target:?}");
                assert!(target.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "key {target:?}");
            } else {
                ext_ok(target);
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if let CodeError::BadCharacter { position } = e {
                let b = dialed.as_bytes()[*position];
                assert!(!(0x21..0x7f).contains(&b), "BadCharacter at {position} is {b:#x}");
            }
            match e {
                CodeError::TooShort { extension, min } => {
                    assert!(extension.bytes().all(|b| b.is_ascii_digit()));
                    assert!(*min == rules.min_len && extension.len() < *min);
                }
                CodeError::TooLong { extension, max } => {
                    assert!(extension.bytes().all(|b| b.is_ascii_digit()));
                    assert!(*max == rules.max_len && extension.len() > *max);
                }
                _ => {}
            }
        }
    }
    // The byte-oriented helpers must not panic either.
    let _ = codes::is_valid_code(dialed);
    let _ = codes::check_extension(dialed, "fuzz", rules);
}

fn custom_sets() -> [(FeatureCodes, ExtensionRules); 4] {
    let fc = |p: &str, r: &str, g: &str| FeatureCodes { park: p.into(), retrieve: r.into(), group_park: g.into() };
    [
        (fc("#7", "#77", "#5"), ExtensionRules { min_len: 3, max_len: 4 }),
        (fc("*6*8", "#88", "*5#"), ExtensionRules { min_len: 1, max_len: 20 }),
        (fc("*12345678", "*9", "#0"), ExtensionRules { min_len: 20, max_len: 20 }),
        // Overlapping codes (a configuration refuses them; parse must still behave).
        (fc("*6", "*68", "*"), ExtensionRules { min_len: 2, max_len: 10 }),
    ]
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let dialed: &str = &text;
    check(dialed, &FeatureCodes::default(), ExtensionRules::default());
    for (c, r) in custom_sets() {
        check(dialed, &c, r);
    }
    if let Some((header, rest)) = dialed.split_once('\n') {
        let f: Vec<&str> = header.split(' ').collect();
        if f.len() >= 3 {
            let c = FeatureCodes { park: f[0].into(), retrieve: f[1].into(), group_park: f[2].into() };
            let num = |i: usize, d: usize| f.get(i).and_then(|s| s.parse::<usize>().ok()).unwrap_or(d);
            let rules = ExtensionRules { min_len: num(3, 2), max_len: num(4, 10) };
            check(rest, &c, rules);
        }
    }
});
