//! The only code that touches files, environment, network and processes on a plugin's behalf.
//!
//! Providers here accept only the witnesses returned by `aether-policy`'s checks; the engine side
//! reaches them exclusively through [`protocol::Host`].
//!
//! No public function that reads, writes, connects, binds or spawns on a plugin's behalf takes a
//! bare path, address or program: files through the private `fsops` primitives (bound by
//! [`witness::Witnessed`])
//! and the [`overlay::Overlay`] (its commit through [`witness::CommitPath`]), connections through
//! `CheckedAddr`, listeners through `CheckedListen`, children through `CheckedCommand` and
//! `aether_jail::WorkingDir`. What does take one is not a plugin's value, and each says so in
//! its docs: the operator's workspace ([`broker::StepHost::new`]), plugin directory
//! ([`bundle::PluginBundle::load`]) and cache directory ([`compile_cache::DiskCache::open`]);
//! the checking entry points, which check before anything is used ([`protocol::Host::call`],
//! [`gateway::Gateway::fetch`]); and name lookups ([`gateway::Resolve`]), which connect to
//! nothing.
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
