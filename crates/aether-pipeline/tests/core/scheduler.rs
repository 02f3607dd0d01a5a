use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aether_pipeline::{
    Found, Graph, JsonText, Observer, Plan, RenderError, Scheduler, StepError, StepNode,
    StepOutcome, StepRecord, StepRunner, StepStatus, Template, json,
};
use serde_json::{Value, json};

/// A runner made of a closure.
pub struct FnRunner<F>(pub F);

impl<F, X> StepRunner for FnRunner<F>
where
    F: Fn(usize, Value) -> Outcome<X> + Sync,
    X: Send,
{
    type Extra = X;

    fn run(&self, index: usize, input: JsonText) -> StepOutcome<X> {
        let Outcome(result, extra) = (self.0)(index, serde_json::from_str(input.get()).unwrap());
        StepOutcome {
            result: result.map(|v| json::from_value(&v)),
            extra,
        }
    }
}

/// What a test runner's closure returns: the output as a `Value`, or the failure message.
pub struct Outcome<X>(pub Result<Value, String>, pub X);

pub fn succeeded<X>(output: Value, extra: X) -> Outcome<X> {
    Outcome(Ok(output), extra)
}

pub fn failed<X>(message: impl Into<String>, extra: X) -> Outcome<X> {
    Outcome(Err(message.into()), extra)
}

/// A record's output as a `Value`.
pub fn output<X>(record: &StepRecord<X>) -> Option<Value> {
    record
        .output
        .as_ref()
        .map(|o| serde_json::from_str(o.get()).unwrap())
}

/// Builds a plan from `(id, needs, with)` triples.
pub fn plan(steps: &[(&str, &[&str], Value)]) -> Plan {
    let nodes: Vec<StepNode> = steps
        .iter()
        .map(|(id, needs, _)| StepNode {
            id: (*id).to_owned(),
            needs: needs.iter().map(|s| (*s).to_owned()).collect(),
        })
        .collect();
    let templates = steps
        .iter()
        .map(|(_, _, with)| Template::parse(with).unwrap())
        .collect();
    Plan::new(Graph::new(&nodes).unwrap(), templates).unwrap()
}

pub fn jobs(n: usize) -> Scheduler {
    Scheduler::new(NonZeroUsize::new(n).unwrap())
}

fn statuses<X>(records: &[StepRecord<X>]) -> Vec<StepStatus> {
    records.iter().map(|r| r.status).collect()
}

fn skipped_by(failed: &[&str]) -> Option<StepError> {
    Some(StepError::Skipped {
        failed: failed.iter().map(|s| (*s).to_owned()).collect(),
    })
}

#[test]
fn parallelism_bound_is_honoured() {
    for limit in [1, 2, 3] {
        let steps: Vec<(String, Value)> = (0..10).map(|i| (format!("s{i}"), json!(i))).collect();
        let steps: Vec<(&str, &[&str], Value)> = steps
            .iter()
            .map(|(id, v)| (id.as_str(), &[][..], v.clone()))
            .collect();
        let plan = plan(&steps);
        let running = AtomicUsize::new(0);
        let max = AtomicUsize::new(0);
        let runner = FnRunner(|_, input: Value| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            running.fetch_sub(1, Ordering::SeqCst);
            succeeded(input, ())
        });
        let records = jobs(limit).run(&plan, &runner, &());
        assert_eq!(max.load(Ordering::SeqCst), limit, "jobs = {limit}");
        assert!(records.iter().all(|r| r.status == StepStatus::Succeeded));
        // Results are in step order, whatever the completion order.
        let outputs: Vec<Value> = records.iter().map(|r| output(r).unwrap()).collect();
        assert_eq!(outputs, (0..10).map(|i| json!(i)).collect::<Vec<_>>());
    }
}

#[test]
fn failure_skips_dependents_transitively_but_not_independent_branches() {
    let plan = plan(&[
        ("a", &[], json!(null)),
        ("b", &["a"], json!(null)),
        ("c", &["b"], json!(null)),
        ("d", &[], json!(null)),
        ("e", &["d"], json!(null)),
        ("f", &["c", "e"], json!(null)),
    ]);
    let called = Mutex::new(Vec::new());
    let runner = FnRunner(|i, _| {
        called.lock().unwrap().push(i);
        if i == 0 {
            failed("boom", i)
        } else {
            succeeded(json!(i), i)
        }
    });
    let records = jobs(2).run(&plan, &runner, &());
    use StepStatus::*;
    assert_eq!(
        statuses(&records),
        [Failed, Skipped, Skipped, Succeeded, Succeeded, Skipped]
    );
    assert_eq!(
        records[0].error,
        Some(StepError::Runner {
            message: "boom".into()
        })
    );
    assert_eq!(records[0].extra, Some(0));
    assert_eq!(records[1].error, skipped_by(&["a"]));
    assert_eq!(records[2].error, skipped_by(&["a"]));
    assert_eq!(records[5].error, skipped_by(&["a"]));
    assert_eq!(records[5].extra, None);
    assert_eq!(output(&records[4]), Some(json!(4)));
    assert_eq!(
        records[1].error.as_ref().unwrap().to_string(),
        "skipped because `a` failed"
    );
    let mut called = called.into_inner().unwrap();
    called.sort();
    assert_eq!(called, [0, 3, 4]);
}

#[test]
fn outputs_flow_through_templates() {
    let plan = plan(&[
        ("read", &[], json!({"path": "/var/logs/temp/app.log"})),
        (
            "summarize",
            &["read"],
            json!({
                "lines": "${{ steps.read.output.lines }}",
                "title": "Digest of ${{ steps.read.output.file }} (${{ steps.read.output.lines.1 }})",
                "escaped": "$${{ steps.read.output }}",
            }),
        ),
    ]);
    let inputs = Mutex::new(vec![Value::Null; 2]);
    let runner = FnRunner(|i, input: Value| {
        inputs.lock().unwrap()[i] = input.clone();
        match i {
            0 => succeeded(json!({"lines": ["x", "y"], "file": input["path"]}), ()),
            _ => succeeded(json!("done"), ()),
        }
    });
    let records = jobs(4).run(&plan, &runner, &());
    assert!(records.iter().all(|r| r.status == StepStatus::Succeeded));
    assert_eq!(
        inputs.into_inner().unwrap()[1],
        json!({
            "lines": ["x", "y"],
            "title": "Digest of /var/logs/temp/app.log (y)",
            "escaped": "${{ steps.read.output }}",
        })
    );
}

#[test]
fn render_failure_fails_the_step_before_its_runner() {
    let plan = plan(&[
        ("read", &[], json!(null)),
        ("use", &["read"], json!("${{ steps.read.output.lines }}")),
        ("after", &["use"], json!(null)),
    ]);
    let called = Mutex::new(Vec::new());
    let runner = FnRunner(|i, _| {
        called.lock().unwrap().push(i);
        succeeded(json!({"file": "a", "count": 1}), ())
    });
    let records = jobs(1).run(&plan, &runner, &());
    use StepStatus::*;
    assert_eq!(statuses(&records), [Succeeded, Failed, Skipped]);
    match &records[1].error {
        Some(StepError::Render(RenderError::MissingPath {
            step,
            parent,
            found,
            ..
        })) => {
            assert_eq!(step, "read");
            assert_eq!(parent, "output");
            assert_eq!(
                **found,
                Found::Object {
                    missing: "lines".into(),
                    keys: vec!["count".into(), "file".into()]
                }
            );
        }
        other => panic!("expected a render error, got {other:?}"),
    }
    assert_eq!(records[1].extra, None);
    assert_eq!(records[2].error, skipped_by(&["use"]));
    assert_eq!(called.into_inner().unwrap(), [0]);
}

#[test]
fn diamond_runs_the_join_after_both_branches() {
    let plan = plan(&[
        ("top", &[], json!(1)),
        ("left", &["top"], json!("${{ steps.top.output }}")),
        ("right", &["top"], json!("${{ steps.top.output }}")),
        (
            "join",
            &["left", "right"],
            json!([
                "${{ steps.left.output }}",
                "${{ steps.right.output }}",
                "${{ steps.top.output }}"
            ]),
        ),
    ]);
    let finished = Mutex::new(Vec::new());
    let runner = FnRunner(|i, input: Value| {
        if i == 3 {
            let done = finished.lock().unwrap().clone();
            assert!(
                done.contains(&1) && done.contains(&2),
                "join started before {done:?}"
            );
        }
        let output = match i {
            1 => json!(input.as_i64().unwrap() * 10),
            2 => json!(input.as_i64().unwrap() * 100),
            _ => input,
        };
        finished.lock().unwrap().push(i);
        succeeded(output, ())
    });
    let records = jobs(2).run(&plan, &runner, &());
    assert_eq!(output(&records[3]), Some(json!([10, 100, 1])));
}

#[test]
fn diamond_join_names_every_failed_branch() {
    let plan = plan(&[
        ("top", &[], json!(null)),
        ("left", &["top"], json!(null)),
        ("right", &["top"], json!(null)),
        ("join", &["left", "right"], json!(null)),
        ("last", &["join"], json!(null)),
    ]);
    let runner = FnRunner(|i, _| match i {
        1 | 2 => failed(format!("branch {i} failed"), ()),
        _ => succeeded(Value::Null, ()),
    });
    let records = jobs(2).run(&plan, &runner, &());
    assert_eq!(records[3].error, skipped_by(&["left", "right"]));
    assert_eq!(records[4].error, skipped_by(&["left", "right"]));
    assert_eq!(
        records[4].error.as_ref().unwrap().to_string(),
        "skipped because `left` and `right` failed"
    );
}

#[test]
fn fan_out_of_200_steps() {
    let mut steps: Vec<(String, Vec<String>, Value)> = vec![("root".into(), vec![], json!(7))];
    for i in 0..200 {
        steps.push((
            format!("leaf-{i}"),
            vec!["root".into()],
            json!({"n": i, "base": "${{ steps.root.output }}"}),
        ));
    }
    let leaves: Vec<String> = (0..200).map(|i| format!("leaf-{i}")).collect();
    let gather: Vec<String> = leaves
        .iter()
        .map(|l| format!("${{{{ steps.{l}.output }}}}"))
        .collect();
    steps.push(("sink".into(), leaves, json!(gather)));
    let needs: Vec<Vec<&str>> = steps
        .iter()
        .map(|s| s.1.iter().map(String::as_str).collect())
        .collect();
    let borrowed: Vec<(&str, &[&str], Value)> = steps
        .iter()
        .zip(&needs)
        .map(|(s, n)| (s.0.as_str(), n.as_slice(), s.2.clone()))
        .collect();
    let plan = plan(&borrowed);
    let runner = FnRunner(|i, input: Value| match i {
        0 => succeeded(input, ()),
        201 => succeeded(input, ()),
        _ => succeeded(
            json!(input["n"].as_i64().unwrap() + input["base"].as_i64().unwrap()),
            (),
        ),
    });
    let records = jobs(4).run(&plan, &runner, &());
    assert_eq!(records.len(), 202);
    assert!(records.iter().all(|r| r.status == StepStatus::Succeeded));
    let expected: Vec<Value> = (0..200).map(|i| json!(i + 7)).collect();
    assert_eq!(output(&records[201]), Some(Value::Array(expected)));
}

#[test]
fn a_panicking_runner_fails_its_step_only() {
    let plan = plan(&[
        ("bad", &[], json!(null)),
        ("after", &["bad"], json!(null)),
        ("ok", &[], json!(null)),
    ]);
    let runner = FnRunner(|i, _| {
        if i == 0 {
            panic!("runner bug");
        }
        succeeded(Value::Null, ())
    });
    let records = jobs(2).run(&plan, &runner, &());
    assert_eq!(
        records[0].error,
        Some(StepError::Panicked {
            message: "runner bug".into()
        })
    );
    assert_eq!(records[1].error, skipped_by(&["bad"]));
    assert_eq!(records[2].status, StepStatus::Succeeded);
}

#[test]
fn empty_runner_messages_are_never_empty() {
    let plan = plan(&[("a", &[], json!(null))]);
    let records = jobs(1).run(&plan, &FnRunner(|_, _| failed("", ())), &());
    assert!(!records[0].error.as_ref().unwrap().to_string().is_empty());
}

#[derive(Default)]
struct Recorder {
    started: Mutex<Vec<usize>>,
    finished: Mutex<Vec<(usize, StepStatus)>>,
}

impl Observer<()> for Recorder {
    fn started(&self, index: usize) {
        self.started.lock().unwrap().push(index);
    }

    fn finished(&self, index: usize, record: &StepRecord<()>) {
        self.finished.lock().unwrap().push((index, record.status));
    }
}

#[test]
fn observer_sees_each_step_finish_once() {
    let plan = plan(&[
        ("a", &[], json!(null)),
        ("b", &["a"], json!(null)),
        ("c", &[], json!(null)),
        ("d", &["c"], json!("${{ steps.c.output.x }}")),
    ]);
    let runner = FnRunner(|i, _| match i {
        0 => failed("no", ()),
        _ => succeeded(json!({}), ()),
    });
    let recorder = Recorder::default();
    jobs(2).run(&plan, &runner, &recorder);
    let mut started = recorder.started.into_inner().unwrap();
    started.sort();
    assert_eq!(
        started,
        [0, 2],
        "skipped and unrenderable steps never start"
    );
    let mut finished = recorder.finished.into_inner().unwrap();
    finished.sort_by_key(|(i, _)| *i);
    use StepStatus::*;
    assert_eq!(
        finished,
        [(0, Failed), (1, Skipped), (2, Succeeded), (3, Failed)]
    );
}

#[test]
fn empty_plan_runs_nothing() {
    let plan = plan(&[]);
    let records = jobs(3).run(&plan, &FnRunner(|_, _| succeeded(Value::Null, ())), &());
    assert!(records.is_empty());
}

/// A run starts at most `jobs` threads for its steps and reuses them, not a thread per step
/// (starting one cost more than a trivial process-tier step's own work in aether, issue 23);
/// a panicking step does not take its thread's later steps with it.
#[test]
fn issue_23_a_run_reuses_at_most_jobs_threads() {
    let steps: Vec<(String, Value)> = (0..60).map(|i| (format!("s{i}"), json!(i))).collect();
    let steps: Vec<(&str, &[&str], Value)> = steps
        .iter()
        .map(|(id, v)| (id.as_str(), &[][..], v.clone()))
        .collect();
    let plan = plan(&steps);
    let threads = Mutex::new(std::collections::HashSet::new());
    let runner = FnRunner(|i, input: Value| {
        threads.lock().unwrap().insert(std::thread::current().id());
        assert!(i % 7 != 3, "step {i} panics");
        succeeded(input, ())
    });
    let records = jobs(2).run(&plan, &runner, &());
    assert_eq!(records.len(), 60);
    for (i, record) in records.iter().enumerate() {
        let expected = if i % 7 == 3 {
            StepStatus::Failed
        } else {
            StepStatus::Succeeded
        };
        assert_eq!(record.status, expected, "step {i}");
    }
    let used = threads.lock().unwrap().len();
    assert!((1..=2).contains(&used), "{used} threads");
}
