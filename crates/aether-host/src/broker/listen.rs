//! `network.listen` (SPEC §5): `aether.listen` binds only a [`CheckedListen`] address; the
//! accept loop, the request parsing and the limits live in `crate::inbound`.
//!
//! What it must never do: bind an address the check did not return, or look a name up (listen
//! grants name addresses).

use std::net::SocketAddr;

use aether_policy::{Capability, CheckedListen, Decision};

use super::{Problem, Record, StepHost, overridable, reject_problem, type_error};
use crate::protocol::{HostError, HostValue};

impl StepHost {
    /// The address `aether.listen({hostname, port})` names, checked against
    /// `network.listen`, and whether the grant allowed it (`false`: an `--unsafe` run did,
    /// and recorded it `allowed-unsafe`). A hostname that is neither an IP literal nor
    /// `localhost` is a `TypeError`: listen grants name addresses, and no name is looked up.
    ///
    /// SPEC §5, the grant first: a hostname that names no address is covered by no
    /// `network.listen` entry, so it is a violation like any ungranted address; it is a
    /// `TypeError` only in an `--unsafe` run, which lets the denial through to a bind that
    /// cannot happen.
    pub(super) fn check_listen(
        &self,
        hostname: &str,
        port: u16,
        problem: Problem<'_>,
    ) -> Result<(CheckedListen, bool), HostError> {
        let check = self.grant.check_listen_host(hostname, port);
        let granted = check.is_ok();
        let checked = self.decide(
            (Capability::Network, hostname),
            check,
            overridable(|mode| {
                Some(match aether_policy::parse_listen_host(hostname) {
                    Some(ip) => Ok(CheckedListen::unchecked(SocketAddr::new(ip, port), mode)),
                    None => Err(type_error(format!(
                        "aether.listen: hostname must be an IP address or `localhost`, got `{}`",
                        aether_policy::escape_untrusted(hostname)
                    ))),
                })
            }),
            // Recorded once bound: a bind the system refused (the port is taken) is an
            // error, not a use of the grant.
            Record::ByCaller,
            || reject_problem(problem),
        )?;
        Ok((checked, granted))
    }

    /// `aether.listen`: binds the checked address, then records the use.
    pub(super) fn listen(&self, hostname: &str, port: u16) -> Result<HostValue, HostError> {
        let (checked, granted) = self.check_listen(hostname, port, None)?;
        let id = self.listeners.listen(&checked)?;
        if granted {
            self.event(
                Capability::Network,
                &checked.addr().to_string(),
                Decision::Allowed,
                String::new(),
            );
        }
        Ok(HostValue::Listener { id })
    }

    /// The next request on `listener`, or nothing once the step's time is up.
    pub(super) fn accept(&self, listener: u64) -> Result<HostValue, HostError> {
        Ok(match self.listeners.accept(listener, self.deadline)? {
            Some(accepted) => HostValue::Request {
                id: accepted.id,
                url: format!("http://{}{}", accepted.local, accepted.request.path),
                method: accepted.request.method,
                headers: accepted.request.headers,
                body: accepted.request.body,
            },
            None => HostValue::Unit,
        })
    }

    /// The plugin's answer to request `request`.
    pub(super) fn respond(
        &self,
        request: u64,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<HostValue, HostError> {
        self.listeners.respond(request, status, headers, body)?;
        Ok(HostValue::Unit)
    }
}
