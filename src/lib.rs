//! callpark: call parking for FreeSWITCH.
//!
//! The core (every module but [`ffi`]) knows nothing of C or FreeSWITCH: it parses
//! feature codes and the `callpark` API command, validates configuration, keeps parked
//! calls, runs recall timers and decides who is told what. [`ffi`] is the C ABI that
//! `mod_callpark` links against.

pub mod caller;
pub mod clock;
pub mod codes;
pub mod command;
pub mod config;
pub mod engine;
pub mod error;
pub mod ffi;
pub mod heap;
pub mod hold;
pub mod host;
pub mod identity;
pub mod listing;
pub mod names;
pub mod park_info;
pub mod recall;
pub mod reply;
pub mod store;
pub mod stranded;

pub use config::{Config, ConfigErrors};
pub use engine::{CallError, DialError, DialFailure, DialOutcome, DialRequest, Engine, Timing};
pub use host::Host;
