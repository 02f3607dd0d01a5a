// Group 7's Node baseline: `node node_case.mjs CASE INPUT.json RUNS`, CASE a module of cases/
// (the same file the aether plugin imports). With RUNS = 0, one run (timed whole-process by the
// harness). Otherwise one warm-up run, then RUNS runs timed with performance.now(), printed as
// JSON `{times: [ms…], output}` (output: the warm-up run's result, compared with aether's).
import { readFileSync } from "node:fs";

const [, , name, inputPath, runsArg] = process.argv;
const { run } = await import(`./cases/${name}.mjs`);
const input = JSON.parse(readFileSync(inputPath, "utf8"));
const runs = Number(runsArg ?? 0);
const output = await run(input);
if (runs > 0) {
  const times = [];
  for (let k = 0; k < runs; k++) {
    const start = performance.now();
    await run(input);
    times.push(performance.now() - start);
  }
  console.log(JSON.stringify({ times, output }));
}
