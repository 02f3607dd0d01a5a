// Extism baseline (its Node.js host SDK): per plugin, in one process, create a plugin from a
// wasm module whose one export `run` returns 0, call it, close it. Prints the milliseconds of
// each as a JSON array. This is the floor of an Extism sandbox, not a JavaScript one: running
// JavaScript in Extism needs its JS PDK (QuickJS compiled to wasm), built with the `extism-js`
// compiler, which is not on npm and so not reachable from this machine.
import { performance } from "node:perf_hooks";
import createPlugin from "@extism/extism";

// (module (func (export "run") (result i32) (i32.const 0)))
const wasm = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type section: () -> i32
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x07, 0x07, 0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00, // export section: "run" = function 0
  0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b, // code section: i32.const 0, end
]);

const n = Number(process.argv[2] ?? 50);
const times = [];
for (let k = 0; k < n; k++) {
  const start = performance.now();
  // 256 MiB of linear memory at most (4096 pages of 64 KiB), like an aether sandbox.
  const plugin = await createPlugin({ wasm: [{ data: wasm }] }, { useWasi: false, memory: { maxPages: 4096 } });
  await plugin.call("run", "");
  await plugin.close();
  times.push(performance.now() - start);
}
console.log(JSON.stringify(times));
