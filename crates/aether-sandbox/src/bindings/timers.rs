//! `setTimeout`/`clearTimeout` and `setInterval`/`clearInterval` over the step's [`Timers`], run
//! by the engine's event loop; every pending timer is charged to the plugin's memory ceiling.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::convert::Coerced;
use rquickjs::function::{Opt, Rest};
use rquickjs::{Ctx, Exception, Function, Result, Value};

use crate::gate::Meter;

/// `set(callback, delay, ...args)` and `clear(id)` as globals named `set` and `clear`, on the
/// step's timers: `setTimeout`/`clearTimeout`, and (with `repeat`) `setInterval`/`clearInterval`
/// (HTML: they share one list of ids, and either clear function cancels either kind).
pub(crate) fn install_timers<'js>(
    ctx: &Ctx<'js>,
    timers: &Rc<RefCell<Timers<'js>>>,
    set: &'static str,
    clear: &'static str,
    repeat: bool,
) -> Result<()> {
    let globals = ctx.globals();
    let set_timers = Rc::clone(timers);
    let set_function = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              callback: Opt<Value<'js>>,
              delay: Opt<Value<'js>>,
              args: Rest<Value<'js>>|
              -> Result<u32> {
            let Some(callback) = callback.0.and_then(|v| v.into_function()) else {
                return Err(Exception::throw_type(
                    &ctx,
                    &format!("{set}: the callback must be a function (strings are not evaluated)"),
                ));
            };
            let delay = match delay.0 {
                Some(v) if !v.is_undefined() => v.get::<Coerced<f64>>()?.0,
                _ => 0.0,
            };
            set_timers
                .borrow_mut()
                .add(callback, delay, args.0, repeat)
                .ok_or_else(|| Exception::throw_internal(&ctx, "out of memory"))
        },
    )?
    .with_name(set)?;
    globals.set(set, set_function)?;
    let clear_timers = Rc::clone(timers);
    let clear_function = Function::new(ctx.clone(), move |id: Opt<Value<'js>>| {
        if let Some(id) = id.0.and_then(|v| v.as_number()) {
            clear_timers.borrow_mut().cancel(id);
        }
    })?
    .with_name(clear)?;
    globals.set(clear, clear_function)?;
    Ok(())
}

/// The step's pending `setTimeout` callbacks. Holds JavaScript values: the engine clears it
/// before the context is torn down.
///
/// Its own memory counts toward the plugin's ceiling ([`Meter`]): each pending timer is charged
/// [`Timers::charge`] bytes while it waits. Before, a plugin calling `setTimeout(f, 1e9)` in a
/// loop with one shared callback grew a Rust `Vec` outside the ceiling to 1.79 GB in 8 s under a
/// 64 MiB limit (issue 16). Adding, cancelling and taking a timer cost O(log n).
pub(crate) struct Timers<'js> {
    next_id: u32,
    /// Pending timers by due time, then id (first scheduled first on ties within a due time).
    queue: BTreeMap<(Instant, u32), Timer<'js>>,
    /// Each pending timer's due time, to cancel by id.
    due_of: HashMap<u32, Instant>,
    meter: Arc<Meter>,
}

#[derive(Clone)]
pub(crate) struct Timer<'js> {
    pub(crate) callback: Function<'js>,
    pub(crate) args: Vec<Value<'js>>,
    /// `Some` for `setInterval`: the timer is due again this long after each run.
    pub(crate) every: Option<Duration>,
}

impl<'js> Timers<'js> {
    pub(crate) fn new(meter: Arc<Meter>) -> Self {
        Self {
            next_id: 1,
            queue: BTreeMap::new(),
            due_of: HashMap::new(),
            meter,
        }
    }

    /// The bytes a pending timer with `args` arguments is charged: its entry in both maps with
    /// their per-entry overhead, and its argument vector.
    fn charge(args: usize) -> usize {
        const MAP_OVERHEAD: usize = 64;
        std::mem::size_of::<((Instant, u32), Timer<'_>)>()
            + std::mem::size_of::<(u32, Instant)>()
            + 2 * MAP_OVERHEAD
            + args * std::mem::size_of::<Value<'_>>()
    }

    /// Schedules `callback`, once or (`repeat`) every `delay_ms` until cancelled; `None` when its
    /// bytes do not fit under the ceiling (the plugin is then being stopped for memory).
    pub(crate) fn add(
        &mut self,
        callback: Function<'js>,
        delay_ms: f64,
        args: Vec<Value<'js>>,
        repeat: bool,
    ) -> Option<u32> {
        let charge = Self::charge(args.len());
        if !self.meter.admit(charge) {
            return None;
        }
        self.meter.add(charge);
        // Ids are unique among pending timers: skip those still in use after a wrap-around.
        let mut id = self.next_id;
        while self.due_of.contains_key(&id) {
            id = id.wrapping_add(1).max(1);
        }
        self.next_id = id.wrapping_add(1).max(1);
        // NaN and negative delays mean 0; anything past a day is as good as never for a step.
        let delay = if delay_ms.is_finite() && delay_ms > 0.0 {
            Duration::from_secs_f64(delay_ms.min(86_400_000.0) / 1000.0)
        } else {
            Duration::ZERO
        };
        // A repeating timer waits at least 1 ms between runs, as Node.js's do: at 0 it would
        // always be due, and the event loop would never reach finished host calls.
        let every = repeat.then(|| delay.max(Duration::from_millis(1)));
        let due = Instant::now() + delay;
        self.queue.insert(
            (due, id),
            Timer {
                callback,
                args,
                every,
            },
        );
        self.due_of.insert(id, due);
        Some(id)
    }

    pub(crate) fn cancel(&mut self, id: f64) {
        // Ids are integers in 1..=u32::MAX; anything else names no timer.
        if !(id >= 1.0 && id <= f64::from(u32::MAX) && id.fract() == 0.0) {
            return;
        }
        let id = id as u32;
        if let Some(timer) = self
            .due_of
            .remove(&id)
            .and_then(|due| self.queue.remove(&(due, id)))
        {
            self.meter.sub(Self::charge(timer.args.len()));
        }
    }

    /// When the earliest timer is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(due, _)| *due)
    }

    /// Removes and returns the earliest timer due by `now`. A repeating one is scheduled again
    /// (same id, same charge) before it runs, so that its callback can cancel it.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<Timer<'js>> {
        let entry = self.queue.first_entry().filter(|e| e.key().0 <= now)?;
        let ((_, id), timer) = entry.remove_entry();
        if let Some(every) = timer.every {
            let due = now + every;
            self.queue.insert((due, id), timer.clone());
            self.due_of.insert(id, due);
            return Some(timer);
        }
        self.due_of.remove(&id);
        self.meter.sub(Self::charge(timer.args.len()));
        Some(timer)
    }

    pub(crate) fn clear(&mut self) {
        for timer in std::mem::take(&mut self.queue).into_values() {
            self.meter.sub(Self::charge(timer.args.len()));
        }
        self.due_of.clear();
    }
}
