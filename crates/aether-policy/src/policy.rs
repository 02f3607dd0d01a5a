//! The operator's ceiling ([`Policy`]) and the requests of a manifest that go beyond it
//! ([`excesses`]).
//!
//! Static: this compares patterns with patterns and never looks at a file, an address or a
//! clock. Every excess is reported at once, so the operator fixes them in one pass.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::addr::IpNet;
use crate::domain::{DomainPattern, ListenAddr};
use crate::env::EnvPattern;
use crate::limits::{
    DEFAULT_MAX_MEMORY, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_TIMEOUT, RequestedLimits,
};
use crate::path::PathPattern;
use crate::permissions::Permissions;
use crate::risk::RiskClass;
use crate::secret::SecretDef;
use crate::size::{ByteSize, HumanDuration};
use crate::window::Window;

/// Isolation tier (SPEC §6). Ordered: `Process` is stronger than `Thread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// The engine instance runs on its own thread inside aether.
    Thread,
    /// The engine runs in a jailed worker process.
    Process,
}

/// The operator's ceiling, validated. [`Policy::default`] is a policy with every section left
/// out: it allows nothing (no filesystem, network, env or process), with the SPEC §3 defaults
/// for settings (`virtualize_denied_writes = false`, `allow_private = []`, 16 MiB responses,
/// `https_only = false`, `allow_network = false`, 4 GiB / 1 h maxima, `unsafe` not allowed,
/// tiers thread / process, no windows, no secrets). The file's `[integrity]` section is not part
/// of it: signature requirements are checked by `aether-integrity` when a plugin is loaded, never
/// by a grant, and `aether-manifest`'s `PolicyFile` pairs the two.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `filesystem.read`.
    pub fs_read: Vec<PathPattern>,
    /// `filesystem.write`.
    pub fs_write: Vec<PathPattern>,
    /// `filesystem.virtualize_denied_writes`.
    pub virtualize_denied_writes: bool,
    /// `network.domains`.
    pub domains: Vec<DomainPattern>,
    /// `network.allow_private`: the non-public addresses that may be reached at all.
    pub allow_private: Vec<IpNet>,
    /// `network.max_response_bytes`.
    pub max_response_bytes: ByteSize,
    /// `network.https_only`.
    pub https_only: bool,
    /// `network.listen`.
    pub listen: Vec<ListenAddr>,
    /// `env.allow`.
    pub env: Vec<EnvPattern>,
    /// `process.commands` (absolute paths).
    pub commands: Vec<PathBuf>,
    /// `process.allow_network`.
    pub allow_network: bool,
    /// `process.accept_weaker_confinement` (an aether extension of SPEC §3, default `false`):
    /// whether child processes may run when the kernel lacks one of the confinement features
    /// (Landlock, seccomp, a pids limit) instead of being refused.
    pub accept_weaker_confinement: bool,
    /// `limits.max_memory`.
    pub max_memory: ByteSize,
    /// `limits.max_timeout`.
    pub max_timeout: Duration,
    /// `unsafe.allowed`: whether `--unsafe` may be used.
    pub unsafe_allowed: bool,
    /// `isolation.default`.
    pub isolation_default: Tier,
    /// `isolation.high_risk`.
    pub isolation_high_risk: Tier,
    /// `[[windows]]`.
    pub windows: Vec<Window>,
    /// `[secrets.NAME]`: the secrets plugins may be granted (none: no secret exists).
    pub secrets: Vec<SecretDef>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            fs_read: Vec::new(),
            fs_write: Vec::new(),
            virtualize_denied_writes: false,
            domains: Vec::new(),
            allow_private: Vec::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            https_only: false,
            listen: Vec::new(),
            env: Vec::new(),
            commands: Vec::new(),
            allow_network: false,
            accept_weaker_confinement: false,
            max_memory: DEFAULT_MAX_MEMORY,
            max_timeout: DEFAULT_MAX_TIMEOUT,
            unsafe_allowed: false,
            isolation_default: Tier::Thread,
            isolation_high_risk: Tier::Process,
            windows: Vec::new(),
            secrets: Vec::new(),
        }
    }
}

impl Policy {
    /// The tier for a plugin of class `risk`: the stronger of `default` and, for high-risk
    /// plugins, `high_risk`.
    pub fn tier_for(&self, risk: RiskClass) -> Tier {
        self.tier_choice(risk).0
    }

    /// [`Policy::tier_for`], with the setting that decided it: `default` when it is `process`
    /// or the plugin is not high risk, `high_risk` otherwise (also when that is `thread`: it is
    /// the setting that kept a high-risk plugin in the thread tier).
    pub fn tier_choice(&self, risk: RiskClass) -> (Tier, TierReason) {
        if risk == RiskClass::High && self.isolation_default != Tier::Process {
            (
                self.isolation_default.max(self.isolation_high_risk),
                TierReason::PolicyHighRisk,
            )
        } else {
            (self.isolation_default, TierReason::PolicyDefault)
        }
    }
}

/// Why a plugin or a step got its isolation tier (`aether check` says it, issue 23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TierReason {
    /// The policy's `[isolation] default` (for a plugin that is not high risk, or when it is
    /// already `process`).
    PolicyDefault,
    /// The policy's `[isolation] high_risk`, for a high-risk plugin.
    PolicyHighRisk,
    /// No policy: a high-risk plugin runs in the process tier, any other in the thread tier
    /// (SPEC §6's defaults).
    NoPolicy,
    /// The step's `isolation: process` in the pipeline raised it.
    StepIsolation,
    /// `--unsafe`: every plugin runs in the thread tier (SPEC §6).
    Unsafe,
}

impl TierReason {
    /// A stable name for machines: `policy-default`, `policy-high-risk`, `no-policy`,
    /// `step-isolation` or `unsafe`.
    pub fn as_str(self) -> &'static str {
        match self {
            TierReason::PolicyDefault => "policy-default",
            TierReason::PolicyHighRisk => "policy-high-risk",
            TierReason::NoPolicy => "no-policy",
            TierReason::StepIsolation => "step-isolation",
            TierReason::Unsafe => "unsafe",
        }
    }
}

/// Which request of the manifest an [`Excess`] is about (indices into [`Permissions`]' vectors),
/// so that the caller can point at its file, line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestItem {
    /// `fs_read[i]`.
    FsRead(usize),
    /// `fs_write[i]`.
    FsWrite(usize),
    /// `domains[i]`.
    Domain(usize),
    /// `listen[i]`.
    Listen(usize),
    /// `env[i]`.
    Env(usize),
    /// `commands[i]`.
    Command(usize),
    /// `process.network: true`.
    ProcessNetwork,
    /// `limits.memory`.
    Memory,
    /// `limits.timeout`.
    Timeout,
    /// `secrets[i]`.
    Secret(usize),
}

/// One request that goes beyond the policy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct Excess {
    /// The request.
    pub item: RequestItem,
    /// What is requested and what the policy allows (lowercase, values quoted).
    pub message: String,
}

/// `(allowed: `a`, `b`)` or `(the policy allows none)`.
fn allowed_list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        "(the policy allows none)".to_owned()
    } else {
        let list: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
        format!("(allowed: {})", list.join(", "))
    }
}

/// Every request of `perms` and `limits` that `policy` does not cover, in manifest order.
/// Empty means the manifest fits.
pub fn excesses(perms: &Permissions, limits: &RequestedLimits, policy: &Policy) -> Vec<Excess> {
    let mut out = Vec::new();
    let mut check =
        |item, ok: bool, what: &str, value: &dyn fmt::Display, field: &str, allowed: String| {
            if !ok {
                out.push(Excess {
                    item,
                    message: format!(
                        "{what} `{value}` is not covered by the policy's `{field}` {allowed}"
                    ),
                });
            }
        };
    // Each requested pattern must be covered by one of the policy's patterns of its kind. The
    // same pattern in both (coverage is reflexive) is found without the costlier `covers`.
    macro_rules! each_covered {
        ($requested:expr, $allowed:expr, $item:expr, $what:expr, $field:expr) => {
            for (i, r) in $requested.iter().enumerate() {
                if !($allowed.contains(r) || $allowed.iter().any(|q| q.covers(r))) {
                    check($item(i), false, $what, r, $field, allowed_list(&$allowed));
                }
            }
        };
    }
    each_covered!(
        perms.fs_read,
        policy.fs_read,
        RequestItem::FsRead,
        "filesystem.read",
        "filesystem.read"
    );
    each_covered!(
        perms.fs_write,
        policy.fs_write,
        RequestItem::FsWrite,
        "filesystem.write",
        "filesystem.write"
    );
    each_covered!(
        perms.domains,
        policy.domains,
        RequestItem::Domain,
        "network domain",
        "network.domains"
    );
    each_covered!(
        perms.listen,
        policy.listen,
        RequestItem::Listen,
        "network.listen",
        "network.listen"
    );
    each_covered!(perms.env, policy.env, RequestItem::Env, "env", "env.allow");
    let commands: Vec<_> = policy.commands.iter().map(|c| c.display()).collect();
    for (i, c) in perms.commands.iter().enumerate() {
        let ok = policy.commands.contains(c);
        check(
            RequestItem::Command(i),
            ok,
            "process command",
            &c.display(),
            "process.commands",
            allowed_list(&commands),
        );
    }
    if perms.process_network && !policy.allow_network {
        out.push(Excess {
            item: RequestItem::ProcessNetwork,
            message: "`process.network = true` is not allowed: the policy's `process.allow_network` is false".to_owned(),
        });
    }
    out.extend(secret_excesses(perms, policy));
    if let Some(m) = limits.memory
        && m > policy.max_memory
    {
        out.push(Excess {
            item: RequestItem::Memory,
            message: format!(
                "memory limit `{m}` exceeds the policy's `limits.max_memory` of `{}`",
                policy.max_memory
            ),
        });
    }
    if let Some(t) = limits.timeout
        && t > policy.max_timeout
    {
        out.push(Excess {
            item: RequestItem::Timeout,
            message: format!(
                "timeout `{}` exceeds the policy's `limits.max_timeout` of `{}`",
                HumanDuration(t),
                HumanDuration(policy.max_timeout)
            ),
        });
    }
    out
}

/// The `secrets` requests `policy` does not cover: a secret it does not define, or hosts
/// outside its `hosts`. With no policy the default one applies, which defines none (SPEC §3:
/// "with no policy, no secret exists").
pub(crate) fn secret_excesses(perms: &Permissions, policy: &Policy) -> Vec<Excess> {
    let mut out = Vec::new();
    for (i, r) in perms.secrets.iter().enumerate() {
        let Some(def) = policy.secrets.iter().find(|d| d.name == r.name) else {
            let defined: Vec<&str> = policy.secrets.iter().map(|d| d.name.as_str()).collect();
            out.push(Excess {
                item: RequestItem::Secret(i),
                message: format!(
                    "secret `{}` is not defined by the policy's `[secrets]` {}",
                    r.name,
                    allowed_list(&defined)
                ),
            });
            continue;
        };
        for h in &r.hosts {
            if !(def.hosts.contains(h) || def.hosts.iter().any(|q| q.covers(h))) {
                out.push(Excess {
                    item: RequestItem::Secret(i),
                    message: format!(
                        "secret `{}` host `{h}` is not covered by the policy's `secrets.{}.hosts` {}",
                        r.name,
                        r.name,
                        allowed_list(&def.hosts)
                    ),
                });
            }
        }
    }
    out
}
