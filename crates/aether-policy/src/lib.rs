//! aether's permission model, pure and engine-agnostic.
//!
//! Everything here decides and nothing performs: no file, network, environment, clock or engine
//! access (enforced by this crate's `clippy.toml`). Real paths, resolved addresses and "now" are
//! arguments. Capability providers in `aether-host` accept only the witnesses that the checks
//! here return, so that forgetting a check is a compile error.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod capability;

pub use capability::{Capability, Decision};
pub mod size;

pub use size::{
    ByteSize, DurationError, HumanDuration, SizeError, deadline_after, parse_duration, parse_size,
};
pub mod path;

pub use path::{PathPattern, PathSet, PatternError, normalize_lexically, resolve_lexically};
pub mod addr;

pub use addr::{IpNet, IpNetError, is_public, unmap};
pub mod domain;

pub use domain::{
    DEFAULT_LISTEN_HOSTNAME, DomainPattern, Host, HostParseError, HostPattern, ListenAddr,
    parse_host, parse_listen_host,
};
pub mod denial;
pub mod env;
pub mod escape;
pub mod grant;
pub mod limits;
pub mod module;
pub mod permissions;
pub mod policy;
pub mod risk;
pub mod secret;
pub mod window;
pub mod witness;

pub use denial::{Denial, DenialReason};
pub use env::{EnvPattern, EnvPatternError, is_valid_name};
pub use escape::{escape_untrusted, escape_untrusted_lines, is_hidden_char};
pub use grant::{Grant, is_reserved_path};
pub use limits::{
    DEFAULT_MAX_MEMORY, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_TIMEOUT, DEFAULT_MEMORY,
    DEFAULT_STACK, DEFAULT_TIMEOUT, Limits, RequestedLimits,
};
pub use module::{CAPABILITY_BUILTINS, ModuleKind, is_blocked_builtin};
pub use permissions::Permissions;
pub use policy::{Excess, Policy, RequestItem, Tier, TierReason, excesses};
pub use risk::RiskClass;
pub use secret::{GrantedSecret, SecretDef, SecretRequest, SecretSource, is_valid_secret_name};
pub use window::{
    AppliesTo, Window, WindowError, WindowRefusal, check_windows, parse_day, parse_time,
    parse_timezone,
};
pub use witness::{
    CheckedAddr, CheckedCommand, CheckedEnv, CheckedHost, CheckedListen, CheckedPath, CheckedWrite,
    ParentDir, UnsafeMode, VirtualizedWrite, WorkspaceDir, WriteTarget,
};
