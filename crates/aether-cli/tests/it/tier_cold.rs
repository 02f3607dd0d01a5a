//! The process tier's cold start (issue 23): the zygote compiles only the bindings' stub before
//! it says it is ready, and the rest of their bytecode (the lazy globals' scripts) when a run
//! asks it for a second worker, before forking it. The first worker compiles what its plugin
//! uses itself, as the thread tier does; the others inherit it. Either way a plugin sees the
//! same globals.

use serde_json::json;

use crate::Ws;

/// Every lazy global's script (prelude, web, streams, `Intl`, WebAssembly) used by each step of
/// a fan-out: the first worker is forked before the zygote compiles those scripts, the others
/// after.
#[test]
fn lazy_globals_work_in_workers_forked_before_and_after_the_zygote_compiles_them() {
    let ws = Ws::new();
    ws.js_plugin(
        "lazy",
        r#"{ "name": "lazy", "version": "1.0.0" }"#,
        r#"export default async (i) => {
  await new Promise((r) => setTimeout(r, i.ms));
  const bytes = new TextEncoder().encode("héllo").length;
  const query = new URL("https://a.example/p?q=7").searchParams.get("q");
  const reader = new ReadableStream({ start(c) { c.enqueue("s"); c.close(); } }).getReader();
  const chunks = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
  const number = new Intl.NumberFormat("en-US").format(1234.5);
  return { bytes, query, stream: chunks.join(""), number, wasm: typeof WebAssembly.Module };
};
"#,
    );
    ws.write("aether-policy.toml", "[isolation]\ndefault = \"process\"\n");
    let steps: String = (0..8)
        .map(|k| format!("  - id: s{k}\n    plugin: ./plugins/lazy\n    with: {{ ms: 40 }}\n"))
        .collect();
    ws.write(
        "pipeline.yaml",
        &format!("name: lazy\npolicy: ./aether-policy.toml\nsteps:\n{steps}"),
    );
    let out = ws.aether(&["run", "pipeline.yaml", "--output", "json", "--jobs", "2"]);
    out.no_panic();
    let report = out.json();
    assert_eq!(report["status"], "succeeded", "{}", out.stderr);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    for step in steps {
        assert_eq!(
            step["output"],
            json!({ "bytes": 6, "query": "7", "stream": "s", "number": "1,234.5", "wasm": "function" }),
            "{step}"
        );
    }
}
