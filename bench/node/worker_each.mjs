// Per worker in one process: create + call + terminate N workers one after another;
// prints the milliseconds of each as a JSON array.
import { performance } from "node:perf_hooks";
import { createCallTerminate } from "./common.mjs";

const n = Number(process.argv[2] ?? 50);
const times = [];
for (let k = 0; k < n; k++) {
  const start = performance.now();
  await createCallTerminate({ n: k });
  times.push(performance.now() - start);
}
console.log(JSON.stringify(times));
