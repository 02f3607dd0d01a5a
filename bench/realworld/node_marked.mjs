// Group 7's Node baseline: `node node_marked.mjs DOC.md RUNS`. With RUNS = 1, one parse (timed
// whole-process by the harness); otherwise one warm-up parse, then RUNS timed parses, printed
// as a JSON list of milliseconds (the in-step time).
import { readFileSync } from "node:fs";
import { marked } from "marked";

const md = readFileSync(process.argv[2], "utf8");
const runs = Number(process.argv[3] ?? 1);
if (runs === 1) {
  marked.parse(md);
} else {
  marked.parse(md);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    marked.parse(md);
    times.push(performance.now() - start);
  }
  console.log(JSON.stringify(times));
}
