// @ts-check
/// <reference path="../../../../types/aether.d.ts" />
// Runs `sort -f -u` (granted by name in the manifest, resolved through PATH when the plugin is
// loaded) on the input words. The child gets an empty environment, no network, and no
// filesystem access beyond the plugin's own (here none): it reads stdin and writes stdout.

/** @satisfies {aether.Plugin<{ words: string[] }, { sorted: string[], code: number | null }>} */
const sorter = async ({ words }) => {
  const result = await aether.process.run("sort", ["-f", "-u"], {
    stdin: words.join("\n") + "\n",
    timeoutMs: 5000,
  });
  if (result.code !== 0) {
    throw new Error(`sort failed (${result.code ?? result.signal}): ${result.stderr}`);
  }
  const sorted = result.stdout.split("\n").filter((line) => line !== "");
  return { sorted, code: result.code };
};

export default sorter;
