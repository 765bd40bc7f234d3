use super::*;

fn errs(xml: &str) -> Vec<String> {
    match from_xml("t.xml", xml) {
        Ok(_) => vec![],
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    }
}

fn one(xml: &str) -> String {
    let e = errs(xml);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    e[0].clone()
}

fn wrap(inner: &str) -> String {
    format!("<configuration name=\"callpark.conf\">\n{inner}\n</configuration>")
}

fn tenant(groups: &str) -> String {
    wrap(&format!("<tenants>\n<tenant domain=\"acme\">\n<groups>\n{groups}\n</groups>\n</tenant>\n</tenants>"))
}

#[test]
fn a_complete_configuration() {
    let xml = wrap(
        r#"<settings>
  <param name="park-code" value="*68"/>
  <param name="retrieve-code" value="*88"/>
  <param name="group-park-code" value="*58"/>
  <param name="min-extension-length" value="3"/>
  <param name="max-extension-length" value="4"/>
  <param name="max-calls-per-extension" value="2"/>
  <param name="recall-time" value="120"/>
  <param name="ring-time" value="25"/>
  <param name="retry-interval" value="15"/>
  <param name="recall-attempts" value="4"/>
  <param name="final-destination" value="operator"/>
  <param name="music" value="local_stream://moh"/>
</settings>
<tenants>
  <tenant domain="Acme.Example">
    <settings><param name="park-code" value="*70"/><param name="recall-time" value="90"/></settings>
    <groups>
      <group name="sales" recall="parking-user-then-ring-group" alert-wait="30" ring-group="6000 XML acme.example" music="silence_stream://-1">
        <member extension="101"/><member extension="102@acme.example"/>
      </group>
      <group name="support" recall="parking-user" alternate-recall-user="200"><member extension="103"/></group>
    </groups>
  </tenant>
</tenants>"#,
    );
    let c = from_xml("t.xml", &xml).unwrap();
    let t = c.tenant("acme.example");
    assert_eq!(t.codes.park, "*70");
    assert_eq!(t.codes.retrieve, "*88");
    assert_eq!((t.extensions.min_len, t.extensions.max_len, t.max_calls_per_extension), (3, 4, 2));
    assert_eq!(t.recall.recall_time, 90);
    assert_eq!(t.recall.ring_time, 25);
    let sales = t.group("sales").unwrap();
    assert_eq!(sales.members, ["101", "102"]);
    assert_eq!(sales.recall.policy, RecallPolicy::ParkingUserThenRingGroup);
    assert_eq!(sales.recall.alert_wait, 30);
    assert_eq!(sales.recall.recall_time, 90, "inherited from the tenant");
    assert_eq!(sales.recall.ring_group.as_ref().unwrap().context, "acme.example");
    assert_eq!(sales.music, "silence_stream://-1");
    assert_eq!(t.group("support").unwrap().music, "local_stream://moh", "inherited from the switch");
    assert_eq!(t.group_of("103").unwrap().recall.alternate_user.as_deref(), Some("200"));
    assert_eq!(t.group_of("102").unwrap().name, "sales");
    // An unconfigured tenant gets the global settings and no groups.
    let other = c.tenant("other.example");
    assert_eq!((other.codes.park.as_str(), other.recall.recall_time, other.groups.len()), ("*68", 120, 0));
}

#[test]
fn defaults() {
    let c = from_xml("t.xml", "<configuration name=\"callpark.conf\"/>").unwrap();
    let t = c.tenant("x");
    assert_eq!(t.codes, crate::codes::FeatureCodes::default());
    assert_eq!((t.recall.recall_time, t.recall.ring_time, t.recall.retry_interval, t.recall.attempts), (60, 20, 10, 3));
    assert_eq!(t.recall.policy, RecallPolicy::ParkingUser);
    assert_eq!(t.max_calls_per_extension, 5);
    assert_eq!(c, Config::default());
}

#[test]
fn errors_carry_the_place() {
    let xml = tenant(
        "<group name=\"sales\"><member extension=\"101\"/><member extension=\"104\"/></group>\n\
         <group name=\"support\"><member extension=\"104\"/></group>",
    );
    assert_eq!(one(&xml), "t.xml:6: tenant \"acme\": group \"support\": member 104 is already in group \"sales\"");
}

#[test]
fn every_configuration_error() {
    let cases: &[(&str, &str)] = &[
        ("<configuration name=\"callpark.conf\">", "not well-formed XML"),
        ("<foo/>", "no <configuration name=\"callpark.conf\"> element"),
        ("<configuration name=\"other.conf\"/>", "expected \"callpark.conf\""),
        (&wrap("<bogus/>"), "unexpected <bogus> in <configuration>"),
        (&wrap("<settings><thing/></settings>"), "unexpected <thing> in <settings>"),
        (&wrap("<settings><param name=\"recall-time\"/></settings>"), "<param> needs a name and a value"),
        (&wrap("<settings><param name=\"recal-time\" value=\"3\"/></settings>"), "unknown parameter \"recal-time\""),
        (&wrap("<settings><param name=\"recall-time\" value=\"2\"/></settings>"), "recall-time is 2, it must be from 5 to 86400 seconds"),
        (&wrap("<settings><param name=\"ring-time\" value=\"soon\"/></settings>"), "ring-time is \"soon\", it must be a whole number"),
        (&wrap("<settings><param name=\"retry-interval\" value=\"0\"/></settings>"), "retry-interval is 0"),
        (&wrap("<settings><param name=\"alert-wait\" value=\"601\"/></settings>"), "alert-wait is 601"),
        (&wrap("<settings><param name=\"recall-attempts\" value=\"0\"/></settings>"), "recall-attempts is 0"),
        (&wrap("<settings><param name=\"max-calls-per-extension\" value=\"101\"/></settings>"), "max-calls-per-extension is 101"),
        (&wrap("<settings><param name=\"min-extension-length\" value=\"0\"/></settings>"), "min-extension-length is 0"),
        (
            &wrap("<settings><param name=\"min-extension-length\" value=\"5\"/><param name=\"max-extension-length\" value=\"4\"/></settings>"),
            "min-extension-length 5 is greater than max-extension-length 4",
        ),
        (&wrap("<settings><param name=\"park-code\" value=\"68\"/></settings>"), "park-code \"68\" must be * or #"),
        (&wrap("<settings><param name=\"park-code\" value=\"*8\"/></settings>"), "feature codes *8 and *88 overlap"),
        (&wrap("<settings><param name=\"recall\" value=\"sometimes\"/></settings>"), "recall \"sometimes\" is not a policy"),
        (&wrap("<settings><param name=\"recall\" value=\"ring-group\"/></settings>"), "recall \"ring-group\" needs a ring-group"),
        (&wrap("<settings><param name=\"ring-group\" value=\"a b c d\"/></settings>"), "is not a destination"),
        (&wrap("<settings><param name=\"final-destination\" value=\"6000;hangup\"/></settings>"), "has characters a dialplan name may not have"),
        (&wrap("<settings><param name=\"music\" value=\"a&#10;b\"/></settings>"), "music has a control character"),
        (&wrap("<settings><param name=\"alternate-recall-user\" value=\"101\"/></settings>"), "alternate-recall-user is set on a group"),
        (&wrap("<tenants><tenant/></tenants>"), "a tenant needs a domain"),
        (&wrap("<tenants><tenant domain=\"a b\"/></tenants>"), "a tenant needs a domain"),
        (&wrap("<tenants><tenant domain=\"acme\" colour=\"red\"/></tenants>"), "unknown attribute \"colour\""),
        (&wrap("<tenants><tenant domain=\"acme\"/><tenant domain=\"ACME\"/></tenants>"), "tenant \"acme\" is configured twice"),
        (&wrap("<tenants><group/></tenants>"), "unexpected <group>, expected <tenant>"),
        (&wrap("<tenants><tenant domain=\"acme\"><users/></tenant></tenants>"), "unexpected <users> in <tenant>"),
        (&tenant("<member extension=\"1\"/>"), "unexpected <member> in <groups>"),
        (&tenant("<group name=\"a\"><user/></group>"), "unexpected <user> in <group>"),
        (&tenant("<group name=\"a\"><member/></group>"), "<member> needs extension"),
        (&tenant("<group name=\"a\"></group>"), "a group needs at least one member"),
        (&tenant("<group name=\"a b\"><member extension=\"101\"/></group>"), "a group name is 1 to 64 letters"),
        (&tenant("<group><member extension=\"101\"/></group>"), "a group name is 1 to 64 letters"),
        (&tenant("<group name=\"a\"><member extension=\"101\"/></group><group name=\"a\"><member extension=\"102\"/></group>"), "group name \"a\" is used twice"),
        (&tenant("<group name=\"a\"><member extension=\"101@other\"/></group>"), "member 101@other is not in tenant \"acme\""),
        (&tenant("<group name=\"a\"><member extension=\"1x1\"/></group>"), "member \"1x1\""),
        (&tenant("<group name=\"a\"><member extension=\"101\"/><member extension=\"101\"/></group>"), "member 101 is already in group \"a\""),
        (&tenant("<group name=\"a\" recall=\"ring-group\"><member extension=\"101\"/></group>"), "recall \"ring-group\" needs a ring-group"),
        (&tenant("<group name=\"a\" recall=\"parking-user-then-ring-group\"><member extension=\"101\"/></group>"), "needs a ring-group"),
        (&tenant("<group name=\"a\" park-code=\"*70\"><member extension=\"101\"/></group>"), "park-code is a setting of the tenant"),
        (&tenant("<group name=\"a\" alternate-recall-user=\"x\"><member extension=\"101\"/></group>"), "alternate-recall-user \"x\" is not an extension"),
        (&tenant("<group name=\"a\" alternate-recall-user=\"1\"><member extension=\"101\"/></group>"), "alternate-recall-user: extension \"1\" is shorter"),
        (&tenant("<group name=\"a\" ring-time=\"1\"><member extension=\"101\"/></group>"), "ring-time is 1"),
    ];
    for (xml, want) in cases {
        let got = errs(xml);
        assert!(!got.is_empty(), "accepted, expected \"{want}\":\n{xml}");
        assert!(got.iter().any(|e| e.contains(want)), "expected \"{want}\", got {got:#?}\n{xml}");
        assert!(got.iter().all(|e| e.starts_with("t.xml")), "{got:?}");
    }
}

#[test]
fn every_error_is_reported_at_once() {
    let xml = tenant(
        "<group name=\"a\" recall=\"ring-group\" ring-time=\"x\"><member extension=\"101\"/><member extension=\"101\"/></group>",
    );
    assert_eq!(errs(&xml).len(), 3, "{:#?}", errs(&xml));
}

#[test]
fn an_inherited_error_is_reported_once() {
    let xml = wrap(
        "<settings><param name=\"recall\" value=\"ring-group\"/></settings>\n\
         <tenants><tenant domain=\"a\"/><tenant domain=\"b\"/></tenants>",
    );
    assert_eq!(errs(&xml).len(), 1, "{:#?}", errs(&xml));
}

#[test]
fn destinations() {
    let d = Destination::parse(" 6000  XML  acme ").unwrap();
    assert_eq!((d.extension.as_str(), d.dialplan.as_str(), d.context.as_str()), ("6000", "XML", "acme"));
    assert_eq!(d.to_string(), "6000 XML acme");
    assert_eq!(Destination::parse("6000").unwrap().to_string(), "6000");
    assert!(Destination::parse("").is_err());
}

#[test]
fn preprocessor_lines_are_skipped() {
    let xml = wrap("<X-PRE-PROCESS cmd=\"set\" data=\"a=b\"/><settings/>");
    assert!(errs(&xml).is_empty());
}

#[test]
fn whole_document_form() {
    let xml = "<document type=\"freeswitch/xml\"><section name=\"configuration\">\
        <configuration name=\"callpark.conf\"><settings><param name=\"recall-time\" value=\"30\"/></settings></configuration>\
        </section></document>";
    assert_eq!(from_xml("t", xml).unwrap().tenant("x").recall.recall_time, 30);
}

#[test]
fn error_messages_hold_no_nul() {
    // Found by the ffi fuzz target: the XML parser quotes a NUL as is.
    let e = from_xml("x", "<a\0").unwrap_err().to_string();
    assert!(!e.contains('\0') && e.contains("\\u{0}"), "{e:?}");
}

#[test]
fn recalls_that_can_be_told_apart() {
    let xml = tenant(
        r#"<group name="sales" recall-alert-info="&lt;http://127.0.0.1/Bellcore-dr2&gt;" recall-name-prefix="Parked">
  <member extension="101"/></group>
<group name="support"><member extension="103"/></group>"#,
    );
    let c = from_xml("t.xml", &xml).unwrap();
    let t = c.tenant("acme");
    let sales = &t.group("sales").unwrap().recall;
    assert_eq!((sales.alert_info.as_str(), sales.name_prefix.as_str()), ("<http://127.0.0.1/Bellcore-dr2>", "Parked"));
    let support = &t.group("support").unwrap().recall;
    assert_eq!((support.alert_info.as_str(), support.name_prefix.as_str()), ("", "Recall"), "the defaults");
    let bad = tenant(r#"<group name="sales" recall-alert-info="a,b"><member extension="101"/></group>"#);
    assert!(one(&bad).contains("recall-alert-info \"a,b\" may hold"), "{}", one(&bad));
    let bad = tenant(r#"<group name="sales" recall-name-prefix="x{y}"><member extension="101"/></group>"#);
    assert!(one(&bad).contains("recall-name-prefix \"x{y}\" may hold"), "{}", one(&bad));
}

#[test]
fn a_group_name_of_digits_would_be_an_extension() {
    let xml = tenant(r#"<group name="200"><member extension="101"/></group>"#);
    assert!(one(&xml).contains("group name \"200\" is all digits, like an extension"), "{}", one(&xml));
}

#[test]
fn an_exit_key_and_where_it_leads() {
    let xml = wrap(
        r##"<settings><param name="exit-key" value="#"/><param name="exit-destination" value="operator XML default"/></settings>
<tenants><tenant domain="acme"><groups>
<group name="sales"><member extension="101"/></group>
<group name="support" exit-key="none"><member extension="103"/></group>
<group name="desk" exit-key="0"><member extension="105"/></group>
</groups></tenant></tenants>"##,
    );
    let c = from_xml("t.xml", &xml).unwrap();
    let t = c.tenant("acme");
    let plan = |g: &str| t.group(g).unwrap().recall.clone();
    assert_eq!(plan("sales").exit_key, Some('#'), "inherited");
    assert_eq!(plan("sales").exit_destination.as_ref().unwrap().to_string(), "operator XML default");
    assert_eq!(plan("support").exit_key, None, "switched off");
    assert_eq!(plan("desk").exit_key, Some('0'));
    assert_eq!(c.tenant("other").recall.exit_key, Some('#'));
    assert_eq!(from_xml("t.xml", &wrap("")).unwrap().tenant("x").recall.exit_key, None, "off by default");
    let bad = wrap(r##"<settings><param name="exit-key" value="#"/></settings>"##);
    assert!(one(&bad).contains("exit-key needs an exit-destination"), "{}", one(&bad));
    let bad = wrap(r#"<settings><param name="exit-key" value="12"/></settings>"#);
    assert!(one(&bad).contains("exit-key \"12\" is one of 0-9, *, # or none"), "{}", one(&bad));
}
