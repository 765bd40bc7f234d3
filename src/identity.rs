//! Who is who: the tenant of a channel that dialed a code, its own user (the one who
//! may retrieve) and its parking user (the one who parked it), resolved from what the
//! switch knows of the channel and of the legs it was connected to.
//!
//! The rules (docs/admin-guide.md, "Who is who"):
//! 1. The tenant comes only from the switch's own records: the dialplan's
//!    `callpark_tenant` (or the `callpark_domain` of its `callpark_user` or
//!    `callpark_transferor`), else the domain of an authenticated user (this channel's, the
//!    transferring leg's, the last bridge partner's), else the domain of a directory user
//!    the call was sent to (`dialed_domain`), else the channel's `domain_name`. Never from
//!    a header a party can write (`Referred-By`).
//! 2. A user is someone the switch authenticated (`sip_authorized` with `user_name`) or a
//!    directory user the switch itself sent an outbound leg to (`dialed_user`), or the
//!    dialplan's override. A user of another domain than the tenant is nobody here.
//! 3. Only the channel's own authenticated user (or the dialplan's `callpark_user`)
//!    retrieves: an outbound leg's `dialed_user` is where the switch sent the call, not
//!    who asks, so a far end that transfers that leg to `*88` retrieves nothing; nor does
//!    a channel transferred here by nobody the switch knows (rule 4 finds no one).
//! 4. The parking user of a transferred call is the transferring leg's user, else the
//!    last bridge partner's, else the `Referred-By` user when its host is the tenant and
//!    the directory has that user (a header picks at most a user inside a tenant already
//!    known), else the directory user this channel called. A call that was not
//!    transferred is parked by its own user; one transferred by nobody known has no
//!    parking user (and no user, rule 3).
//! 5. User ids need not be digits (`alice`, `+4930123`): any id of letters, digits and
//!    `+ - _ .` up to [`MAX_USER_LEN`] bytes. Anything else is no user, not an error.
//! 6. The dialplan's overrides are the admin's word: `callpark_user` and
//!    `callpark_transferor` count only with `callpark_domain`, and only in the tenant.
//! 7. Keys pressed during a call (one-step parking, [`keys_user`]) park the other party
//!    only from a user's leg: the channel's authenticated user, or the user the switch
//!    itself called on it (by the directory, or at a registered contact). A carrier's or
//!    an outside party's keys park nobody, whatever they send.

use crate::config::valid_domain;

/// The longest user id kept.
pub const MAX_USER_LEN: usize = 64;

/// What the switch knows of one leg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leg<'a> {
    /// `sip_authorized`: the switch authenticated this leg's phone.
    pub authorized: bool,
    /// `user_name`, `domain_name`.
    pub user_name: Option<&'a str>,
    pub domain_name: Option<&'a str>,
    /// The switch placed this leg (an outbound call).
    pub outbound: bool,
    /// `dialed_user`, `dialed_domain`: the directory user the switch sent a call to
    /// (on an outbound leg, itself; on an inbound one, the last user it called).
    pub dialed_user: Option<&'a str>,
    pub dialed_domain: Option<&'a str>,
    /// Where the switch sent this outbound leg (its request URI, `user@host[:port]`, with
    /// any parameters): a registered contact when the dialplan bridged to one.
    pub contact: Option<&'a str>,
}

/// The dialplan's `callpark_*` overrides: the admin's word, trusted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides<'a> {
    pub tenant: Option<&'a str>,
    pub user: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub transferor: Option<&'a str>,
}

/// Everything the identity rules read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The channel that dialed the code.
    pub channel: Leg<'a>,
    /// The leg that transferred it (`blind_transfer_uuid`), when the switch could find it.
    pub transferring_leg: Option<Leg<'a>>,
    /// Its last bridge partner, when the switch could find it (or recorded it).
    pub bridge_partner: Option<Leg<'a>>,
    /// It was transferred here (a REFER, `blind_transfer_uuid`, a `Referred-By`).
    pub transferred: bool,
    /// The `Referred-By` header as received.
    pub referred_by: Option<&'a str>,
    pub overrides: Overrides<'a>,
}

/// Who is who, by the rules above. `user` and `parking_user` are users of `tenant`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub tenant: Option<String>,
    /// The channel's own authenticated user: the one who may retrieve.
    pub user: Option<String>,
    /// Who parks it: whoever transferred it here, or its own user.
    pub parking_user: Option<String>,
    /// It was transferred here by `parking_user` (a park that fails sends it back).
    pub by_transfer: bool,
}

/// A user id as the rules accept it (rule 5).
pub fn valid_user(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_USER_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-_.".contains(&b))
}

fn present(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn domain(s: Option<&str>) -> Option<String> {
    present(s).map(str::to_ascii_lowercase).filter(|d| valid_domain(d))
}

/// A user and its domain, both valid.
fn user_at(user: Option<&str>, dom: Option<&str>) -> Option<(String, String)> {
    let u = present(user).filter(|u| valid_user(u))?;
    Some((u.to_string(), domain(dom)?))
}

/// What the rules may ask of the switch's records.
pub trait Directory {
    /// Whether `user` is a user of `tenant` in the directory.
    fn user_exists(&self, tenant: &str, user: &str) -> bool;
    /// The contacts `user`@`tenant` registered, as the switch lists them
    /// (`sofia/internal/sip:101@10.0.0.7:5062;ob`, `sip:101@...`).
    fn contacts(&self, tenant: &str, user: &str) -> Vec<String>;
    /// The tenants where a contact's user is looked for when the call names none.
    fn tenants(&self) -> Vec<String>;
}

/// A directory that knows users only (no registrations).
struct UsersOnly<F>(F);

impl<F: Fn(&str, &str) -> bool> Directory for UsersOnly<F> {
    fn user_exists(&self, tenant: &str, user: &str) -> bool {
        (self.0)(tenant, user)
    }
    fn contacts(&self, _: &str, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn tenants(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A contact as `(user, host[:port])`, lower-case host and port, without scheme,
/// parameters or the switch's `sofia/<profile>/` prefix; the port 5060 when none.
fn contact_key(c: &str) -> Option<(&str, String)> {
    let c = c.trim().trim_start_matches('<');
    let c = match c.strip_prefix("sofia/") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, r)| r),
        None => c,
    };
    let lower = c.get(..5).map(str::to_ascii_lowercase).unwrap_or_default();
    let c = if lower.starts_with("sips:") {
        &c[5..]
    } else if lower.starts_with("sip:") {
        &c[4..]
    } else {
        c
    };
    let c = &c[..c.find([';', '?', '>', ' ', ',']).unwrap_or(c.len())];
    let (user, host) = c.split_once('@')?;
    if user.is_empty() || host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let has_port = if host.starts_with('[') { host.contains("]:") } else { host.contains(':') };
    Some((user, if has_port { host } else { format!("{host}:5060") }))
}

impl Leg<'_> {
    /// The user whose registered contact the switch sent this outbound leg to (rule 2):
    /// looked up in `hint` (the tenant the dialplan named), else in every tenant.
    fn registered(&self, dir: &dyn Directory, hint: Option<&str>) -> Option<(String, String)> {
        if !self.outbound || self.authorized || self.dialed_user.is_some() {
            return None;
        }
        let (user, host) = contact_key(present(self.contact)?)?;
        if !valid_user(user) {
            return None;
        }
        let candidates = match hint {
            Some(h) => vec![h.to_string()],
            None => dir.tenants(),
        };
        candidates.into_iter().filter(|t| valid_domain(t)).find_map(|t| {
            let hit =
                dir.contacts(&t, user).iter().any(|c| contact_key(c).is_some_and(|(u, h)| u == user && h == host));
            hit.then(|| (user.to_string(), t))
        })
    }

    /// The user the switch authenticated on this leg (rule 2).
    fn authenticated(&self) -> Option<(String, String)> {
        if self.authorized {
            user_at(self.user_name, self.domain_name)
        } else {
            None
        }
    }

    /// The directory user the switch sent this outbound leg to (rule 2).
    fn sent_to(&self) -> Option<(String, String)> {
        if self.outbound {
            user_at(self.dialed_user, self.dialed_domain)
        } else {
            None
        }
    }

    /// Whoever this leg belongs to, by the switch's records.
    fn user(&self) -> Option<(String, String)> {
        self.authenticated().or_else(|| self.sent_to())
    }
}

/// The user and host of a `Referred-By` value (`"Bob" <sip:102@acme.example;x=y>`).
pub fn referred_by_user(v: &str) -> Option<(&str, &str)> {
    let lower = v.to_ascii_lowercase();
    let start = lower.find("sips:").map(|i| i + 5).or_else(|| lower.find("sip:").map(|i| i + 4))?;
    let rest = &v[start..];
    let end = rest.find(['>', ';', '?', ' ', ',']).unwrap_or(rest.len());
    let (user, host) = rest[..end].split_once('@')?;
    let host = host.split(':').next().unwrap_or(host);
    Some((user, host))
}

/// Resolves who is who. `user_exists(tenant, user)` asks the directory (which knows no
/// registrations: a leg sent to a contact is nobody's).
pub fn resolve(f: &Facts, user_exists: impl Fn(&str, &str) -> bool) -> Identity {
    resolve_in(f, &UsersOnly(user_exists))
}

/// Resolves who is who, asking `dir` of users and registrations.
pub fn resolve_in(f: &Facts, dir: &dyn Directory) -> Identity {
    let user_exists = |t: &str, u: &str| dir.user_exists(t, u);
    // The users of the other legs, once: a leg sent to a registered contact is the
    // registering user's (looked up in the tenant the channel names, else in each).
    let hint = domain(f.channel.domain_name).or_else(|| domain(f.channel.dialed_domain));
    // Looked up only when a rule needs them (a registration lookup asks the switch).
    let leg_user = |l: &Leg| l.user().or_else(|| l.registered(dir, hint.as_deref()));
    let (t_cell, p_cell) = (std::cell::OnceCell::new(), std::cell::OnceCell::new());
    let transferor_leg = || t_cell.get_or_init(|| f.transferring_leg.and_then(|l| leg_user(&l))).clone();
    let partner = || p_cell.get_or_init(|| f.bridge_partner.and_then(|l| leg_user(&l))).clone();
    let o = &f.overrides;
    let in_tenant = |t: &Option<String>, u: Option<(String, String)>| match (t, u) {
        (Some(t), Some((u, d))) if &d == t => Some(u),
        _ => None,
    };
    // The admin's users, each in `callpark_domain` (without it, nobody).
    let o_user = user_at(o.user, o.domain);
    let o_by = user_at(o.transferor, o.domain);
    // An authenticated channel belongs to its domain, whatever its user id looks like.
    let own_domain = if f.channel.authorized { domain(f.channel.domain_name) } else { None };
    let tenant = domain(o.tenant)
        .or_else(|| o_user.as_ref().or(o_by.as_ref()).map(|(_, d)| d.clone()))
        .or(own_domain)
        .or_else(|| f.channel.sent_to().map(|(_, d)| d))
        .or_else(|| transferor_leg().map(|(_, d)| d))
        .or_else(|| partner().map(|(_, d)| d))
        .or_else(|| domain(f.channel.dialed_domain))
        .or_else(|| domain(f.channel.domain_name));
    let by = if o_by.is_some() {
        in_tenant(&tenant, o_by)
    } else if f.transferred {
        in_tenant(&tenant, transferor_leg())
            .or_else(|| in_tenant(&tenant, partner()))
            .or_else(|| {
                let (u, h) = referred_by_user(present(f.referred_by)?)?;
                let t = tenant.as_deref()?;
                (valid_user(u) && h.eq_ignore_ascii_case(t) && user_exists(t, u)).then(|| u.to_string())
            })
            .or_else(|| {
                let sent =
                    (!f.channel.outbound).then_some(()).and(user_at(f.channel.dialed_user, f.channel.dialed_domain));
                in_tenant(&tenant, sent)
            })
    } else {
        None
    };
    let user = if o_user.is_some() {
        in_tenant(&tenant, o_user)
    } else if f.transferred && by.is_none() {
        // Transferred here by nobody the switch knows (a far end that REFERs an
        // authenticated user's own call to `*88`): that user asked for nothing.
        None
    } else {
        in_tenant(&tenant, f.channel.authenticated())
    };
    let by_transfer = by.is_some();
    let parking_user = by.or_else(|| user.clone());
    Identity { tenant, user, parking_user, by_transfer }
}

/// Rule 7: the user whose keys, pressed on the leg `f` describes during a call, may park
/// the other party, with that user's domain; `None` for a leg that is no user's.
pub fn keys_user(f: &Facts, dir: &dyn Directory) -> Option<(String, String)> {
    let hint = domain(f.channel.domain_name).or_else(|| domain(f.channel.dialed_domain));
    f.channel.authenticated().or_else(|| f.channel.sent_to()).or_else(|| f.channel.registered(dir, hint.as_deref()))
}

#[cfg(test)]
mod tests;
