// Shared by the baselines: one worker_threads worker, limited like an aether sandbox.
import { Worker } from "node:worker_threads";

const WORKER = new URL("./worker.mjs", import.meta.url);
export const LIMITS = { maxOldGenerationSizeMb: 256 };

export function startWorker() {
  return new Worker(WORKER, { resourceLimits: LIMITS });
}

export function call(worker, input) {
  return new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.postMessage(input);
  });
}

// Create a worker, call it once, terminate it.
export async function createCallTerminate(input) {
  const worker = startWorker();
  const output = await call(worker, input);
  await worker.terminate();
  return output;
}
