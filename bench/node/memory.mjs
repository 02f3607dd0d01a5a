// Memory: N idle workers held at once; prints the process's RSS in bytes once all are up.
import { startWorker, call } from "./common.mjs";

const n = Number(process.argv[2]);
const workers = Array.from({ length: n }, startWorker);
await Promise.all(workers.map((worker, k) => call(worker, { n: k })));
await new Promise((resolve) => setTimeout(resolve, 200));
console.log(process.memoryUsage().rss);
await Promise.all(workers.map((worker) => worker.terminate()));
