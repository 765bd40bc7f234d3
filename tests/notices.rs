//! Which notices the phones of a park get (`notices`: `message`, `callpark-info`, `both`,
//! `none`; issue 11, item 4): a visual park notice for every extension whose `*88` the
//! change touches, showing what `*88` would pick up there, or nothing.

mod common;

use callpark::host::{Notice, ParkInfo, Target};
use common::*;

fn conf(notices: &str) -> String {
    group_conf(r#"recall="parking-user""#).replace(
        "<param name=\"recall-time\" value=\"60\"/>",
        &format!("<param name=\"recall-time\" value=\"60\"/><param name=\"notices\" value=\"{notices}\"/>"),
    )
}

fn park_infos(rig: &Rig) -> Vec<ParkInfo> {
    rig.host
        .take()
        .into_iter()
        .filter_map(|d| match d {
            Did::Notice(Notice::ParkInfo(p)) => Some(p),
            _ => None,
        })
        .collect()
}

fn to(infos: &[ParkInfo]) -> Vec<(&str, bool)> {
    infos.iter().map(|p| (p.extension.as_str(), p.body.contains("<parked>"))).collect()
}

#[test]
fn a_park_and_its_end_at_an_extension_of_no_group() {
    let rig = Rig::new(&conf("callpark-info"));
    rig.dial(ACME, "c1", "*68105", None, Some("101")).unwrap();
    let infos = park_infos(&rig);
    assert_eq!(to(&infos), [("105", true)]);
    assert_eq!(infos[0].tenant, ACME);
    assert!(infos[0].body.contains("sip:003386002678@acme.example</identity>"), "{}", infos[0].body);
    assert!(rig.host.messages().is_empty(), "no text message with callpark-info alone");
    rig.dial(ACME, "r1", "*88105", Some("102"), None).unwrap();
    assert_eq!(to(&park_infos(&rig)), [("105", false)], "empty once it left");
}

#[test]
fn a_group_park_tells_the_members_whose_slots_are_empty() {
    let rig = Rig::new(&conf("both"));
    rig.dial(ACME, "own", "*68103", None, Some("103")).unwrap();
    rig.host.take();
    rig.dial(ACME, "c1", "*58", None, Some("102")).unwrap();
    // Parked at 101 (the first free member); 102's slot is empty and shows the group's
    // call; 103 shows its own call, unchanged, and is not told again.
    assert_eq!(to(&park_infos(&rig)), [("101", true), ("102", true)]);
    rig.engine.hangup("c1").unwrap();
    assert_eq!(to(&park_infos(&rig)), [("101", true), ("102", true)], "both now show 103's call, the group's oldest");
    rig.engine.hangup("own").unwrap();
    assert_eq!(to(&park_infos(&rig)), [("103", false), ("101", false), ("102", false)]);
}

#[test]
fn message_alone_and_none() {
    let rig = Rig::new(&conf("message"));
    rig.dial(ACME, "c1", "*68105", None, Some("101")).unwrap();
    assert!(park_infos(&rig).is_empty(), "the default: no visual notice");
    let rig = Rig::new(&conf("none"));
    rig.dial(ACME, "c1", "*68105", None, Some("101")).unwrap();
    let all = rig.host.all();
    assert!(park_infos(&rig).is_empty());
    let texts: Vec<_> = all
        .iter()
        .filter_map(|d| match d {
            Did::Notice(Notice::Message(m)) => Some(m.extension.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["101"], "only the parker is told (tell-parker), not 105: {texts:?}");
}

#[test]
fn a_bad_value_is_refused() {
    let e = callpark::config::from_xml("t.xml", &conf("visual")).unwrap_err().to_string();
    assert!(e.contains("notices \"visual\" is message, callpark-info, both or none"), "{e}");
}

/// `lamps` `none`: a tenant whose phones have no park keys has no lamp published, on a
/// change or a probe; another tenant's lamps are as before. `event-channel-data`: whether
/// `callpark::info` events ask the host for the channel's data (default yes).
#[test]
fn lamps_none_publishes_no_lamp_and_events_carry_channel_data_as_the_tenant_says() {
    let lamps = |rig: &Rig| {
        rig.host
            .all()
            .into_iter()
            .filter_map(|d| match d {
                Did::Notice(Notice::Presence(p)) => Some((p.tenant, p.subscriber.is_some())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let quiet = group_conf(r#"recall="parking-user""#).replace(
        r#"<tenant domain="acme.example">"#,
        r#"<tenant domain="acme.example"><settings><param name="lamps" value="none"/><param name="event-channel-data" value="false"/></settings>"#,
    );
    let rig = Rig::new(&quiet);
    rig.dial(ACME, "c1", "*68105", None, Some("101")).unwrap();
    rig.engine.probe(ACME, "park+105", Some("102")).unwrap();
    rig.dial(ACME, "r1", "*88105", Some("102"), None).unwrap();
    rig.dial(GLOBEX, "c2", "*68102", None, Some("101")).unwrap();
    rig.engine.probe(GLOBEX, "park+102", Some("103")).unwrap();
    assert_eq!(
        lamps(&rig),
        [(GLOBEX.to_string(), false), (GLOBEX.to_string(), true)],
        "acme's slot 105 lit nothing, globex's did"
    );
    let data: Vec<_> = rig.host.events().iter().map(|e| (e.tenant.clone(), e.action.name(), e.channel_data)).collect();
    assert_eq!(
        data,
        [
            (ACME.to_string(), "parked", false),
            (ACME.to_string(), "retrieved", false),
            (GLOBEX.to_string(), "parked", true)
        ]
    );
    for (v, why) in [
        ("lamps", "lamps \"some\" is all or none"),
        ("event-channel-data", "event-channel-data \"some\" is true or false"),
    ] {
        let bad = quiet.replace(&format!(r#"name="{v}" value="#), &format!(r#"name="{v}" value="some" x="#));
        let e = callpark::config::from_xml("t.xml", &bad).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
}

/// A reload that switches a tenant's lamps off turns its lit lamps off once (no phone
/// keeps one lit that nothing would turn off), then publishes none.
#[test]
fn lamps_switched_off_by_a_reload_go_dark_once() {
    let basic = group_conf(r#"recall="parking-user""#);
    let rig = Rig::new(&basic);
    rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    let slot = Target::Extension("102".into());
    let group = Target::Group("sales".into());
    assert_eq!(rig.host.lamp(ACME, &slot).map(|p| p.state.count), Some(1));
    let off = basic.replace(
        r#"<tenant domain="acme.example">"#,
        r#"<tenant domain="acme.example"><settings><param name="lamps" value="none"/></settings>"#,
    );
    rig.host.take();
    rig.engine.reload(callpark::config::from_xml("t.xml", &off).unwrap());
    assert_eq!(rig.host.lamp(ACME, &slot).map(|p| p.state.count), Some(0), "the slot's lamp goes dark");
    assert_eq!(rig.host.lamp(ACME, &group).map(|p| p.state.count), Some(0), "and the group's");
    rig.host.take();
    rig.dial(ACME, "r1", "*88102", Some("103"), None).unwrap();
    rig.dial(ACME, "c2", "*68103", None, Some("101")).unwrap();
    assert_eq!(rig.host.lamp(ACME, &Target::Extension("103".into())), None, "nothing published after");
    // Reloading the same configuration publishes nothing either.
    rig.engine.reload(callpark::config::from_xml("t.xml", &off).unwrap());
    assert_eq!(rig.host.lamp(ACME, &Target::Extension("103".into())), None);
}

/// A host that, on the first lamp it is handed once armed, reloads the engine: a
/// `callpark reload` that lands while a delivery is under way (here on the delivering
/// thread itself, which makes the interleaving certain).
#[derive(Default)]
struct ReloadingHost {
    fake: FakeHost,
    armed: parking_lot::Mutex<Option<(std::sync::Weak<callpark::engine::Engine>, callpark::config::Config)>>,
}

impl callpark::host::Host for ReloadingHost {
    fn bridge(&self, uuid: &str, parked: &str, j: callpark::host::Joining) -> Result<(), callpark::host::BridgeError> {
        self.fake.bridge(uuid, parked, j)
    }
    fn ring(&self, ring: &callpark::host::Ring) -> Result<(), callpark::host::HostError> {
        self.fake.ring(ring)
    }
    fn cancel_ring(&self, parked: &str) {
        self.fake.cancel_ring(parked)
    }
    fn transfer(&self, uuid: &str, to: &callpark::config::Destination) -> Result<(), callpark::host::HostError> {
        self.fake.transfer(uuid, to)
    }
    fn notify(&self, notice: &Notice) {
        self.fake.notify(notice);
        if matches!(notice, Notice::Presence(_)) {
            let armed = self.armed.lock().take();
            if let Some((engine, config)) = armed {
                engine.upgrade().unwrap().reload(config);
            }
        }
    }
    fn user_exists(&self, tenant: &str, extension: &str) -> bool {
        self.fake.user_exists(tenant, extension)
    }
    fn log(&self, level: callpark::host::LogLevel, line: &str) {
        self.fake.log(level, line)
    }
}

#[test]
fn lamps_switched_off_by_a_reload_during_a_delivery_still_go_dark() {
    use std::sync::Arc;
    let basic = group_conf(r#"recall="parking-user""#);
    let host = Arc::new(ReloadingHost::default());
    host.fake.add_users(ACME, &["101", "102", "103", "104", "105"]);
    let config = callpark::config::from_xml("t.xml", &basic).unwrap();
    let clock = Arc::new(callpark::clock::ManualClock::default());
    let engine = Arc::new(callpark::engine::Engine::new(config, host.clone(), callpark::engine::Timing::Manual(clock)));
    dial(&engine, ACME, "c1", "*68102", None, Some("101")).unwrap();
    let slot = Target::Extension("102".into());
    assert_eq!(host.fake.lamp(ACME, &slot).map(|p| p.state.count), Some(1));
    let off = basic.replace(
        r#"<tenant domain="acme.example">"#,
        r#"<tenant domain="acme.example"><settings><param name="lamps" value="none"/></settings>"#,
    );
    *host.armed.lock() = Some((Arc::downgrade(&engine), callpark::config::from_xml("t.xml", &off).unwrap()));
    // The lamp of this park is being delivered when the reload comes.
    dial(&engine, ACME, "c2", "*68103", None, Some("101")).unwrap();
    assert!(host.armed.lock().is_none(), "the reload ran");
    assert_eq!(host.fake.lamp(ACME, &slot).map(|p| p.state.count), Some(0), "102's lamp goes dark");
    assert_eq!(
        host.fake.lamp(ACME, &Target::Extension("103".into())).map(|p| p.state.count),
        Some(0),
        "103's lamp, lit just before the reload, goes dark too"
    );
}

#[test]
fn lamps_kept_across_an_unload_are_published_as_they_are_now() {
    let rig = Rig::new(&group_conf(r#"recall="parking-user""#));
    rig.dial(ACME, "c1", "*68102", None, Some("101")).unwrap();
    rig.dial(ACME, "c2", "*68102", None, Some("101")).unwrap();
    rig.dial(ACME, "c3", "*68103", None, Some("101")).unwrap();
    let kept = callpark::listing::lamps(&rig.engine.list(None).unwrap());
    assert_eq!(kept, "acme.example park+102\nacme.example park+sales\nacme.example park+103\n", "each lamp once");
    // c1 and c3 hang up while the module is away; the next load relights what was kept.
    rig.engine.hangup("c1").unwrap();
    rig.engine.hangup("c3").unwrap();
    rig.host.take();
    rig.engine.relight(&format!("{kept}a line without a target\n\n"));
    assert_eq!(rig.host.lamp(ACME, &Target::Extension("103".into())).map(|p| p.state.count), Some(0), "103 goes out");
    assert_eq!(rig.host.lamp(ACME, &Target::Extension("102".into())).map(|p| p.state.count), Some(1), "102 still lit");
    assert_eq!(rig.host.lamp(ACME, &Target::Group("sales".into())).map(|p| p.state.count), Some(1));
}
