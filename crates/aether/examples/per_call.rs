//! Per-call cost of an embedded plugin (issue 21, `bench/run.py` group 10): N calls of a
//! trivial plugin through one `Sandbox`, against N one-step pipeline runs in-process
//! (`Workspace::run`, the runner of `aether run`, its workspace loaded once).
//!
//! ```text
//! cargo run --release -p aether --example per_call -- 200
//! ```
//!
//! Prints one JSON object: `{"call_ms": [...], "run_ms": [...]}`, one sample per call or run.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    aether::run_zygote_if_asked();
    let n: usize = std::env::args().nth(1).map_or(Ok(200), |a| a.parse())?;
    let dir = std::env::temp_dir().join(format!("aether-per-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    aether::doc_fixture(&dir)?;

    let sandbox = aether::Sandbox::builder().workspace(&dir).build()?;
    let plugin = sandbox.load_plugin(dir.join("hello"))?;
    let input = serde_json::json!({ "name": "bench" });
    let context = aether::CallContext::default();
    let ws = aether::Workspace::load(dir.join("pipeline.yaml"), aether::LoadOptions::default())?;
    let one = std::num::NonZeroUsize::MIN;

    // Warm both paths (the compile-once cache, the allocator), then interleave the samples so
    // that load on the machine falls on both alike.
    plugin.call(&input, &context)?;
    ws.run(aether::RunOptions::default().jobs(one))?.wait();
    let (mut call_ms, mut run_ms) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        plugin.call(&input, &context)?;
        call_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let report = ws.run(aether::RunOptions::default().jobs(one))?.wait();
        run_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if !report.succeeded() {
            return Err("the one-step run failed".into());
        }
    }
    std::fs::remove_dir_all(&dir)?;
    println!(
        "{}",
        serde_json::json!({ "call_ms": call_ms, "run_ms": run_ms })
    );
    Ok(())
}
