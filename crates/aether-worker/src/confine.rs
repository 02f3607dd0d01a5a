//! The kernel confinement of the zygote and of each worker (`aether_jail::engine`), with its
//! errors as the one-line messages the zygote reports to aether.

use std::time::Duration;

use aether_jail::engine::{self, WorkerLimits};

use crate::zygote::SpawnRequest;

/// Descriptors a worker may hold: its socket, standard streams, and headroom for a duplicate.
const WORKER_OPEN_FILES: u64 = 8;

/// Confines the zygote (see [`engine::confine_zygote`]): no network, no filesystem, no
/// capabilities, a seccomp allowlist. Refuses on a kernel that lacks what this needs
/// (`confine_zygote` checks it without `engine_support`'s forked probe, which cost the zygote a
/// fork of its image and a network namespace made and torn down on every run's critical path).
/// `network` is the namespace made on a thread while the zygote started, if any
/// ([`engine::prepare_network_namespace`]).
pub(crate) fn zygote(network: Option<engine::PreparedNetwork>) -> Result<(), String> {
    engine::confine_zygote_with(network).map_err(|e| e.to_string())
}

/// Confines a freshly forked worker further (see [`engine::confine_worker`]).
pub(crate) fn worker(request: SpawnRequest) -> Result<(), String> {
    engine::confine_worker(&WorkerLimits {
        address_space: request.address_space,
        cpu: Duration::from_secs(request.cpu_seconds),
        open_files: WORKER_OPEN_FILES,
    })
    .map_err(|e| e.to_string())
}
