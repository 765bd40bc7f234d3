//! Why an operation of the core did not happen: the errors of dialing a code and of
//! acting on a known call. The C ABI turns each into a result code (`ffi`).

use std::fmt;

use crate::codes::CodeError;
use crate::store::{ClaimError, StoreError};

/// The texts of the errors that carry no detail. The C ABI's message for each one's
/// result code (src/lists/result_codes.rs) is the same text.
pub mod text {
    pub const NOT_FOUND: &str = "no such parked call or target";
    pub const ALREADY_TAKEN: &str = "the call was already taken by someone else";
    pub const NO_PARKING_USER: &str = "no parking user: the channel has no user and was not transferred by one";
    pub const ALREADY_PARKED: &str = "this call is already parked";
    pub const NO_TENANT: &str = "the call belongs to no tenant the switch knows of";
    pub const NO_RETRIEVER: &str = "retrieving needs an authenticated user";
}

/// Why a dial did not park or retrieve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialError {
    BadRequest(String),
    Code(CodeError),
    /// Nothing the switch knows of the channel names its tenant (src/identity.rs).
    NoTenant,
    NoParkingUser,
    UnknownExtension(String),
    SlotFull {
        extension: String,
        max: usize,
    },
    NoGroup {
        user: String,
    },
    NoFreeMember {
        group: String,
    },
    /// Every slot of the lot holds a call.
    LotFull {
        lot: String,
    },
    /// Keys pressed during a call on a leg that is no user's (a carrier's, an outside
    /// party's): nobody is parked.
    KeysOfNoUser,
    AlreadyParked,
    NoRetriever,
    Empty {
        place: String,
    },
    HostFailed(String),
    /// An operator named a tenant the call (or user) is not of.
    OtherTenant {
        tenant: String,
    },
    /// An operator named a call that is not parked (in the tenant named, if one was).
    NotParked {
        uuid: String,
    },
    /// An operator named a user the directory does not have.
    UnknownUser(String),
    /// An operator's retrieve names a call that is already leaving the park.
    Leaving {
        uuid: String,
    },
    /// The park shared by several switches cannot be reached (src/store/redis.rs).
    Store(StoreError),
    /// A hand-over came from an address that is no node of the shared park.
    NotANode {
        from: String,
    },
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::BadRequest(s) => write!(f, "bad request: {s}"),
            DialError::Code(e) => e.fmt(f),
            DialError::NoTenant => f.write_str(text::NO_TENANT),
            DialError::NoParkingUser => f.write_str(text::NO_PARKING_USER),
            DialError::UnknownExtension(e) => write!(f, "extension {e} does not exist in this tenant"),
            DialError::SlotFull { extension, max } => {
                write!(f, "extension {extension} already holds {max} parked calls")
            }
            DialError::NoGroup { user } => write!(f, "user {user} is in no call-park group"),
            DialError::LotFull { lot } => write!(f, "every slot of lot \"{lot}\" holds a call"),
            DialError::KeysOfNoUser => f.write_str(
                "the keys came from a leg that is no user's (a carrier's, an outside party's): nobody is parked",
            ),
            DialError::NoFreeMember { group } => {
                write!(f, "every member of group \"{group}\" already has a parked call")
            }
            DialError::AlreadyParked => f.write_str(text::ALREADY_PARKED),
            DialError::NoRetriever => f.write_str(text::NO_RETRIEVER),
            DialError::Empty { place } => write!(f, "no call is parked at {place}"),
            DialError::HostFailed(s) => write!(f, "the switch could not carry it out: {s}"),
            DialError::OtherTenant { tenant } => write!(f, "the call is not in tenant {tenant}"),
            DialError::NotParked { uuid } => write!(f, "no call {uuid} is parked"),
            DialError::UnknownUser(u) => write!(f, "user {u} does not exist in this tenant"),
            DialError::Leaving { uuid } => write!(f, "call {uuid} is already leaving the park"),
            DialError::Store(e) => e.fmt(f),
            DialError::NotANode { from } => write!(f, "{from:?} is no node of the shared park"),
        }
    }
}

impl std::error::Error for DialError {}

/// A failed dial, and whether the call was sent back to its parking user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialFailure {
    pub error: DialError,
    pub sent_back: bool,
}

/// Why an operation on a known call did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    BadRequest(String),
    NotFound,
    /// Someone else claimed the call first.
    AlreadyTaken,
    BridgeFailed(String),
    Store(StoreError),
}

impl From<ClaimError> for CallError {
    fn from(e: ClaimError) -> CallError {
        match e {
            ClaimError::NotFound => CallError::NotFound,
            ClaimError::AlreadyTaken => CallError::AlreadyTaken,
            ClaimError::Store(e) => CallError::Store(e),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::BadRequest(s) => write!(f, "bad request: {s}"),
            CallError::NotFound => f.write_str(text::NOT_FOUND),
            CallError::AlreadyTaken => f.write_str(text::ALREADY_TAKEN),
            CallError::BridgeFailed(s) => write!(f, "bridge failed: {s}"),
            CallError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CallError {}
