//! Configuration: settings, tenants, call-park groups and recall policies.
//!
//! Three layers: global `<settings>`, a tenant's `<settings>`, and a group's attributes.
//! A value set on a lower layer replaces the one above it. Validation collects every
//! error with its place; a configuration with any error is refused whole.
//!
//! The files: `model` (what a validated configuration is), `parse` (each parameter's
//! value checked), `layers` (the layers resolved into a tenant), `lots` and `store`
//! (a tenant's lots, the whole switch's store), `xml` (the file read).

mod layers;
mod lots;
mod model;
mod parse;
mod store;
mod xml;

pub(crate) use layers::{resolve_tenant, RawGroup};
pub use lots::{Lot, LotChoice, MAX_LOT_SLOTS};
pub(crate) use lots::{RawLot, LOT_OWN_ATTRS};
pub use model::{
    Announce, Config, ConfigError, ConfigErrors, Destination, Group, LampState, Notices, RecallPlan, RecallPolicy,
    Tenant,
};
pub(crate) use parse::{key_name_error, At, Layer, Level};
pub use parse::{own_recall_time, valid_domain, MAX_DOMAIN_LEN};
pub use store::{
    parse_store_url, valid_node_name, CrossNodePickup, RedisTarget, StoreSetting, StoreUrl, DEFAULT_GRACE_MS,
};
pub use xml::from_xml;

#[cfg(test)]
mod tests;
