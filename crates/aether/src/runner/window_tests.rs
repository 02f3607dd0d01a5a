//! The runner checks a plugin's execution window again when its step starts (issue 15, SPEC
//! §3), on an injected clock: no test waits for a real window to close.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use aether_host::gateway::Proxies;
use aether_pipeline::{Scheduler, StepStatus};
use aether_policy::{Capability, Decision};

use super::{Collector, Runner, RunnerOptions};
use crate::workspace::{Analysis, Workspace, load_pipeline};

/// `early` has no window; `late` may start only 10:00-11:00 UTC. Steps: `a` (early), `b`
/// (late, needs a), `c` (early, independent), `d` (early, needs b).
fn workspace(dir: &Path, now: jiff::Timestamp) -> Workspace {
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    for name in ["early", "late"] {
        write(
            &format!("plugins/{name}/aether-plugin.json"),
            &format!(r#"{{ "name": "{name}", "version": "1.0.0" }}"#),
        );
        write(
            &format!("plugins/{name}/index.js"),
            "export default (input, ctx) => ctx.step;\n",
        );
    }
    write(
        "aether-policy.toml",
        "[[windows]]\napplies_to = [\"late\"]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nstart = \"10:00\"\nend = \"11:00\"\ntimezone = \"UTC\"\n",
    );
    write(
        "pipeline.yaml",
        "name: w\npolicy: ./aether-policy.toml\nsteps:\n  - id: a\n    plugin: ./plugins/early\n  - id: b\n    plugin: ./plugins/late\n    needs: [a]\n  - id: c\n    plugin: ./plugins/early\n  - id: d\n    plugin: ./plugins/early\n    needs: [b]\n",
    );
    let loaded = load_pipeline(
        &dir.join("pipeline.yaml"),
        None,
        now,
        false,
        Analysis::RunGate,
        false,
    );
    assert!(
        !loaded.refuses_run(),
        "{:?} {:?}",
        loaded.malformed,
        loaded.findings
    );
    loaded.value.unwrap()
}

/// Each step's status and error, in step order.
type Steps = Vec<(StepStatus, Option<String>)>;
/// The `window` events: step and decision.
type WindowEvents = Vec<(String, Decision)>;

fn at(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

/// Runs the pipeline with the step-start clock fixed at `step_clock`; returns each step's
/// status and error, and the `window` events recorded.
fn run(ws: &Workspace, step_clock: jiff::Timestamp) -> (Steps, WindowEvents) {
    let collector = Arc::new(Collector::new(Arc::new(()), None));
    let clock = move || step_clock;
    let runner = Runner::new(
        ws,
        collector.clone(),
        RunnerOptions {
            cancelled: Arc::default(),
            secrets: aether_host::secrets::SecretValues::default(),
            unsafe_run: false,
            proxies: Proxies::none(),
            zygote: None,
            sample: false,
            clock: &clock,
        },
    );
    let records = Scheduler::new(NonZeroUsize::MIN).run(&ws.plan, &runner, &());
    let steps = records
        .into_iter()
        .map(|r| (r.status, r.error.map(|e| e.to_string())))
        .collect();
    let windows = collector
        .events()
        .into_iter()
        .filter(|k| k.event.capability == Capability::Window)
        .map(|k| (k.event.step, k.event.decision))
        .collect();
    (steps, windows)
}

// See: issue 15, "What is wrong" 8 (a step `needs` an earlier step that sleeps past the
// window's end, and ran).
#[test]
fn issue_15_window_is_checked_again_at_step_start() {
    let dir = tempfile::tempdir().unwrap();
    // Inside the window when the run starts (Saturday 2026-12-05 10:59 UTC).
    let ws = workspace(dir.path(), at("2026-12-05T10:59:00Z"));

    // Still inside when every step starts: all succeed, nothing recorded.
    let (steps, windows) = run(&ws, at("2026-12-05T10:59:59Z"));
    assert!(
        steps.iter().all(|(s, _)| *s == StepStatus::Succeeded),
        "{steps:?}"
    );
    assert_eq!(windows, vec![]);

    // The window closed (end is exclusive) before `b` started: `b` fails before its plugin
    // runs, naming the plugin and the next opening; `d` (needs b) is skipped; `a` and `c` go on.
    let (steps, windows) = run(&ws, at("2026-12-05T11:00:00Z"));
    assert_eq!(steps[0].0, StepStatus::Succeeded);
    assert_eq!(steps[1].0, StepStatus::Failed);
    let error = steps[1].1.as_deref().unwrap();
    assert!(
        error.contains("`late`") && error.contains("2026-12-06 10:00 UTC"),
        "{error}"
    );
    assert_eq!(steps[2].0, StepStatus::Succeeded);
    assert_eq!(steps[3].0, StepStatus::Skipped);
    assert_eq!(windows, vec![("b".to_owned(), Decision::Denied)]);
}
