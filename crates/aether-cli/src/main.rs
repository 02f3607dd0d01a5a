//! `aether`: run and check plugin pipelines (SPEC §7).
//!
//! This file only parses arguments, dispatches, and maps outcomes to exit codes in one place:
//! `run` and `exec` 0/1/2, `check` 0/1/2, `verify-log` 0/1/2, `new` and `schema` 0/2.
//! Errors reach the user as one clear sentence (`{:#}`), never as a
//! panic or a backtrace; a closed stdout (`aether check … | head`) exits 0.
#![forbid(unsafe_code)]

mod commands;
mod grouped;
mod progress;
mod render;
mod sarif;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// The system allocator; in a process-tier worker, an allocation refused by its address-space
/// limit ends the step as a memory kill instead of a crash (`aether::worker::Allocator`).
#[global_allocator]
static ALLOCATOR: aether::worker::Allocator = aether::worker::Allocator;

/// The plugin sandbox of AetherScript: runs third-party JavaScript plugins under zero trust.
#[derive(Parser)]
#[command(name = "aether", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a pipeline, then run it.
    Run(commands::run::RunArgs),
    /// Run one plugin once, as a one-step pipeline whose workspace is the current directory.
    Exec(commands::exec::ExecArgs),
    /// Scaffold a plugin directory, or a pipeline and policy for existing plugins.
    New(commands::new::NewArgs),
    /// Validate pipelines or plugin directories without running anything.
    Check(commands::check::CheckArgs),
    /// Pin every file of every plugin a pipeline uses in `aether.lock`.
    Lock(commands::lock::LockArgs),
    /// Generate a minisign key pair for signing plugins.
    Keygen(commands::keygen::KeygenArgs),
    /// Sign a plugin directory (writes `aether-plugin.minisig`).
    Sign(commands::sign::SignArgs),
    /// Verify the hash chain of an `--inspect-security` directory's `events.jsonl`.
    VerifyLog(commands::verify_log::VerifyLogArgs),
    /// Print the JSON Schema (2020-12) of `aether-plugin.json`, `aether-policy.toml` or
    /// `pipeline.yaml`, for editors and CI.
    Schema(commands::schema::SchemaArgs),
    /// Export the pipeline for another engine: `export argo` prints an Argo Workflows
    /// `Workflow` running each step in a pod of its own.
    Export(commands::export::ExportArgs),
}

/// How `run` prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Progress and a summary for a person.
    Human,
    /// One JSON object on stdout, everything else on stderr.
    Json,
}

/// A command's outcome, mapped to the process exit code in [`main`].
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: a step failed (`run`, `exec`), or error-level findings (`check`).
    Failure,
    /// Exit 2: refused before anything ran (`run`, `exec`), unreadable/malformed input
    /// (`check`), or nothing written (`new`).
    Refused,
}

fn main() -> ExitCode {
    // The process tier's zygote is this binary started with a hidden argument: it must take
    // over before anything else runs (no threads, no parsing of the operator's command line).
    aether::worker::run_zygote_if_asked();
    // A panic is a bug in aether, caught where it can be (a step or a host call fails): the
    // user gets one line saying so, not Rust's message about backtraces.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = aether::host::panic_message(info.payload()).unwrap_or_default();
        eprintln!("error: internal error in aether{at}: {what}; please report it");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Exec(args) => commands::exec::exec(args),
        Command::New(args) => commands::new::new(args),
        Command::Check(args) => commands::check::check(args),
        Command::Lock(args) => commands::lock::lock(args),
        Command::Keygen(args) => commands::keygen::keygen(args),
        Command::Sign(args) => commands::sign::sign(args),
        Command::VerifyLog(args) => commands::verify_log::verify_log(args),
        Command::Schema(args) => commands::schema::schema(args),
        Command::Export(args) => commands::export::export(args),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::from(1),
        Ok(Outcome::Refused) => ExitCode::from(2),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
