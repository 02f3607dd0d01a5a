//! How `run` and `exec` show a run on stderr: a live display of running steps when stderr is a
//! terminal (lines printed above it), plain lines otherwise; step logs prefixed by step id.
//! Rendering only: the run itself is `aether::Workspace::run`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aether::pipeline::{StepRecord, StepStatus};
use aether::{Metrics, Subscriber, Warning};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use crate::render::terminal_safe;

/// Where the run's human output goes.
pub struct Console {
    bars: Option<MultiProgress>,
    running: Mutex<HashMap<usize, ProgressBar>>,
    /// Whether to show progress at all (`--output json` keeps stderr for logs only).
    progress: bool,
}

impl Console {
    /// A console; `live` asks for progress, and for the live display if stderr is a terminal.
    pub fn new(live: bool) -> Console {
        let bars = live && std::io::stderr().is_terminal();
        Console {
            bars: bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            running: Mutex::new(HashMap::new()),
            progress: live,
        }
    }

    /// Prints a line on stderr (above the live display, if any).
    pub fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<usize, ProgressBar>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Subscriber for Console {
    fn log(&self, step: &str, level: &str, line: &str) {
        let level = match level {
            "log" | "info" => String::new(),
            other => format!("{other}: "),
        };
        self.line(&format!("[{step}] {level}{}", terminal_safe(line)));
    }

    fn log_dropped(&self, step: &str) {
        self.line(&format!(
            "[{step}] (the step logged more than {} MiB: its further log output is dropped)",
            aether::host::events::MAX_LOG_BYTES_PER_STEP >> 20
        ));
    }

    fn warning(&self, warning: &Warning) {
        match warning {
            Warning::Unsafe => self.line(&format!("WARNING: {warning}")),
            _ => self.line(&format!("warning: {warning}")),
        }
    }

    fn step_started(&self, index: usize, id: &str) {
        if !self.progress {
            return;
        }
        match &self.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_message(format!("{id} running"));
                bar.enable_steady_tick(Duration::from_millis(100));
                self.running().insert(index, bar);
            }
            None => self.line(&format!("▶ {id} started")),
        }
    }

    fn step_finished(&self, index: usize, id: &str, record: &StepRecord<Metrics>) {
        if !self.progress {
            return;
        }
        if let Some(bar) = self.running().remove(&index) {
            bar.finish_and_clear();
        }
        let ms = record.extra.as_ref().map_or(0, |m| m.duration.as_millis());
        let error = record
            .error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let line = match record.status {
            StepStatus::Succeeded => format!("✔ {id} succeeded in {ms} ms"),
            StepStatus::Failed => format!("✘ {id} failed after {ms} ms: {error}"),
            StepStatus::Skipped => format!("- {id} {error}"),
        };
        self.line(&terminal_safe(&line));
    }
}
