//! The only code that touches files, environment, network and processes on a plugin's behalf.
//!
//! Providers here accept only the witnesses returned by `aether-policy`'s checks; the engine side
//! reaches them exclusively through [`protocol::Host`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod broker;
pub mod bundle;
mod cjs;
mod commit;
pub mod compile_cache;
pub mod events;
mod fsops;
pub mod gateway;
pub mod inbound;
pub mod overlay;
pub mod protocol;
pub mod resolve;
pub mod secrets;
pub mod witness;

pub use protocol::{Host, HostError, HostRequest, HostValue, panic_message};
