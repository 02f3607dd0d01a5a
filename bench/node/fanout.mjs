// Fan-out: N workers, each created, called once and terminated, at most 2 at a time.
import { createCallTerminate } from "./common.mjs";

const n = Number(process.argv[2]);
const JOBS = 2;
let next = 0;

async function lane() {
  while (next < n) {
    const k = next++;
    const output = await createCallTerminate({ n: k });
    if (output.n !== k) throw new Error("wrong answer");
  }
}

await Promise.all(Array.from({ length: JOBS }, lane));
