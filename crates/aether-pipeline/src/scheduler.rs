//! Runs a [`Plan`]: each step as soon as all its needs succeeded, at most `jobs` at a time.
//!
//! Guarantees:
//! - a step's runner is called only after every step it needs (directly) has succeeded, with
//!   its template rendered from their outputs;
//! - at most `jobs` runners are executing at any moment;
//! - a step whose template cannot be rendered fails without its runner being called;
//! - a step is skipped exactly when one of the steps it transitively needs failed; the others
//!   go on;
//! - a runner that panics fails its step; the panic does not cross into the caller;
//! - results come back in step order, whatever the order of completion.
//!
//! The scheduler knows nothing of engines, files or time: what a step *does* is the
//! [`StepRunner`]'s business, and limits such as timeouts are enforced there.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError, mpsc};

use crate::graph::Plan;
use crate::json::{JsonText, RawValue};
use crate::template::RenderError;

/// Executes one step. Called from worker threads, several at once.
pub trait StepRunner: Sync {
    /// Per-step data the runner hands back besides the output (metrics, logs...).
    type Extra: Send;

    /// Runs step `index` with its rendered input (its `with`).
    fn run(&self, index: usize, input: JsonText) -> StepOutcome<Self::Extra>;
}

/// What a [`StepRunner`] returns for one step.
#[derive(Debug, Clone)]
pub struct StepOutcome<X> {
    /// The step's JSON output (its exact text), or why it failed (a non-empty message).
    pub result: Result<JsonText, String>,
    /// Per-step data, returned whether the step succeeded or not.
    pub extra: X,
}

impl<X> StepOutcome<X> {
    /// A successful outcome.
    pub fn succeeded(output: JsonText, extra: X) -> Self {
        StepOutcome {
            result: Ok(output),
            extra,
        }
    }

    /// A failed outcome.
    pub fn failed(message: impl Into<String>, extra: X) -> Self {
        StepOutcome {
            result: Err(message.into()),
            extra,
        }
    }
}

/// Receives live progress. Called from any thread, possibly concurrently.
pub trait Observer<X>: Sync {
    /// Step `index`'s runner is about to be called (on the worker thread that calls it).
    /// Not called for steps that are skipped or whose template fails to render.
    fn started(&self, index: usize) {
        let _ = index;
    }

    /// Step `index` reached its final state. Called exactly once per step.
    fn finished(&self, index: usize, record: &StepRecord<X>) {
        let _ = (index, record);
    }
}

/// An observer that ignores everything.
impl<X> Observer<X> for () {}

/// The final state of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    /// Its runner returned an output.
    Succeeded,
    /// Its runner returned an error or panicked, or its template could not be rendered.
    Failed,
    /// A step it transitively needs failed; it never ran.
    Skipped,
}

impl StepStatus {
    /// The spec's spelling: `succeeded`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// Why a step did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// The runner reported a failure.
    #[error("{message}")]
    Runner {
        /// The runner's message.
        message: String,
    },
    /// The runner panicked.
    #[error("step runner panicked: {message}")]
    Panicked {
        /// The panic payload, when it was a string.
        message: String,
    },
    /// The step's `with` could not be rendered from its needs' outputs.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Steps the step transitively needs failed.
    #[error("skipped because {} failed", quote_list(failed))]
    Skipped {
        /// Ids of the failed steps the step transitively needs, in step order (never empty).
        failed: Vec<String>,
    },
}

fn quote_list(ids: &[String]) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What happened to one step.
///
/// Invariants: `output` is `Some` iff `status` is `Succeeded`; `error` is `Some` (and displays
/// as a non-empty message) iff it is not; `extra` is `Some` iff the runner was called and
/// returned.
#[derive(Debug, Clone)]
pub struct StepRecord<X> {
    /// The final state.
    pub status: StepStatus,
    /// The output, for a step that succeeded.
    pub output: Option<JsonText>,
    /// Why the step failed or was skipped.
    pub error: Option<StepError>,
    /// The runner's per-step data.
    pub extra: Option<X>,
}

impl<X> StepRecord<X> {
    fn failed(error: StepError, extra: Option<X>) -> Self {
        StepRecord {
            status: StepStatus::Failed,
            output: None,
            error: Some(error),
            extra,
        }
    }
}

/// Runs plans.
#[derive(Debug, Clone, Copy)]
pub struct Scheduler {
    jobs: NonZeroUsize,
}

impl Scheduler {
    /// A scheduler running at most `jobs` steps at a time.
    pub fn new(jobs: NonZeroUsize) -> Scheduler {
        Scheduler { jobs }
    }

    /// The most steps run at a time.
    pub fn jobs(&self) -> NonZeroUsize {
        self.jobs
    }

    /// Runs every step of `plan` and returns one record per step, by step index.
    ///
    /// Runner calls happen on at most `jobs` scoped threads, started as steps need them and
    /// each reused for the next step it is handed (not a thread per step: starting one cost
    /// more than a trivial process-tier step's own work in aether, issue 23); the calling
    /// thread renders inputs, tracks state and calls [`Observer::finished`]. It blocks on a
    /// channel between events: no busy-waiting.
    pub fn run<R, O>(&self, plan: &Plan, runner: &R, observer: &O) -> Vec<StepRecord<R::Extra>>
    where
        R: StepRunner,
        O: Observer<R::Extra>,
    {
        let graph = plan.graph();
        let n = graph.len();
        let mut run = Run {
            plan,
            records: (0..n).map(|_| None).collect(),
            skip_causes: vec![BTreeSet::new(); n],
            remaining: (0..n).map(|i| graph.needs(i).len()).collect(),
            runnable: (0..n).filter(|&i| graph.needs(i).is_empty()).collect(),
        };
        let (done_tx, done_rx) = mpsc::channel::<(usize, StepRecord<R::Extra>)>();
        // Steps handed to the threads: whichever is free takes the next one.
        let (work_tx, work_rx) = mpsc::channel::<(usize, JsonText)>();
        let work_rx = Mutex::new(work_rx);
        std::thread::scope(|scope| {
            let mut in_flight = 0;
            let mut threads = 0;
            loop {
                while in_flight < self.jobs.get() {
                    let Some(index) = run.runnable.pop_first() else {
                        break;
                    };
                    let input = match run.render(index) {
                        Ok(input) => input,
                        Err(error) => {
                            run.complete(index, StepRecord::failed(error.into(), None), observer);
                            continue;
                        }
                    };
                    // Every thread is busy (one per step in flight): one more, up to `jobs`.
                    if threads == in_flight {
                        let (done_tx, work_rx) = (done_tx.clone(), &work_rx);
                        threads += 1;
                        scope.spawn(move || {
                            // Ends when the sender is dropped (the run is over).
                            while let Ok((index, input)) = next_work(work_rx) {
                                let record = execute(runner, observer, index, input);
                                // The receiver outlives every thread: it is dropped after the
                                // scope.
                                let _ = done_tx.send((index, record));
                            }
                        });
                    }
                    in_flight += 1;
                    if let Err(mpsc::SendError((index, _))) = work_tx.send((index, input)) {
                        // Unreachable: `work_rx` is alive in this frame.
                        in_flight -= 1;
                        run.complete(
                            index,
                            StepRecord::failed(
                                StepError::Runner {
                                    message: "the step could not be handed to a thread".into(),
                                },
                                None,
                            ),
                            observer,
                        );
                    }
                }
                if in_flight == 0 {
                    break;
                }
                let Ok((index, record)) = done_rx.recv() else {
                    // Unreachable: `done_tx` is alive in this frame.
                    break;
                };
                in_flight -= 1;
                run.complete(index, record, observer);
            }
            // The threads see the channel closed and end; the scope joins them.
            drop(work_tx);
        });
        run.records
            .into_iter()
            .enumerate()
            .map(|(i, record)| {
                record.unwrap_or_else(|| {
                    // Every step becomes runnable or skipped once its needs are final, and a
                    // graph has no cycle, so this is unreachable; fail safe rather than panic.
                    StepRecord::failed(
                        StepError::Runner {
                            message: format!("step `{}` was never scheduled", graph.id(i)),
                        },
                        None,
                    )
                })
            })
            .collect()
    }
}

impl Scheduler {
    /// Runs step `index` of `plan` alone, as a unit of work: its `with` is rendered from
    /// `outputs(step_id)` (the outputs of the steps it needs, given by the caller instead of
    /// being run) exactly as [`Scheduler::run`] renders it from the steps it ran, then the
    /// runner is called once, on this thread. A template that cannot be rendered fails the step
    /// without calling the runner.
    pub fn run_step<'v, R, O>(
        plan: &Plan,
        index: usize,
        outputs: impl Fn(&str) -> Option<&'v RawValue>,
        runner: &R,
        observer: &O,
    ) -> StepRecord<R::Extra>
    where
        R: StepRunner,
        O: Observer<R::Extra>,
    {
        let record = match plan.template(index).render(outputs) {
            Ok(input) => execute(runner, observer, index, input),
            Err(error) => StepRecord::failed(error.into(), None),
        };
        observer.finished(index, &record);
        record
    }
}

/// The next step handed to the threads, waiting for one; `Err` once the run is over.
fn next_work(
    work: &Mutex<mpsc::Receiver<(usize, JsonText)>>,
) -> Result<(usize, JsonText), mpsc::RecvError> {
    work.lock().unwrap_or_else(PoisonError::into_inner).recv()
}

/// Calls the runner, turning a panic (the observer's included) into a failed record, so that
/// every spawned worker reports back.
fn execute<R: StepRunner>(
    runner: &R,
    observer: &impl Observer<R::Extra>,
    index: usize,
    input: JsonText,
) -> StepRecord<R::Extra> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        observer.started(index);
        runner.run(index, input)
    }));
    match outcome {
        Ok(StepOutcome {
            result: Ok(output),
            extra,
        }) => StepRecord {
            status: StepStatus::Succeeded,
            output: Some(output),
            error: None,
            extra: Some(extra),
        },
        Ok(StepOutcome {
            result: Err(message),
            extra,
        }) => {
            let message = if message.trim().is_empty() {
                "step failed without a message".to_owned()
            } else {
                message
            };
            StepRecord::failed(StepError::Runner { message }, Some(extra))
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            StepRecord::failed(StepError::Panicked { message }, None)
        }
    }
}

/// The coordinator's state for one run.
struct Run<'p, X> {
    plan: &'p Plan,
    /// Final records, filled as steps finish.
    records: Vec<Option<StepRecord<X>>>,
    /// For a step that must be skipped: the failed steps it transitively needs.
    skip_causes: Vec<BTreeSet<usize>>,
    /// Number of direct needs not yet final.
    remaining: Vec<usize>,
    /// Steps whose needs all succeeded and that have not started, lowest index first.
    runnable: BTreeSet<usize>,
}

impl<X> Run<'_, X> {
    fn render(&self, index: usize) -> Result<JsonText, RenderError> {
        let graph = self.plan.graph();
        self.plan.template(index).render(|id| {
            graph
                .index_of(id)
                .and_then(|i| self.records[i].as_ref())
                .and_then(|r| r.output.as_deref())
        })
    }

    /// Records a final state and decides, transitively, the dependents it unblocks.
    ///
    /// A dependent is decided once *all* its needs are final, so a skipped step's causes are
    /// complete and do not depend on timing.
    fn complete(&mut self, index: usize, record: StepRecord<X>, observer: &impl Observer<X>) {
        let graph = self.plan.graph();
        let mut work = vec![(index, record)];
        while let Some((i, record)) = work.pop() {
            observer.finished(i, &record);
            let status = record.status;
            self.records[i] = Some(record);
            let causes: BTreeSet<usize> = match status {
                StepStatus::Succeeded => BTreeSet::new(),
                StepStatus::Failed => BTreeSet::from([i]),
                StepStatus::Skipped => self.skip_causes[i].clone(),
            };
            for &d in graph.dependents(i) {
                self.skip_causes[d].extend(&causes);
                self.remaining[d] -= 1;
                if self.remaining[d] > 0 {
                    continue;
                }
                if self.skip_causes[d].is_empty() {
                    self.runnable.insert(d);
                } else {
                    let failed = self.skip_causes[d]
                        .iter()
                        .map(|&f| graph.id(f).to_owned())
                        .collect();
                    work.push((
                        d,
                        StepRecord {
                            status: StepStatus::Skipped,
                            output: None,
                            error: Some(StepError::Skipped { failed }),
                            extra: None,
                        },
                    ));
                }
            }
        }
    }
}
