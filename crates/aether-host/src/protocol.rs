//! The host-call protocol, defined in `aether-protocol` (the crate both the engine and the
//! broker depend on) and re-exported here so that the broker's paths stay short.

pub use aether_protocol::{Host, HostError, HostRequest, HostValue, panic_message};
