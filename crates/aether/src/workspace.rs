//! Whole-workspace validation: the pipeline, its policy, every manifest, the graph and the
//! templates, checked together before anything runs (SPEC §4).
//!
//! Two kinds of problems come out, kept apart because the CLI maps them to different exit
//! codes: [`Loaded::malformed`] (files that cannot be read or parsed, schema errors — `check`
//! exits 2) and [`Loaded::findings`] (policy excess, graph errors, limits raised, windows —
//! `check` exits 1 for error-level ones). `run` refuses on either.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aether_analyze::Resolution;
use aether_host::bundle::{PluginBundle, ResolveError, SIGNATURE_FILE};
use aether_host::resolve::ResolveMode;
use aether_manifest::{
    FileError, Loc, MANIFEST_FILE, Manifest, PipelineFile, PolicyFile, SourceFile, StepDecl,
};
use aether_policy::{Capability, Grant, Policy, RequestItem, RiskClass, Tier, TierReason};

use aether_pipeline::{Graph, GraphError, Plan, StepNode, Template};

/// The rule id of execution-window findings.
const WINDOW_RULE: &str = "window";

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Worth a look; never stops a run by itself.
    Warning,
    /// Refuses a run; `check` exits 1.
    Error,
}

impl Level {
    /// `note`, `warning` or `error` (SARIF's names).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl From<aether_analyze::Level> for Level {
    fn from(level: aether_analyze::Level) -> Level {
        match level {
            aether_analyze::Level::Error => Level::Error,
            aether_analyze::Level::Warning => Level::Warning,
        }
    }
}

/// One problem found by validation, with a stable rule id.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Stable rule id (`policy-excess`, `graph`, `step-limit`, `window`).
    pub rule: &'static str,
    /// Severity.
    pub level: Level,
    /// What is wrong and what to do.
    pub message: String,
    /// The plugin concerned, if any.
    pub plugin: Option<String>,
    /// The capability concerned, if any.
    pub capability: Option<Capability>,
    /// The pattern, name or value concerned, if any.
    pub target: Option<String>,
    /// The file at fault.
    pub file: Option<PathBuf>,
    /// Where in it.
    pub loc: Option<Loc>,
}

impl Finding {
    fn at(rule: &'static str, file: &Path, loc: Option<Loc>, message: String) -> Finding {
        Finding {
            rule,
            level: Level::Error,
            message,
            plugin: None,
            capability: None,
            target: None,
            file: Some(file.to_path_buf()),
            loc,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(loc) = self.loc {
                write!(f, ":{}:{}", loc.line, loc.col)?;
            }
            write!(f, ": ")?;
        }
        f.write_str(&self.message)
    }
}

/// A plugin as validated: its manifest, its grant before any step lowers it, and its class.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// The manifest.
    pub manifest: Manifest,
    /// What the plugin may do under the policy (limits: the manifest's, capped by the policy).
    pub grant: Grant,
    /// Its risk class (SPEC §2).
    pub risk: RiskClass,
    /// The isolation tier the policy assigns it.
    pub tier: Tier,
    /// Why it has that tier (`aether check` says it).
    pub tier_reason: TierReason,
    /// Its files, read once: what is analyzed is what runs.
    pub bundle: Arc<PluginBundle>,
}

/// A step ready to run: which plugin, with which grant and tier.
#[derive(Debug, Clone)]
pub struct StepInfo {
    /// The step as declared.
    pub decl: StepDecl,
    /// Index into [`Workspace::plugins`].
    pub plugin: usize,
    /// The plugin's grant with the step's lowered limits.
    pub grant: Grant,
    /// The step's tier: the plugin's, raised by `isolation: process`.
    pub tier: Tier,
    /// Why it has that tier: its plugin's reason, or [`TierReason::StepIsolation`] when the
    /// step's `isolation: process` raised it.
    pub tier_reason: TierReason,
}

/// A fully validated pipeline workspace.
#[derive(Debug)]
pub struct Workspace {
    /// The pipeline file.
    pub pipeline: PipelineFile,
    /// Whether the policy allows `--unsafe` (`[unsafe] allowed`; always without a policy).
    pub unsafe_allowed: bool,
    /// The distinct plugins, in order of first use.
    pub plugins: Vec<PluginInfo>,
    /// The steps, in file order.
    pub steps: Vec<StepInfo>,
    /// The graph and templates, ready for the scheduler.
    pub plan: Plan,
    /// The policy's execution windows (SPEC §3), checked when the run starts and again when
    /// each step starts. Empty without a policy.
    pub windows: Vec<aether_policy::Window>,
    /// The warnings found when it was loaded (set by [`Workspace::load`]).
    pub(crate) findings: Vec<Finding>,
    /// The process tier's zygote, started while the workspace was validated
    /// ([`load_pipeline_for_run`]); the run takes it.
    pub(crate) zygote: std::sync::Mutex<Option<aether_worker::StartingZygote>>,
}

/// What validation found.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The validated value, when nothing malformed was found (findings may still exist).
    pub value: Option<T>,
    /// Unreadable or malformed files.
    pub malformed: Vec<FileError>,
    /// Everything else.
    pub findings: Vec<Finding>,
}

impl<T> Default for Loaded<T> {
    fn default() -> Self {
        Loaded {
            value: None,
            malformed: Vec::new(),
            findings: Vec::new(),
        }
    }
}

impl<T> Loaded<T> {
    /// Whether a run must be refused: anything malformed, any error-level finding, or a plugin
    /// outside its execution window.
    pub fn refuses_run(&self) -> bool {
        !self.malformed.is_empty()
            || self
                .findings
                .iter()
                .any(|f| f.level == Level::Error || f.rule == WINDOW_RULE)
    }
}

/// Loads the policy file from `override_path`, else `declared` (the pipeline's `policy:` key).
fn load_policy(
    override_path: Option<&Path>,
    declared: Option<&Path>,
    workspace: &Path,
    malformed: &mut Vec<FileError>,
) -> Option<(PathBuf, PolicyFile)> {
    let path = override_path.or(declared)?;
    match aether_manifest::load_policy(path, workspace) {
        Ok(p) => Some((path.to_path_buf(), p)),
        Err(errors) => {
            malformed.extend(errors);
            None
        }
    }
}

/// Reads the plugin directory `dir` (a real path) once: every file into its bundle, and the
/// manifest parsed from the bundle's bytes of `aether-plugin.json` (never read again from
/// disk), so that what the lock hashes, what is validated and what runs are the same bytes.
pub fn read_plugin(
    dir: &Path,
    workspace: &Path,
) -> Result<(Arc<PluginBundle>, Manifest), Vec<FileError>> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let bundle = PluginBundle::load(dir).map_err(|e| {
        vec![FileError::new(
            &manifest_path,
            None,
            format!("cannot read the plugin: {e}"),
        )]
    })?;
    let bytes = bundle
        .files()
        .find(|(name, _)| *name == MANIFEST_FILE)
        .map(|(_, bytes)| bytes.to_vec())
        .ok_or_else(|| {
            vec![FileError::new(
                &manifest_path,
                None,
                "cannot read the file: no such file in the plugin directory (a symlink out of it does not count)",
            )]
        })?;
    let file = SourceFile::from_bytes(&manifest_path, bytes).map_err(|e| vec![e])?;
    let manifest = Manifest::parse(file, dir, workspace)?;
    Ok((Arc::new(bundle), manifest))
}

/// Validates one plugin against the policy: manifest excesses become findings, and the
/// plugin gets no grant (`None`).
fn plugin_info(
    manifest: Manifest,
    bundle: Arc<PluginBundle>,
    policy: Option<&Policy>,
    unsafe_run: bool,
    findings: &mut Vec<Finding>,
) -> Option<PluginInfo> {
    confinement_findings(&manifest, findings);
    let risk = RiskClass::of(&manifest.permissions);
    let (tier, tier_reason) = match policy {
        Some(p) => p.tier_choice(risk),
        None if risk == RiskClass::High => (Tier::Process, TierReason::NoPolicy),
        None => (Tier::Thread, TierReason::NoPolicy),
    };
    if unsafe_run {
        // `--unsafe`: excesses are reported, not refused; the broker records each would-be
        // violation as `allowed-unsafe`. The thread tier, as SPEC §6 says.
        let mut excess = Vec::new();
        if let Some(p) = policy {
            for e in aether_policy::excesses(&manifest.permissions, &manifest.limits, p) {
                let mut f = excess_finding(&manifest, &e);
                f.level = Level::Warning;
                excess.push(f);
            }
        }
        findings.extend(excess);
        let mut perms = manifest.permissions.clone();
        let requested = std::mem::take(&mut perms.secrets);
        let grant = Grant::new(perms, None, &manifest.limits)
            .ok()?
            .with_policy_secrets(&requested, policy);
        return Some(PluginInfo {
            manifest,
            grant,
            risk,
            tier: Tier::Thread,
            tier_reason: TierReason::Unsafe,
            bundle,
        });
    }
    match Grant::new(manifest.permissions.clone(), policy, &manifest.limits) {
        Ok(grant) => Some(PluginInfo {
            manifest,
            grant,
            risk,
            tier,
            tier_reason,
            bundle,
        }),
        Err(excesses) => {
            findings.extend(excesses.iter().map(|e| excess_finding(&manifest, e)));
            None
        }
    }
}

/// What the code analysis is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Analysis {
    /// `aether check`: every finding of every rule.
    Full,
    /// `aether run`: only what refuses a run (SPEC §4: syntax errors, and static imports that
    /// would be `module` violations); the rest is enforced call by call.
    RunGate,
}

/// Runs `f` on the analyzer's input for `info`'s plugin: its files read once, the runtime's own
/// resolver (SPEC §5), its grant.
fn with_analysis_input<R>(
    info: &PluginInfo,
    workspace: &Path,
    f: impl FnOnce(&aether_analyze::Input<'_>) -> R,
) -> R {
    let bundle = &info.bundle;
    let modules = |name: &str| {
        (name != SIGNATURE_FILE)
            .then(|| bundle.file_bytes(name))
            .flatten()
            .map(<[u8]>::to_vec)
    };
    // The runtime's own resolver (SPEC §5): what is analyzed is what would be loaded.
    let resolution = |result: Result<aether_host::resolve::Resolved, ResolveError>| match result {
        Ok(resolved) => Resolution::Module(resolved.name),
        Err(e) => match aether_host::broker::module_denial(&e) {
            Some(why) => Resolution::Blocked(why),
            None => Resolution::NotFound,
        },
    };
    let resolve = |specifier: &str, referrer: &str| {
        resolution(bundle.resolve_module(specifier, Some(referrer), ResolveMode::Import))
    };
    let require = |specifier: &str, referrer: &str| {
        resolution(bundle.resolve_module(specifier, Some(referrer), ResolveMode::Require))
    };
    let kind = |name: &str| {
        let bytes = bundle.file_bytes(name).unwrap_or_default();
        bundle.kind_of(name, bytes, ResolveMode::Import)
    };
    f(&aether_analyze::Input {
        main: &info.manifest.main,
        modules: &modules,
        resolve: &resolve,
        require: &require,
        kind: &kind,
        grant: &info.grant,
        workspace,
    })
}

/// `aether check --suggest` for `info`'s plugin (issue 24): the narrowest permissions covering
/// what the analysis sees, and the difference with its manifest.
pub fn suggest_permissions(info: &PluginInfo, workspace: &Path) -> aether_analyze::Suggestion {
    with_analysis_input(info, workspace, aether_analyze::suggest)
}

/// The code findings of `info`'s plugin (`aether-analyze` over the files read once): syntax
/// errors are malformed input (exit 2), the rest findings at the module's line and column.
fn code_findings(
    info: &PluginInfo,
    workspace: &Path,
    analysis: Analysis,
    findings: &mut Vec<Finding>,
    malformed: &mut Vec<FileError>,
) {
    // A run needs only the findings that refuse it, which one pass of the analysis finds.
    let found = match analysis {
        Analysis::Full => with_analysis_input(info, workspace, aether_analyze::analyze),
        Analysis::RunGate => with_analysis_input(info, workspace, aether_analyze::run_gate),
    };
    for f in found {
        let mut file = info.manifest.dir.join(&f.module);
        let mut loc = Some(Loc {
            line: f.line,
            col: f.column,
        });
        // An unused grant is the manifest's business: point at the request itself.
        if f.rule == "capability-unused"
            && let Some(item) = f.capability.and_then(first_request)
        {
            file = info.manifest.file.path.clone();
            loc = info.manifest.location_of(item);
        }
        if f.rule == "syntax" {
            malformed.push(FileError::new(&file, loc, f.message));
            continue;
        }
        findings.push(Finding {
            rule: f.rule,
            level: f.level.into(),
            message: f.message,
            plugin: Some(info.manifest.name.clone()),
            capability: f.capability,
            target: f.target,
            file: Some(file),
            loc,
        });
    }
}

/// The manifest request that grants `capability` first, for pointing at it.
fn first_request(capability: Capability) -> Option<RequestItem> {
    Some(match capability {
        Capability::FilesystemRead => RequestItem::FsRead(0),
        Capability::FilesystemWrite => RequestItem::FsWrite(0),
        Capability::Network => RequestItem::Domain(0),
        Capability::Env => RequestItem::Env(0),
        Capability::Process => RequestItem::Command(0),
        _ => return None,
    })
}

/// `process-confinement` warnings (SPEC §2): the kernel cannot hold a child process to a glob,
/// so a plugin that runs commands gives its children the whole directory beneath each
/// pattern's wildcard-free prefix; warn where that is wider than the pattern.
fn confinement_findings(manifest: &Manifest, out: &mut Vec<Finding>) {
    let p = &manifest.permissions;
    if p.commands.is_empty() {
        return;
    }
    let reads = p
        .fs_read
        .iter()
        .enumerate()
        .map(|(i, x)| (RequestItem::FsRead(i), x, "read"));
    let writes = p
        .fs_write
        .iter()
        .enumerate()
        .map(|(i, x)| (RequestItem::FsWrite(i), x, "write"));
    for (item, pattern, verb) in reads.chain(writes) {
        if pattern.is_whole_subtree() {
            continue;
        }
        let (capability, target) = describe_item(manifest, item);
        let mut f = Finding::at(
            "process-confinement",
            &manifest.file.path,
            manifest.location_of(item),
            format!(
                "child processes of `{}` may {verb} everything under `{}`, wider than `{}`: the kernel cannot hold a child to a glob\n\nhint: use a directory pattern (`dir/**`) or exact paths if the children must not see the rest",
                manifest.name,
                pattern.base_dir().display(),
                pattern.source()
            ),
        );
        f.level = Level::Warning;
        f.plugin = Some(manifest.name.clone());
        f.capability = capability;
        f.target = target;
        out.push(f);
    }
}

/// A `policy-excess` finding at the request's place in the manifest.
fn excess_finding(manifest: &Manifest, excess: &aether_policy::Excess) -> Finding {
    let (capability, target) = describe_item(manifest, excess.item);
    let mut f = Finding::at(
        "policy-excess",
        &manifest.file.path,
        manifest.location_of(excess.item),
        format!(
            "{}\n\nhint: narrow this request in the manifest, or ask the operator to widen the policy",
            excess.message
        ),
    );
    f.plugin = Some(manifest.name.clone());
    f.capability = capability;
    f.target = target;
    f
}

/// The capability and the requested value an excess is about.
fn describe_item(m: &Manifest, item: RequestItem) -> (Option<Capability>, Option<String>) {
    let p = &m.permissions;
    match item {
        RequestItem::FsRead(i) => (
            Some(Capability::FilesystemRead),
            p.fs_read.get(i).map(|x| x.source().to_owned()),
        ),
        RequestItem::FsWrite(i) => (
            Some(Capability::FilesystemWrite),
            p.fs_write.get(i).map(|x| x.source().to_owned()),
        ),
        RequestItem::Domain(i) => (
            Some(Capability::Network),
            p.domains.get(i).map(ToString::to_string),
        ),
        RequestItem::Listen(i) => (
            Some(Capability::Network),
            p.listen.get(i).map(ToString::to_string),
        ),
        RequestItem::Env(i) => (Some(Capability::Env), p.env.get(i).map(ToString::to_string)),
        RequestItem::Command(i) => (
            Some(Capability::Process),
            p.commands.get(i).map(|c| c.display().to_string()),
        ),
        RequestItem::Secret(i) => (
            Some(Capability::Secrets),
            p.secrets.get(i).map(|s| s.name.clone()),
        ),
        RequestItem::ProcessNetwork => (
            Some(Capability::Process),
            Some("process.network".to_owned()),
        ),
        RequestItem::Memory => (
            Some(Capability::LimitMemory),
            m.limits.memory.map(|v| v.to_string()),
        ),
        RequestItem::Timeout => (
            Some(Capability::LimitTimeout),
            m.limits
                .timeout
                .map(|v| aether_policy::HumanDuration(v).to_string()),
        ),
    }
}

/// Validates a pipeline and everything it uses. `policy_override` is `--policy`; `frozen`
/// refuses a pipeline without `aether.lock`.
pub fn load_pipeline(
    path: &Path,
    policy_override: Option<&Path>,
    now: jiff::Timestamp,
    unsafe_run: bool,
    analysis: Analysis,
    frozen: bool,
) -> Loaded<Workspace> {
    match PipelineFile::load(path) {
        Ok(pipeline) => {
            load_workspace(pipeline, policy_override, now, unsafe_run, analysis, frozen)
        }
        Err(malformed) => Loaded {
            malformed,
            ..Loaded::default()
        },
    }
}

/// As [`load_pipeline`] with [`Analysis::RunGate`], for a run that follows at once on this
/// thread (`aether run`): as soon as a step that will run (all of them, or `only`) is known to
/// need the process tier, its zygote is started ([`aether_worker::Zygote::begin`]), and it
/// starts while the rest is validated (the code analysis, the lock); [`Workspace::run`] takes
/// it. A run refused afterwards kills it unused. The zygote dies with the thread that calls
/// this (`PR_SET_PDEATHSIG`): call it from the thread that runs the steps.
pub fn load_pipeline_for_run(
    path: &Path,
    policy_override: Option<&Path>,
    now: jiff::Timestamp,
    unsafe_run: bool,
    frozen: bool,
    only: Option<&str>,
) -> Loaded<Workspace> {
    match PipelineFile::load(path) {
        Ok(pipeline) => load_workspace_with(
            pipeline,
            policy_override,
            now,
            unsafe_run,
            Analysis::RunGate,
            frozen,
            Some(EarlyZygote { only }),
        ),
        Err(malformed) => Loaded {
            malformed,
            ..Loaded::default()
        },
    }
}

/// Starting the zygote during validation ([`load_pipeline_for_run`]): for the steps that run.
struct EarlyZygote<'a> {
    /// `run --step ID`: only this step runs.
    only: Option<&'a str>,
}

/// Validates an already-parsed pipeline (a file, or the one-step pipeline of `aether exec`)
/// and everything it uses, exactly as [`load_pipeline`] does.
pub fn load_workspace(
    pipeline: PipelineFile,
    policy_override: Option<&Path>,
    now: jiff::Timestamp,
    unsafe_run: bool,
    analysis: Analysis,
    frozen: bool,
) -> Loaded<Workspace> {
    load_workspace_with(
        pipeline,
        policy_override,
        now,
        unsafe_run,
        analysis,
        frozen,
        None,
    )
}

fn load_workspace_with(
    pipeline: PipelineFile,
    policy_override: Option<&Path>,
    now: jiff::Timestamp,
    unsafe_run: bool,
    analysis: Analysis,
    frozen: bool,
    early: Option<EarlyZygote<'_>>,
) -> Loaded<Workspace> {
    let mut out = Loaded::default();
    // The zygote, once a step that runs is known to need the process tier (never with
    // `--unsafe`, which runs every step in the thread tier).
    let mut zygote: Option<aether_worker::StartingZygote> = None;
    let early = early.filter(|_| !unsafe_run);
    let runs = |id: &str| {
        early
            .as_ref()
            .is_some_and(|e| e.only.is_none_or(|only| only == id))
    };
    let start_zygote = |zygote: &mut Option<aether_worker::StartingZygote>| {
        if zygote.is_none() {
            // A failure here is met again, and reported, when the run starts its zygote.
            *zygote = aether_worker::Zygote::begin().ok();
        }
    };
    let ws = pipeline.workspace.clone();
    let declared = pipeline.policy.as_ref().map(|(p, _)| p.as_path());
    let policy = load_policy(policy_override, declared, &ws, &mut out.malformed);
    let file = pipeline.file.path.clone();
    // Known before any plugin is read: a step's `isolation: process`, or a policy whose
    // `[isolation] default` is `process` (every plugin's tier).
    let default_process = policy
        .as_ref()
        .is_some_and(|(_, p)| p.policy.isolation_default == Tier::Process);
    if pipeline.steps.iter().any(|s| {
        runs(&s.id) && (default_process || matches!(s.isolation, Some((Tier::Process, _))))
    }) {
        start_zygote(&mut zygote);
    }

    // Plugins, each loaded once however many steps use it, pinned and their signatures
    // checked (SPEC §9: `--unsafe` too).
    let root = std::fs::canonicalize(&ws).unwrap_or_else(|_| ws.clone());
    let signatures = policy
        .as_ref()
        .map(|(path, p)| (path.as_path(), &p.integrity));
    let mut locked = Vec::new();
    let mut plugins: Vec<PluginInfo> = Vec::new();
    let mut step_plugin: Vec<Option<usize>> = Vec::new();
    for step in &pipeline.steps {
        let dir = match std::fs::canonicalize(&step.plugin) {
            Ok(d) if d.is_dir() => d,
            _ => {
                out.malformed.push(
                    FileError::new(
                        &file,
                        Some(step.plugin_loc),
                        format!("plugin directory `{}` of step `{}` does not exist", step.plugin.display(), step.id),
                    )
                    .with_hint("`plugin` is a directory holding `aether-plugin.json`, relative to the pipeline file"),
                );
                step_plugin.push(None);
                continue;
            }
        };
        if let Some(i) = plugins.iter().position(|p| p.manifest.dir == dir) {
            if runs(&step.id) && plugins[i].tier == Tier::Process {
                start_zygote(&mut zygote);
            }
            step_plugin.push(Some(i));
            continue;
        }
        let (bundle, m) = match read_plugin(&dir, &ws) {
            Ok(read) => read,
            Err(e) => {
                out.malformed.extend(e);
                step_plugin.push(None);
                continue;
            }
        };
        let pinned = crate::integrity::check_plugin(
            &root,
            &bundle,
            &m,
            signatures,
            &mut out.findings,
            &mut out.malformed,
        );
        // A plugin refused by the policy is read again by its next step: pin it once.
        if let Some(p) = pinned
            && !locked
                .iter()
                .any(|l: &aether_integrity::LockedPlugin| l.dir == p.dir)
        {
            locked.push(p);
        }
        match plugin_info(
            m,
            bundle,
            policy.as_ref().map(|(_, p)| &p.policy),
            unsafe_run,
            &mut out.findings,
        ) {
            Some(info) => {
                if runs(&step.id) && info.tier == Tier::Process {
                    start_zygote(&mut zygote);
                }
                code_findings(&info, &ws, analysis, &mut out.findings, &mut out.malformed);
                plugins.push(info);
                step_plugin.push(Some(plugins.len() - 1));
            }
            None => step_plugin.push(None),
        }
    }

    crate::integrity::lock_findings(
        &file,
        &ws,
        frozen,
        &locked,
        &mut out.findings,
        &mut out.malformed,
    );

    // The graph and the templates: every error at once.
    let nodes: Vec<StepNode> = pipeline
        .steps
        .iter()
        .map(|s| StepNode {
            id: s.id.clone(),
            needs: s.needs.iter().map(|(n, _)| n.clone()).collect(),
        })
        .collect();
    let mut templates = Vec::with_capacity(pipeline.steps.len());
    for s in &pipeline.steps {
        match Template::parse_all(&s.with) {
            Ok(t) => templates.push(t),
            Err(errors) => {
                for e in errors {
                    out.findings.push(Finding::at(
                        "template",
                        &file,
                        Some(s.with_loc),
                        format!("step `{}`: {e}", s.id),
                    ));
                }
            }
        }
    }
    let templates_ok = templates.len() == pipeline.steps.len();
    let plan = match Graph::new(&nodes) {
        Ok(_) if !templates_ok => None,
        Ok(graph) => match Plan::new(graph, templates) {
            Ok(plan) => Some(plan),
            Err(errors) => {
                graph_findings(&pipeline, errors, &mut out.findings);
                None
            }
        },
        Err(errors) => {
            graph_findings(&pipeline, errors, &mut out.findings);
            None
        }
    };

    // Step limits and tiers.
    let mut steps = Vec::new();
    for (decl, plugin) in pipeline.steps.iter().zip(&step_plugin) {
        let Some(pi) = *plugin else { continue };
        let info = &plugins[pi];
        let mut grant = info.grant.clone();
        if let Some((t, loc)) = decl.timeout {
            if t > grant.limits().timeout {
                out.findings.push(Finding::at(
                    "step-limit",
                    &file,
                    Some(loc),
                    format!(
                        "step `{}` raises `timeout` to {} above its plugin's {}: a step may only lower its limits",
                        decl.id,
                        aether_policy::HumanDuration(t),
                        aether_policy::HumanDuration(grant.limits().timeout)
                    ),
                ));
            } else {
                grant = grant.lowered(None, Some(t));
            }
        }
        if let Some((m, loc)) = decl.memory {
            if m > grant.limits().memory {
                out.findings.push(Finding::at(
                    "step-limit",
                    &file,
                    Some(loc),
                    format!(
                        "step `{}` raises `memory` to {m} above its plugin's {}: a step may only lower its limits",
                        decl.id,
                        grant.limits().memory
                    ),
                ));
            } else {
                grant = grant.lowered(Some(m), None);
            }
        }
        let (tier, tier_reason) = match decl.isolation {
            Some((Tier::Process, _)) if !unsafe_run && info.tier != Tier::Process => {
                (Tier::Process, TierReason::StepIsolation)
            }
            _ => (info.tier, info.tier_reason),
        };
        steps.push(StepInfo {
            decl: decl.clone(),
            plugin: pi,
            grant,
            tier,
            tier_reason,
        });
    }

    // Execution windows: a plugin outside all of its windows cannot start now.
    if let (Some((policy_path, policy)), false) = (&policy, unsafe_run) {
        for info in &plugins {
            window_finding(policy_path, &policy.policy, info, now, &mut out.findings);
        }
    }

    if let (true, Some(plan)) = (out.malformed.is_empty(), plan) {
        out.value = Some(Workspace {
            unsafe_allowed: policy.as_ref().is_none_or(|(_, p)| p.policy.unsafe_allowed),
            windows: policy
                .as_ref()
                .map(|(_, p)| p.policy.windows.clone())
                .unwrap_or_default(),
            pipeline,
            plugins,
            steps,
            plan,
            findings: Vec::new(),
            zygote: std::sync::Mutex::new(zygote),
        });
    }
    out
}

/// Validates one plugin directory (for `aether check DIR`); `workspace` resolves relative
/// patterns (the current directory).
pub fn load_plugin(
    dir: &Path,
    workspace: &Path,
    policy_path: Option<&Path>,
    now: jiff::Timestamp,
) -> Loaded<PluginInfo> {
    let mut malformed = Vec::new();
    let policy = load_policy(policy_path, None, workspace, &mut malformed);
    if !malformed.is_empty() && policy_path.is_some() && policy.is_none() {
        // The policy is unreadable: the plugin is still read, to report its problems too.
        let mut out = verify_plugin(dir, workspace, None, now, Analysis::Full);
        malformed.append(&mut out.malformed);
        out.malformed = malformed;
        out.value = None;
        return out;
    }
    verify_plugin(
        dir,
        workspace,
        policy.as_ref().map(|(path, p)| (path.as_path(), p)),
        now,
        Analysis::Full,
    )
}

/// Validates one plugin directory under `policy` (its file, for locations, and its value):
/// the manifest, the grant the policy gives it, its signature under the file's `[integrity]`,
/// and its code (`analysis`).
pub fn verify_plugin(
    dir: &Path,
    workspace: &Path,
    policy: Option<(&Path, &PolicyFile)>,
    now: jiff::Timestamp,
    analysis: Analysis,
) -> Loaded<PluginInfo> {
    let mut out = Loaded::default();
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match read_plugin(&dir, workspace) {
        Ok((bundle, m)) => {
            let signatures = policy.map(|(path, p)| (path, &p.integrity));
            // A plugin alone has no lock; its signature is still checked.
            let pinned = crate::integrity::check_plugin(
                &dir,
                &bundle,
                &m,
                signatures,
                &mut out.findings,
                &mut out.malformed,
            );
            let Some(info) = plugin_info(
                m,
                bundle,
                policy.map(|(_, p)| &p.policy),
                false,
                &mut out.findings,
            ) else {
                return out;
            };
            if pinned.is_none() {
                return out;
            }
            code_findings(
                &info,
                workspace,
                analysis,
                &mut out.findings,
                &mut out.malformed,
            );
            if let Some((path, p)) = policy {
                window_finding(path, &p.policy, &info, now, &mut out.findings);
            }
            if out.malformed.is_empty() {
                out.value = Some(info);
            }
        }
        Err(e) => out.malformed.extend(e),
    }
    out
}

/// A `window` finding when `info`'s plugin may not start at `now`. A warning, not an error:
/// the files are fine (`check` exits 0), but [`Loaded::refuses_run`] refuses the run.
fn window_finding(
    path: &Path,
    policy: &Policy,
    info: &PluginInfo,
    now: jiff::Timestamp,
    out: &mut Vec<Finding>,
) {
    if let Err(refusal) =
        aether_policy::check_windows(&policy.windows, &info.manifest.name, info.risk, now)
    {
        let mut f = Finding::at(WINDOW_RULE, path, None, refusal.to_string());
        f.level = Level::Warning;
        f.plugin = Some(info.manifest.name.clone());
        out.push(f);
    }
}

/// Maps graph errors to findings located at the step (or `needs` entry) at fault.
fn graph_findings(p: &PipelineFile, errors: Vec<GraphError>, out: &mut Vec<Finding>) {
    let file = &p.file.path;
    let step_loc = |id: &str| p.steps.iter().find(|s| s.id == id).map(|s| s.loc);
    for e in errors {
        let loc = match &e {
            GraphError::InvalidId { index, .. } => p.steps.get(*index).map(|s| s.loc),
            GraphError::DuplicateId { second, .. } => p.steps.get(*second).map(|s| s.loc),
            GraphError::UnknownNeed { step, need, .. } => p
                .steps
                .iter()
                .find(|s| &s.id == step)
                .and_then(|s| s.needs.iter().find(|(n, _)| n == need).map(|(_, l)| *l)),
            GraphError::SelfNeed { step } => step_loc(step),
            GraphError::Cycle { cycle } => cycle.0.first().and_then(|id| step_loc(id)),
            GraphError::UnknownReference { step, .. }
            | GraphError::SelfReference { step, .. }
            | GraphError::ReferenceNotNeeded { step, .. } => {
                p.steps.iter().find(|s| &s.id == step).map(|s| s.with_loc)
            }
            GraphError::TemplateCount { .. } => None,
        };
        out.push(Finding::at("graph", file, loc, e.to_string()));
    }
}
