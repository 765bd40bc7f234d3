//! A recording fake host and helpers for driving the engine with a virtual clock.
#![allow(dead_code)]

pub mod redis_server;

use std::collections::HashSet;
use std::sync::Arc;

use callpark::clock::ManualClock;
use callpark::config::{self, Destination};
use callpark::host::{BridgeError, Host, HostError, LogLevel, Notice, Presence, Ring, Target};
use callpark::{DialFailure, DialOutcome, DialRequest, Engine, Timing};
use parking_lot::Mutex;

/// What the engine asked the host to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Did {
    Bridge {
        uuid: String,
        parked: String,
    },
    /// A retriever here sent to the node at `address` holding the call, with `token`.
    BridgeToNode {
        uuid: String,
        address: String,
        token: String,
    },
    /// A retriever here answered with a 302 to the node at `address`, with `token`.
    RedirectToNode {
        uuid: String,
        address: String,
        token: String,
    },
    Ring(Ring),
    CancelRing(String),
    Transfer {
        uuid: String,
        to: String,
    },
    Notice(Notice),
}

#[derive(Default)]
pub struct FakeHost {
    pub did: Mutex<Vec<Did>>,
    pub users: Mutex<HashSet<(String, String)>>,
    /// Parked uuids whose bridge fails (their caller hung up at that moment).
    pub bridge_fails: Mutex<HashSet<String>>,
    /// Legs (retrievers, recall legs) whose bridge fails on their side.
    pub leg_fails: Mutex<HashSet<String>>,
    /// Extensions whose recall ring fails at once (unregistered).
    pub ring_fails: Mutex<HashSet<String>>,
    pub logs: Mutex<Vec<String>>,
    /// Registered contacts: (tenant, user) to their contacts, as the switch lists them.
    pub contacts: Mutex<std::collections::HashMap<(String, String), Vec<String>>>,
    /// Operator's commands other nodes had this one carry out, and the line it answers.
    pub operated: Mutex<Vec<String>>,
    pub operate_answer: Mutex<Option<String>>,
}

impl FakeHost {
    /// `user`@`tenant` registers `contact` (`sip:101@127.0.0.1:5062;ob`).
    pub fn register(&self, tenant: &str, user: &str, contact: &str) {
        self.contacts.lock().entry((tenant.into(), user.into())).or_default().push(contact.into());
    }
    pub fn add_users(&self, tenant: &str, exts: &[&str]) {
        let mut u = self.users.lock();
        for e in exts {
            u.insert((tenant.to_string(), e.to_string()));
        }
    }
    pub fn take(&self) -> Vec<Did> {
        std::mem::take(&mut *self.did.lock())
    }
    pub fn all(&self) -> Vec<Did> {
        self.did.lock().clone()
    }
    pub fn rings(&self) -> Vec<Ring> {
        self.all().into_iter().filter_map(|d| if let Did::Ring(r) = d { Some(r) } else { None }).collect()
    }
    pub fn events(&self) -> Vec<callpark::host::Event> {
        self.all()
            .into_iter()
            .filter_map(|d| if let Did::Notice(Notice::Event(e)) = d { Some(e) } else { None })
            .collect()
    }
    /// The `sent-back` events: (uuid, tenant, parking user, why).
    pub fn sent_back(&self) -> Vec<(String, String, String, String)> {
        self.events()
            .into_iter()
            .filter(|e| e.action == callpark::host::Action::SentBack)
            .map(|e| (e.uuid, e.tenant, e.parking_user, e.detail.unwrap_or_default()))
            .collect()
    }
    pub fn actions(&self) -> Vec<&'static str> {
        self.events().iter().map(|e| e.action.name()).collect()
    }
    pub fn messages(&self) -> Vec<(String, String)> {
        self.all()
            .into_iter()
            .filter_map(|d| if let Did::Notice(Notice::Message(m)) = d { Some((m.extension, m.text)) } else { None })
            .collect()
    }
    /// The last lamp state published for `target` of `tenant`.
    pub fn lamp(&self, tenant: &str, target: &Target) -> Option<Presence> {
        self.all().into_iter().rev().find_map(|d| match d {
            Did::Notice(Notice::Presence(p)) if p.tenant == tenant && &p.target == target => Some(p),
            _ => None,
        })
    }
    /// The redirects to other nodes: (retriever, address, token).
    pub fn redirects(&self) -> Vec<(String, String, String)> {
        self.all()
            .into_iter()
            .filter_map(|d| match d {
                Did::RedirectToNode { uuid, address, token } => Some((uuid, address, token)),
                _ => None,
            })
            .collect()
    }
    /// The hand-overs to other nodes: (retriever, address, token).
    pub fn hand_overs(&self) -> Vec<(String, String, String)> {
        self.all()
            .into_iter()
            .filter_map(|d| match d {
                Did::BridgeToNode { uuid, address, token } => Some((uuid, address, token)),
                _ => None,
            })
            .collect()
    }
    pub fn lamp_count(&self, tenant: &str, ext: &str) -> Option<usize> {
        self.lamp(tenant, &Target::Extension(ext.into())).map(|p| p.state.count)
    }
}

impl Host for FakeHost {
    fn bridge(&self, uuid: &str, parked: &str, _: callpark::host::Joining) -> Result<(), BridgeError> {
        self.did.lock().push(Did::Bridge { uuid: uuid.into(), parked: parked.into() });
        if self.bridge_fails.lock().contains(parked) {
            return Err(BridgeError::ParkedGone("the parked channel is gone".into()));
        }
        if self.leg_fails.lock().contains(uuid) {
            return Err(BridgeError::Failed("the other leg is gone".into()));
        }
        Ok(())
    }
    fn bridge_to_node(&self, uuid: &str, address: &str, token: &str) -> Result<(), BridgeError> {
        self.did.lock().push(Did::BridgeToNode { uuid: uuid.into(), address: address.into(), token: token.into() });
        if self.leg_fails.lock().contains(uuid) {
            return Err(BridgeError::Failed("the other node did not answer".into()));
        }
        Ok(())
    }
    fn redirect_to_node(&self, uuid: &str, address: &str, token: &str) -> Result<(), BridgeError> {
        self.did.lock().push(Did::RedirectToNode { uuid: uuid.into(), address: address.into(), token: token.into() });
        if self.leg_fails.lock().contains(uuid) {
            return Err(BridgeError::Failed("the retriever's call was answered already".into()));
        }
        Ok(())
    }
    fn ring(&self, r: &Ring) -> Result<(), HostError> {
        self.did.lock().push(Did::Ring(r.clone()));
        if self.ring_fails.lock().contains(&r.extension) {
            return Err(HostError("USER_NOT_REGISTERED".into()));
        }
        Ok(())
    }
    fn cancel_ring(&self, parked: &str) {
        self.did.lock().push(Did::CancelRing(parked.into()));
    }
    fn transfer(&self, uuid: &str, to: &Destination) -> Result<(), HostError> {
        self.did.lock().push(Did::Transfer { uuid: uuid.into(), to: to.to_string() });
        Ok(())
    }
    fn notify(&self, n: &Notice) {
        self.did.lock().push(Did::Notice(n.clone()));
    }
    fn user_exists(&self, tenant: &str, ext: &str) -> bool {
        self.users.lock().contains(&(tenant.to_string(), ext.to_string()))
    }
    fn contacts(&self, tenant: &str, user: &str) -> Vec<String> {
        self.contacts.lock().get(&(tenant.to_string(), user.to_string())).cloned().unwrap_or_default()
    }
    fn operate(&self, command: &str) -> Option<String> {
        self.operated.lock().push(command.to_string());
        self.operate_answer.lock().clone()
    }
    fn log(&self, _level: LogLevel, m: &str) {
        self.logs.lock().push(m.to_string());
    }
}

pub struct Rig {
    pub engine: Engine,
    pub host: Arc<FakeHost>,
    pub clock: Arc<ManualClock>,
}

pub const ACME: &str = "acme.example";
pub const GLOBEX: &str = "globex.example";

impl Rig {
    pub fn new(xml: &str) -> Rig {
        let config = config::from_xml("test.conf.xml", xml).unwrap_or_else(|e| panic!("{e}"));
        let host = Arc::new(FakeHost::default());
        host.add_users(ACME, &["101", "102", "103", "104", "105"]);
        host.add_users(GLOBEX, &["101", "102", "103"]);
        let clock = Arc::new(ManualClock::default());
        let engine = if redis_server::wanted() {
            let store = redis_server::store(redis_server::shared(), &redis_server::fresh_prefix(), "a");
            let engine = Engine::with_store(config, host.clone(), Timing::Manual(clock.clone()), Box::new(store));
            let status = engine.store_status();
            assert!(status.reachable && status.kind.starts_with("redis://"), "not on Redis: {status:?}");
            engine
        } else {
            Engine::new(config, host.clone(), Timing::Manual(clock.clone()))
        };
        Rig { engine, host, clock }
    }

    /// `uuid` dials `dialed`; `user` is the channel's own user, `by` who transferred it.
    pub fn dial(
        &self,
        tenant: &str,
        uuid: &str,
        dialed: &str,
        user: Option<&str>,
        by: Option<&str>,
    ) -> Result<DialOutcome, DialFailure> {
        dial(&self.engine, tenant, uuid, dialed, user, by)
    }

    pub fn secs(&self, s: u64) {
        assert!(self.engine.advance(s * 1000));
    }
}

/// `uuid` of `tenant` dials `dialed`; `user` is the channel's own user, `by` who
/// transferred it; the caller is 003386002678.
pub fn dial(
    engine: &Engine,
    tenant: &str,
    uuid: &str,
    dialed: &str,
    user: Option<&str>,
    by: Option<&str>,
) -> Result<DialOutcome, DialFailure> {
    engine.dial(&DialRequest {
        tenant,
        uuid,
        dialed,
        user,
        transferor: by,
        caller_number: "003386002678",
        caller_name: "",
        back_to_park: false,
        transferred: by.is_some(),
        operator: false,
        timeout: "",
    })
}

/// `group_conf(attrs)` with one more global parameter `name` = `value`.
pub fn group_conf_with(attrs: &str, name: &str, value: &str) -> String {
    let at = r#"<param name="recall-time" value="60"/>"#;
    group_conf(attrs).replace(at, &format!(r#"{at}<param name="{name}" value="{value}"/>"#))
}

/// A configuration with one group 101/102/103 in acme, under `policy`.
pub fn group_conf(attrs: &str) -> String {
    format!(
        r#"<configuration name="callpark.conf">
  <settings>
    <param name="recall-time" value="60"/>
  </settings>
  <tenants>
    <tenant domain="acme.example">
      <groups>
        <group name="sales" {attrs}>
          <member extension="101"/>
          <member extension="102"/>
          <member extension="103"/>
        </group>
      </groups>
    </tenant>
    <tenant domain="globex.example"/>
  </tenants>
</configuration>"#
    )
}

pub fn parked(ext: &str) -> Result<DialOutcome, DialFailure> {
    Ok(DialOutcome::Parked { extension: ext.into(), music: String::new(), exit_key: None, chosen: false })
}

/// Parked at `ext`, which the park chose (a group's free member, a lot's free slot).
pub fn parked_chosen(ext: &str) -> Result<DialOutcome, DialFailure> {
    Ok(DialOutcome::Parked { extension: ext.into(), music: String::new(), exit_key: None, chosen: true })
}
