// isolated-vm baseline: per isolate, in one process, create an isolate (256 MiB limit like an
// aether sandbox) and a context, compile the trivial module `export default (i) => i`, call it,
// dispose, with the synchronous calls (its fastest path). Prints the milliseconds of each as a JSON array. isolated-vm is an npm package the
// harness installs into bench/node/node_modules (it builds with node-gyp).
import { performance } from "node:perf_hooks";
import ivm from "isolated-vm";

const n = Number(process.argv[2] ?? 50);
const times = [];
for (let k = 0; k < n; k++) {
  const start = performance.now();
  const isolate = new ivm.Isolate({ memoryLimit: 256 });
  const context = isolate.createContextSync();
  const module = isolate.compileModuleSync("export default (i) => i;");
  module.instantiateSync(context, () => {
    throw new Error("no imports");
  });
  module.evaluateSync();
  const main = module.namespace.getSync("default", { reference: true });
  const output = main.applySync(undefined, [{ n: k }], { arguments: { copy: true }, result: { copy: true } });
  if (output.n !== k) throw new Error("wrong answer");
  isolate.dispose();
  times.push(performance.now() - start);
}
console.log(JSON.stringify(times));
