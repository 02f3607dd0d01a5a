// Group 8's Node baseline: `node node_sha256.mjs MIB RUNS`: hash-wasm's SHA-256 (WebAssembly)
// of MIB mebibytes, one warm-up hash, then RUNS timed hashes, printed as a JSON list of
// milliseconds (the same work as the aether plugin the harness writes).
import { createSHA256 } from "hash-wasm";

const size = Number(process.argv[2]) * 1024 * 1024;
const runs = Number(process.argv[3] ?? 3);
const data = new Uint8Array(size);
for (let i = 0; i < size; i++) data[i] = i & 255;
const hasher = await createSHA256();
const hash = () => {
  hasher.init();
  hasher.update(data);
  return hasher.digest("hex");
};
const digest = hash();
const times = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  hash();
  times.push(performance.now() - start);
}
console.log(JSON.stringify({ digest, times }));
