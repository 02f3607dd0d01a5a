//! `network.domains` (SPEC §5): `fetch` through the step's [`crate::gateway::Gateway`], which
//! checks every hop's scheme, host and each address it connects to (a
//! [`aether_policy::CheckedAddr`] is the only address a connection goes to), and substitutes
//! secrets only where the grant allows; this module records what it did.
//!
//! What it must never do: let a request leave unrecorded, or record a secret's value.

use std::time::{Duration, Instant, SystemTime};

use aether_policy::{Capability, Decision, Denial, UnsafeMode};

use super::{Record, StepHost, overridable, type_error};
use crate::events::{Event, Traffic};
use crate::gateway::{Decide, FetchError, FetchRequest, Redirect};
use crate::protocol::{HostError, HostValue};

impl StepHost {
    /// `fetch(url, init)`. SPEC §5, the grant first: an unknown `redirect` is a `TypeError`
    /// only once the gateway has checked the URL (see `FetchRequest::malformed`).
    pub(super) fn fetch_call(
        &self,
        url: String,
        method: String,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
        redirect: &str,
        timeout_ms: Option<u64>,
    ) -> Result<HostValue, HostError> {
        let (redirect, malformed) = match redirect {
            "follow" | "" => (Redirect::Follow, None),
            "manual" => (Redirect::Manual, None),
            "error" => (Redirect::Error, None),
            other => (
                Redirect::Follow,
                Some(format!(
                    "fetch: `redirect` must be \"follow\", \"manual\" or \"error\", got `{}`",
                    aether_policy::escape_untrusted(other)
                )),
            ),
        };
        let request = FetchRequest {
            url,
            method,
            headers,
            body,
            redirect,
            malformed,
        };
        self.fetch(request, timeout_ms)
    }

    /// One fetch through the gateway, never past the step's deadline nor `timeout_ms`; every
    /// request sent and every refusal becomes an event.
    pub(super) fn fetch(
        &self,
        request: FetchRequest,
        timeout_ms: Option<u64>,
    ) -> Result<HostValue, HostError> {
        let deadline = match timeout_ms {
            Some(ms) => self.deadline.min(aether_policy::deadline_after(
                Instant::now(),
                Duration::from_millis(ms),
            )),
            None => self.deadline,
        };
        let bytes_sent = request.body.as_ref().map_or(0, |b| b.len() as u64);
        let traced = self.gateway.fetch_traced(
            &self.grant,
            request,
            deadline,
            self,
            &self.placeholders.all(),
        );
        // Every request that left is recorded, whether the fetch then succeeded or not.
        let received = traced.result.as_ref().map_or(0, |r| r.body.len() as u64);
        let last = traced.hops.len().saturating_sub(1);
        for (i, hop) in traced.hops.iter().enumerate() {
            self.recorder.record(Event {
                time: SystemTime::now(),
                step: self.who.step.clone(),
                plugin: self.who.plugin.clone(),
                capability: Capability::Network,
                target: hop.url.clone(),
                decision: Decision::Allowed,
                reason: String::new(),
                traffic: Some(Traffic {
                    address: hop.addr,
                    status: hop.status,
                    bytes_sent: if i == 0 { bytes_sent } else { 0 },
                    bytes_received: if i == last { received } else { 0 },
                    inbound: None,
                }),
            });
            // Which secret went to which host: names, never values.
            for sent in &hop.secrets {
                self.event(Capability::Secrets, sent, Decision::Allowed, String::new());
            }
        }
        match traced.result {
            Ok(response) => Ok(HostValue::Response {
                status: response.status,
                status_text: response.status_text,
                url: response.url,
                redirected: response.hops.len() > 1,
                headers: response.headers,
                body: response.body,
            }),
            Err(FetchError::Denied { url, denial }) => {
                let message = denial.to_string();
                // A secret's denial names the secret and the host (never the value); the
                // network's names the URL.
                let target = match denial.capability {
                    Capability::Secrets => denial.target,
                    _ => url,
                };
                Err(self.refuse(denial.capability, target, message))
            }
            Err(FetchError::Type(message)) => Err(type_error(message)),
            Err(FetchError::Timeout) => Err(type_error(match timeout_ms {
                Some(ms) if Instant::now() < self.deadline => {
                    format!("fetch timed out after {ms} ms (`timeoutMs`)")
                }
                _ => "fetch timed out: the step's time is up".to_owned(),
            })),
        }
    }
}

/// The gateway's checks of each hop (scheme, host, every address) are decided by the step's one
/// decision path, like every other capability's: an `--unsafe` run overrides a denial there and
/// records it `allowed-unsafe` when it happens. A hop allowed is recorded once sent, with its
/// traffic ([`StepHost::fetch`]); a hop refused, with its URL, after the requests that left
/// before it.
impl Decide for StepHost {
    fn decide<W>(
        &self,
        url: &str,
        check: Result<W, Denial>,
        unchecked: impl FnOnce(&UnsafeMode) -> W,
    ) -> Result<W, FetchError> {
        self.decide_as(
            (Capability::Network, url),
            check,
            overridable(|mode| Some(Ok(unchecked(mode)))),
            Record::ByCaller,
            || Ok(()),
            |denial| FetchError::Denied {
                url: url.to_owned(),
                denial,
            },
        )
    }
}
