//! `aether lock PIPELINE [--update]`: pin every file of every plugin the pipeline uses in
//! `aether.lock` beside it (SPEC §9).
//!
//! Without `--update` an existing lock is never changed: if the plugins still match it, exit
//! 0; if not, every difference is listed and nothing is written (exit 2), so that a change is
//! accepted only by someone who asked to (`--update`, after review). The lock is written
//! atomically. Exit 2 too when the pipeline or a plugin cannot be read.

use std::io::Write;
use std::path::PathBuf;

use aether::integrity::Lockfile;
use aether::manifest::{FileError, PipelineFile};
use clap::Args;

use crate::{Outcome, render};
use aether::integrity::{read_lock, write_atomic};

/// Arguments of `aether lock`.
#[derive(Args)]
pub struct LockArgs {
    /// The pipeline file.
    #[arg(value_name = "PIPELINE")]
    pipeline: PathBuf,
    /// Rewrite an existing lock that no longer matches (after reviewing the changes).
    #[arg(long)]
    update: bool,
}

/// Runs `aether lock`.
pub fn lock(args: LockArgs) -> anyhow::Result<Outcome> {
    let mut stderr = std::io::stderr().lock();
    let refused = |errors: &[FileError]| -> anyhow::Result<Outcome> {
        render::print_diagnostics(errors, &[])?;
        writeln!(std::io::stderr(), "refused: nothing was written")?;
        Ok(Outcome::Refused)
    };
    let pipeline = match PipelineFile::load(&args.pipeline) {
        Ok(p) => p,
        Err(errors) => return refused(&errors),
    };
    let (path, found) = match aether::integrity::pin_plugins(&pipeline) {
        Ok(pinned) => pinned,
        Err(errors) => return refused(&errors),
    };
    let new = Lockfile::new(found.iter().cloned());
    let (old, differences) = match read_lock(&path) {
        Ok(Some(old)) => {
            let differences = old.differences(&found);
            (Some(old), differences)
        }
        Ok(None) => (None, Vec::new()),
        Err(errors) if !args.update => return refused(&errors),
        Err(_) => (None, Vec::new()),
    };
    if old.as_ref() == Some(&new) {
        writeln!(
            stderr,
            "`{}` is up to date: {}",
            path.display(),
            count(found.len(), "plugin")
        )?;
        return Ok(Outcome::Success);
    }
    if old.is_some() && !args.update {
        for d in &differences {
            writeln!(stderr, "changed: {}", render::terminal_safe(&d.to_string()))?;
        }
        writeln!(
            stderr,
            "error: the plugins no longer match `{}`; nothing was written\n\nhint: review the changes, then run `aether lock --update {}`",
            path.display(),
            args.pipeline.display()
        )?;
        return Ok(Outcome::Refused);
    }
    for d in &differences {
        writeln!(
            stderr,
            "accepted: {}",
            render::terminal_safe(&d.to_string())
        )?;
    }
    let text = new.render()?;
    if let Err(e) = write_atomic(&path, text.as_bytes()) {
        writeln!(
            stderr,
            "error: cannot write `{}`: {e}\n\nhint: check that the pipeline's directory is writable",
            path.display()
        )?;
        return Ok(Outcome::Refused);
    }
    let files: usize = found.iter().map(|p| p.files.files().len()).sum();
    writeln!(
        stderr,
        "wrote `{}`: {}, {} pinned",
        path.display(),
        count(found.len(), "plugin"),
        count(files, "file")
    )?;
    Ok(Outcome::Success)
}

/// `1 plugin`, `2 plugins`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
