// Deno baseline (run by `deno run --allow-read`): per worker, in one process, create a module
// Web Worker running the trivial plugin, post one message, get the answer, terminate. Prints
// the milliseconds of each as a JSON array (with N = 1, run as a whole process, the cold start).
const n = Number(Deno.args[0] ?? 50);
const source = new URL("./deno_worker.js", import.meta.url);
const times = [];
for (let k = 0; k < n; k++) {
  const start = performance.now();
  const worker = new Worker(source, { type: "module" });
  const output = await new Promise((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = reject;
    worker.postMessage({ n: k });
  });
  worker.terminate();
  if (output.n !== k) throw new Error("wrong answer");
  times.push(performance.now() - start);
}
console.log(JSON.stringify(times));
