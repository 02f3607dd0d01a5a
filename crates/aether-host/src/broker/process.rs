//! `process` (SPEC §5): `aether.process.run` spawns only a [`CheckedCommand`], under the
//! kernel confinement `aether-jail` builds from the grant.
//!
//! What it must never do: run a program the check did not return, pass a child a variable the
//! grant does not cover (or any secret's source), or let a child outlive its step.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aether_jail::{ChildSpec, Confinement, JailError, WorkingDir};
use aether_policy::{Capability, CheckedCommand, Decision, PathPattern};

use super::{Problem, Record, StepHost, overridable, reject_problem, type_error};
use crate::protocol::{HostError, HostValue};

/// Processes one `aether.process.run` child may have alive at once, itself and its
/// descendants together (the pids cgroup's limit): room for a shell pipeline, not for a fork
/// bomb.
pub const MAX_CHILD_PROCESSES: u32 = 64;

impl StepHost {
    /// The program `command` names, checked: an absolute path as it is, or a bare name as the
    /// granted command with that file name (resolved through `PATH` when the plugin was loaded).
    pub(super) fn check_command(
        &self,
        command: &str,
        problem: Problem<'_>,
    ) -> Result<CheckedCommand, HostError> {
        let commands = &self.grant.permissions().commands;
        // SPEC §5, the grant first: the command resolves as POSIX does (`/..` is `/`) and is
        // checked whatever it holds; a NUL byte is a `TypeError` only once it is granted (no
        // granted command has one, so only an `--unsafe` run gets that far).
        let path = if command.contains('/') {
            aether_policy::resolve_lexically(Path::new(command), self.workspace.path())
                .unwrap_or_else(|| PathBuf::from(command))
        } else {
            commands
                .iter()
                .find(|c| c.file_name().is_some_and(|n| n == command))
                .cloned()
                .unwrap_or_else(|| PathBuf::from(command))
        };
        let malformed = || {
            if command.contains('\0') {
                Err(type_error(format!(
                    "invalid command `{}`: it contains a NUL byte",
                    command.escape_debug()
                )))
            } else {
                reject_problem(problem)
            }
        };
        self.decide(
            (Capability::Process, command),
            self.grant.check_command(&path),
            // A bare name that names no granted command names no file: even `--unsafe`
            // cannot run it.
            overridable(|mode| {
                path.is_absolute()
                    .then(|| Ok(CheckedCommand::unchecked(&path, mode)))
            }),
            Record::Allowed,
            malformed,
        )
    }

    /// Runs one child process under the kernel confinement the grant allows (SPEC §5): the
    /// granted variables only, the plugin's filesystem grants (widened to directories: the
    /// kernel cannot follow a glob), no network unless `process.network`, the memory ceiling,
    /// killed at `timeout_ms` or the step's deadline.
    pub(super) fn run_child(
        &self,
        command: &str,
        args: Vec<String>,
        stdin: Vec<u8>,
        timeout_ms: Option<u64>,
        cwd: Option<&str>,
    ) -> Result<HostValue, HostError> {
        let program = self.check_command(command, None)?;
        // The workspace, or the `cwd` the plugin named as the read check returned it: never
        // a path no check saw (a `cwd` outside the read grant is a `PermissionDenied`).
        let cwd = match cwd {
            None => WorkingDir::Workspace(self.workspace.clone()),
            Some(dir) => WorkingDir::Checked(self.check_read(dir, None)?),
        };
        let unsafe_run = self.unsafe_mode.is_some();
        let env = std::env::vars_os()
            .filter(|(name, _)| {
                // A secret's source variable never reaches a child, `--unsafe` or not.
                let secret = name.to_str().is_some_and(|n| self.grant.is_secret_var(n));
                !secret
                    && (unsafe_run
                        || name
                            .to_str()
                            .is_some_and(|n| self.grant.check_env(n).is_ok()))
            })
            .collect();
        let perms = self.grant.permissions();
        let dirs = |patterns: &[PathPattern]| -> Vec<PathBuf> {
            patterns
                .iter()
                .map(PathPattern::base_dir)
                .filter(|d| d.exists())
                .collect()
        };
        let memory = self.grant.limits().memory.0;
        let mut confinement = Confinement {
            read: [dirs(&perms.fs_read), dirs(&perms.fs_write)].concat(),
            write: dirs(&perms.fs_write),
            network: perms.process_network,
            memory,
            max_processes: MAX_CHILD_PROCESSES,
            accept_weaker: self.grant.accept_weaker_confinement(),
        };
        if unsafe_run {
            // `--unsafe`: no checks (SPEC §6); the child is still killed with its step.
            confinement.read = vec![PathBuf::from("/")];
            confinement.write = vec![PathBuf::from("/")];
            confinement.network = true;
            confinement.accept_weaker = true;
        }
        let deadline = match timeout_ms {
            Some(ms) => self.deadline.min(aether_policy::deadline_after(
                Instant::now(),
                Duration::from_millis(ms),
            )),
            None => self.deadline,
        };
        // Captured output counts toward the memory ceiling (SPEC §5), with the overlay.
        let room = memory.saturating_sub(self.overlay().bytes());
        let spec = ChildSpec {
            program,
            args: args.into_iter().map(OsString::from).collect(),
            env,
            cwd,
            stdin,
            deadline,
            max_output: usize::try_from(room).unwrap_or(usize::MAX),
            confinement,
        };
        match aether_jail::run(&spec, &self.children) {
            Ok(exit) => {
                for feature in &exit.weakened {
                    self.recorder.log(
                        &self.who.step,
                        "warn",
                        &format!(
                            "child process `{command}` ran with weaker confinement: the kernel lacks {feature}"
                        ),
                    );
                }
                Ok(HostValue::Exit {
                    code: exit.code,
                    signal: exit.signal.map(str::to_owned),
                    stdout: String::from_utf8_lossy(&exit.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&exit.stderr).into_owned(),
                })
            }
            Err(JailError::OutputLimit { .. }) => {
                let message = format!("memory limit of {} exceeded", self.grant.limits().memory);
                self.event(
                    Capability::LimitMemory,
                    command,
                    Decision::Killed,
                    format!("{message}: the output of `{command}`"),
                );
                Err(HostError::LimitExceeded {
                    capability: Capability::LimitMemory,
                    message,
                })
            }
            Err(e) => Err(HostError::Failed {
                type_error: false,
                message: e.to_string(),
            }),
        }
    }
}
