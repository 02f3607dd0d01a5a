//! Loading: a pipeline's workspace ([`Workspace::load`]), and policies and manifests parsed
//! from text with the same validation as from files.

use std::path::{Path, PathBuf};

use aether_manifest::{FileError, Manifest, PolicyFile, SourceFile};

use crate::workspace::{Analysis, Finding, Level, Loaded, Workspace};

/// How to load a workspace. Defaults: the pipeline's own `policy:`, a safe run, `aether.lock`
/// checked when present, the run gate's code analysis, the clock's "now" for execution windows.
///
/// ```
/// let options = aether::LoadOptions { frozen: true, ..Default::default() };
/// assert!(options.policy.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The policy file instead of the pipeline's `policy:` key (`--policy`).
    pub policy: Option<PathBuf>,
    /// Validate for an unsafe run: policy excess is a warning, not an error (`--unsafe`).
    pub unsafe_run: bool,
    /// Refuse a pipeline without `aether.lock` beside it (`--frozen`).
    pub frozen: bool,
    /// Which code findings to compute: [`Analysis::RunGate`] (what refuses a run) or
    /// [`Analysis::Full`] (every rule, as `aether check`).
    pub analysis: Analysis,
    /// "Now" for the execution windows (default: the system clock when loading).
    pub now: Option<jiff::Timestamp>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            policy: None,
            unsafe_run: false,
            frozen: false,
            analysis: Analysis::RunGate,
            now: None,
        }
    }
}

/// Why a workspace cannot run: every problem found, at once (never only the first).
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
#[non_exhaustive]
pub struct LoadError {
    /// Unreadable or malformed files, each with its file, line and column.
    pub malformed: Vec<FileError>,
    /// Findings (policy excess, graph errors, integrity, windows...), warnings included.
    pub findings: Vec<Finding>,
}

impl LoadError {
    fn describe(&self) -> String {
        let refusing = self
            .findings
            .iter()
            .filter(|f| f.level == Level::Error || f.rule == "window");
        let mut all: Vec<String> = self.malformed.iter().map(ToString::to_string).collect();
        all.extend(refusing.map(ToString::to_string));
        match all.as_slice() {
            [] => "the workspace is invalid".to_owned(),
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} (and {} more problems)", rest.len()),
        }
    }
}

impl Workspace {
    /// Validates the pipeline at `path` and everything it uses: its policy, every plugin's
    /// manifest, grant, lock entry, signature and code, the graph and the templates, and the
    /// execution windows. A workspace that can run comes back with its warnings
    /// ([`Workspace::findings`]); otherwise every problem comes back at once.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # aether::doc_fixture(dir.path())?;
    /// let ws = aether::Workspace::load(dir.path().join("pipeline.yaml"), aether::LoadOptions::default())?;
    /// assert_eq!(ws.steps[0].decl.id, "greet");
    ///
    /// std::fs::write(dir.path().join("broken.yaml"), "name: x\nsteps: 3\n")?;
    /// let err = aether::Workspace::load(dir.path().join("broken.yaml"), Default::default()).unwrap_err();
    /// assert_eq!(err.malformed[0].loc.map(|l| l.line), Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(path: impl AsRef<Path>, options: LoadOptions) -> Result<Workspace, LoadError> {
        let loaded = Workspace::check(path, &options);
        let refuses = loaded.refuses_run();
        match loaded.value {
            Some(mut ws) if !refuses => {
                ws.findings = loaded.findings;
                Ok(ws)
            }
            _ => Err(LoadError {
                malformed: loaded.malformed,
                findings: loaded.findings,
            }),
        }
    }

    /// Validates as [`Workspace::load`] does and returns everything found, the workspace too
    /// when nothing is malformed (`aether check PIPELINE`): [`Loaded::refuses_run`] says
    /// whether it may run.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # aether::doc_fixture(dir.path())?;
    /// let options = aether::LoadOptions { analysis: aether::Analysis::Full, ..Default::default() };
    /// let loaded = aether::Workspace::check(dir.path().join("pipeline.yaml"), &options);
    /// assert!(loaded.malformed.is_empty() && !loaded.refuses_run());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(path: impl AsRef<Path>, options: &LoadOptions) -> Loaded<Workspace> {
        crate::workspace::load_pipeline(
            path.as_ref(),
            options.policy.as_deref(),
            options.now.unwrap_or_else(jiff::Timestamp::now),
            options.unsafe_run,
            options.analysis,
            options.frozen,
        )
    }

    /// The warnings found when it was loaded ([`Workspace::load`]).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
}

/// Parses `aether-policy.toml` text (`path` names it in messages; relative patterns resolve
/// against `workspace`), with the validation of a policy file: every error at once. The result
/// holds the [`Policy`](crate::Policy) and the `[integrity]` section's signature requirements;
/// give it whole to [`SandboxBuilder::policy`](crate::SandboxBuilder::policy).
///
/// ```
/// let file = aether::parse_policy("aether-policy.toml", "[filesystem]\nread = [\"./data/**\"]\n", std::path::Path::new("/srv"))?;
/// assert_eq!(file.policy.fs_read.len(), 1);
/// assert!(!file.integrity.require_signatures);
/// # Ok::<(), Vec<aether::manifest::FileError>>(())
/// ```
pub fn parse_policy(
    path: impl AsRef<Path>,
    text: &str,
    workspace: &Path,
) -> Result<PolicyFile, Vec<FileError>> {
    let file =
        SourceFile::from_bytes(path.as_ref(), text.as_bytes().to_vec()).map_err(|e| vec![e])?;
    aether_manifest::parse_policy(&file, workspace)
}

/// Parses `aether-plugin.json` text of the plugin in `dir` (relative patterns resolve against
/// `workspace`), with the validation of a manifest file: every error at once.
///
/// ```
/// let m = aether::parse_manifest(std::path::Path::new("/srv/p"), r#"{ "name": "p", "version": "1.0.0" }"#, std::path::Path::new("/srv"))?;
/// assert_eq!(m.name, "p");
/// # Ok::<(), Vec<aether::manifest::FileError>>(())
/// ```
pub fn parse_manifest(
    dir: &Path,
    text: &str,
    workspace: &Path,
) -> Result<Manifest, Vec<FileError>> {
    let path = dir.join(aether_manifest::MANIFEST_FILE);
    let file = SourceFile::from_bytes(&path, text.as_bytes().to_vec()).map_err(|e| vec![e])?;
    Manifest::parse(file, dir, workspace)
}
