//! `heatmap.svg`: steps × real time, a memory band and a CPU band per step.

use std::fmt::Write as _;

use crate::{RunReport, Sample, StepReport, human_bytes, human_ms, truncate, xml};

const WIDTH: f64 = 1000.0;
const PLOT_X: f64 = 210.0;
const PLOT_W: f64 = 760.0;
const PLOT_Y: f64 = 96.0;
/// Cells drawn for the whole run: bounds the file size for long runs with many samples
/// (200 steps × 100 cells × 2 bands ≈ 3 MB at worst). Samples beyond it are merged (heap: max,
/// CPU: the rate over the merged span), so peaks are never hidden.
const CELL_BUDGET: usize = 20_000;
const MEM_LO: [u8; 3] = [0xee, 0xf4, 0xfb];
const MEM_HI: [u8; 3] = [0x08, 0x30, 0x6b];
const CPU_LO: [u8; 3] = [0xfd, 0xf0, 0xe4];
const CPU_HI: [u8; 3] = [0x7f, 0x27, 0x04];

/// A span of a step with one value per band: `[t0, t1)` in ms since the step's start, heap
/// bytes, and CPU use in cores (1.0 = one core busy).
struct Cell {
    t0: u64,
    t1: u64,
    heap: u64,
    cores: f64,
}

/// The resource heatmap (SPEC §8 `heatmap.svg`): one row per step, x = time since the run's
/// start (axis in ms or s, ticks chosen to fit), an upper band for heap (colour intensity
/// relative to the run's highest heap) and a lower band for CPU (Δcpu_ms/Δt, relative to
/// `max(1 core, busiest cell)`), and a legend with the units. A step without samples is drawn
/// from its start to its end at its peak and average CPU. Rows shrink from 40 to 10 px as steps
/// are added; labels are truncated and escaped, full text in `<title>` tooltips. Standalone
/// SVG: no script, no external reference.
pub fn heatmap_svg(run: &RunReport) -> String {
    let n = run.steps.len();
    let row_h = (720.0 / n.max(1) as f64).clamp(10.0, 40.0);
    let font = (row_h * 0.7).clamp(8.0, 12.0);
    let per_step = (CELL_BUDGET / n.max(1)).clamp(16, 300);
    let rows: Vec<Vec<Cell>> = run.steps.iter().map(|s| cells(s, per_step)).collect();
    let total = run
        .steps
        .iter()
        .map(|s| s.start_ms + s.duration_ms)
        .chain([run.duration_ms])
        .max()
        .unwrap_or(0)
        .max(1);
    let mem_max = rows
        .iter()
        .flatten()
        .map(|c| c.heap)
        .max()
        .unwrap_or(0)
        .max(1);
    let cpu_max = rows
        .iter()
        .flatten()
        .map(|c| c.cores)
        .fold(1.0_f64, f64::max);
    let height = PLOT_Y + row_h * n.max(1) as f64 + 24.0;
    let x_of = |t: u64| PLOT_X + t as f64 / total as f64 * PLOT_W;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        svg,
        r#"<title>aether resource heatmap: {}</title><rect width="100%" height="100%" fill="white"/>"#,
        xml(&run.pipeline)
    );
    let _ = write!(
        svg,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Resources per step over time ({} steps, {})</text>"#,
        n,
        human_ms(total)
    );
    legend(
        &mut svg,
        10.0,
        "memory: heap in use (upper band)",
        MEM_LO,
        MEM_HI,
        &human_bytes(mem_max),
    );
    legend(
        &mut svg,
        500.0,
        "CPU: Δcpu_ms/Δt (lower band)",
        CPU_LO,
        CPU_HI,
        &format!("{:.0} % of a core", cpu_max * 100.0),
    );
    // Time axis with gridlines.
    let tick = tick_step(total);
    let mut t = 0;
    while t <= total {
        let x = x_of(t);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#ccc" stroke-width="0.5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"##,
            PLOT_Y - 4.0,
            height - 24.0,
            PLOT_Y - 8.0,
            tick_label(t, tick)
        );
        t += tick;
    }
    let max_chars = ((PLOT_X - 16.0) / (font * 0.6)) as usize;
    for (i, (step, cells)) in run.steps.iter().zip(&rows).enumerate() {
        let y = PLOT_Y + row_h * i as f64;
        let band = (row_h - 2.0) / 2.0;
        let colour = match step.status.as_str() {
            "failed" => "#b00",
            "skipped" => "#888",
            _ => "#222",
        };
        let _ = write!(
            svg,
            r#"<g><title>{} ({}): {}, peak {}, cpu {}, {}</title><text x="{:.1}" y="{:.1}" font-size="{font:.1}" text-anchor="end" fill="{colour}">{}</text>"#,
            xml(&step.id),
            xml(&step.plugin),
            xml(&step.status),
            human_bytes(step.peak_memory_bytes),
            human_ms(step.cpu_ms),
            human_ms(step.duration_ms),
            PLOT_X - 6.0,
            y + row_h / 2.0 + font * 0.35,
            xml(&truncate(&step.id, max_chars)),
        );
        for c in cells {
            let x0 = x_of(step.start_ms + c.t0);
            let w = (x_of(step.start_ms + c.t1) - x0).max(0.5);
            let mem = ramp(MEM_LO, MEM_HI, c.heap as f64 / mem_max as f64);
            let cpu = ramp(CPU_LO, CPU_HI, c.cores / cpu_max);
            let _ = write!(
                svg,
                r#"<rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="{band:.1}" fill="{mem}"/><rect x="{x0:.1}" y="{:.1}" width="{w:.1}" height="{band:.1}" fill="{cpu}"/>"#,
                y + 1.0,
                y + 1.0 + band,
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>\n");
    svg
}

/// A stepped colour ramp from `lo` to `hi` with `0` and `max` labels.
fn legend(svg: &mut String, x: f64, label: &str, lo: [u8; 3], hi: [u8; 3], max: &str) {
    let _ = write!(svg, r#"<text x="{x}" y="44" font-size="11">{label}</text>"#);
    for k in 0..10 {
        let _ = write!(
            svg,
            r#"<rect x="{:.0}" y="50" width="20" height="12" fill="{}"/>"#,
            x + 20.0 * k as f64,
            ramp(lo, hi, k as f64 / 9.0)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{x}" y="76" font-size="10">0</text><text x="{:.0}" y="76" font-size="10" text-anchor="end">{}</text>"#,
        x + 200.0,
        xml(max)
    );
}

/// The step's cells: from its samples (merged down to `budget`), or one cell at its peak.
fn cells(step: &StepReport, budget: usize) -> Vec<Cell> {
    let mut samples: Vec<Sample> = step.samples.clone();
    samples.sort_by_key(|s| s.t_ms);
    if samples.is_empty() {
        let d = step.duration_ms.max(1);
        return vec![Cell {
            t0: 0,
            t1: d,
            heap: step.peak_memory_bytes,
            cores: step.cpu_ms as f64 / d as f64,
        }];
    }
    let group = samples.len().div_ceil(budget.max(1));
    let merged: Vec<Sample> = samples
        .chunks(group)
        .map(|g| Sample {
            t_ms: g.last().map_or(0, |s| s.t_ms),
            heap_bytes: g.iter().map(|s| s.heap_bytes).max().unwrap_or(0),
            cpu_ms: g.last().map_or(0, |s| s.cpu_ms),
        })
        .collect();
    let rate = |cpu0: u64, cpu1: u64, t0: u64, t1: u64| {
        cpu1.saturating_sub(cpu0) as f64 / t1.saturating_sub(t0).max(1) as f64
    };
    let (mut t_prev, mut cpu_prev, mut heap_prev) = (0, 0, 0);
    let mut out = Vec::with_capacity(merged.len() + 1);
    for s in &merged {
        if s.t_ms > t_prev {
            out.push(Cell {
                t0: t_prev,
                t1: s.t_ms,
                heap: s.heap_bytes,
                cores: rate(cpu_prev, s.cpu_ms, t_prev, s.t_ms),
            });
        }
        (t_prev, cpu_prev, heap_prev) = (s.t_ms, s.cpu_ms.max(cpu_prev), s.heap_bytes);
    }
    if step.duration_ms > t_prev {
        out.push(Cell {
            t0: t_prev,
            t1: step.duration_ms,
            heap: heap_prev,
            cores: rate(cpu_prev, step.cpu_ms, t_prev, step.duration_ms),
        });
    }
    out
}

/// A 1-2-5 tick step giving at most about 8 ticks over `total` ms.
fn tick_step(total: u64) -> u64 {
    let mut magnitude = 1;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if total / step <= 8 {
                return step;
            }
        }
        magnitude *= 10;
    }
}

/// A tick label in the unit the step suggests (`250 ms`, `1.5 s`).
fn tick_label(t: u64, step: u64) -> String {
    if t == 0 {
        "0".to_string()
    } else if step >= 1000 {
        human_ms(t)
    } else {
        format!("{t} ms")
    }
}

/// `lo`..`hi` at `f` (clamped to 0..=1) as `#rrggbb`.
fn ramp(lo: [u8; 3], hi: [u8; 3], f: f64) -> String {
    let f = if f.is_finite() {
        f.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let c = |i: usize| (lo[i] as f64 + (hi[i] as f64 - lo[i] as f64) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", c(0), c(1), c(2))
}
