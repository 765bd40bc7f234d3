//! The visual park notice of phones with a BroadWorks-style "call park notification"
//! (Yealink, Polycom, Obihai and others): the body of an `x-broadworks-callpark-info`
//! NOTIFY, naming the call parked for the phone's extension, or nothing once it is gone.
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <x-broadworks-callpark-info xmlns="http://schema.broadsoft.com/callpark">
//! <callpark><parked><identity display="Jane Doe">sip:5551234@acme.example</identity></parked></callpark>
//! </x-broadworks-callpark-info>
//! ```
//! and `<callpark/>` when nothing is parked. The identity's URI is the caller's number at
//! the tenant's domain (numbers and names are cleaned before they are stored); text is
//! XML-escaped.

/// The NOTIFY's `Content-Type`.
pub const CONTENT_TYPE: &str = "application/x-broadworks-callpark-info+xml";
/// The NOTIFY's `Event`: the package phones receive the park body in (their shared
/// call appearance subscription's).
pub const EVENT: &str = "call-info";

/// `s` with `& < > " '` escaped for XML text and attributes.
pub fn xml_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The body for a phone of `tenant`: the parked caller (number, name), or none.
pub fn body(tenant: &str, parked: Option<(&str, &str)>) -> String {
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                <x-broadworks-callpark-info xmlns=\"http://schema.broadsoft.com/callpark\">";
    let tail = "</x-broadworks-callpark-info>\n";
    match parked {
        None => format!("{head}<callpark/>{tail}"),
        Some((number, name)) => {
            let user = if number.is_empty() { "anonymous" } else { number };
            let display = if name.is_empty() { number } else { name };
            format!(
                "{head}<callpark><parked><identity display=\"{}\">sip:{}@{}</identity></parked></callpark>{tail}",
                xml_escaped(display),
                xml_escaped(user),
                xml_escaped(tenant)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_call_and_none() {
        let b = body("acme.example", Some(("5551234", "Jane Doe")));
        assert!(b.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<x-broadworks-callpark-info xmlns=\"http://schema.broadsoft.com/callpark\">"));
        assert!(b.contains("<callpark><parked><identity display=\"Jane Doe\">sip:5551234@acme.example</identity></parked></callpark>"), "{b}");
        assert!(body("acme.example", None).contains("<callpark/></x-broadworks-callpark-info>"));
        let b = body("acme.example", Some(("", "")));
        assert!(b.contains("display=\"\">sip:anonymous@acme.example<"), "{b}");
        let b = body("acme.example", Some(("5551234", "")));
        assert!(b.contains("display=\"5551234\""), "the number when there is no name: {b}");
    }

    #[test]
    fn names_are_escaped() {
        let b = body("acme.example", Some(("5551234", "AT&T \"Sales\" <x>")));
        assert!(b.contains("display=\"AT&amp;T &quot;Sales&quot; &lt;x&gt;\""), "{b}");
    }
}
