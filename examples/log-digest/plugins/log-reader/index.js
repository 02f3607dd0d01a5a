// @ts-check
/// <reference path="../../../../types/aether.d.ts" />
// Reads the log named by `input.path` (relative paths resolve against the workspace).
/** @type {aether.Plugin<{ path: string }, { file: string, lines: string[] }>} */
export default function (input, context) {
  const text = aether.fs.readText(input.path);
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  console.info(`${context.plugin.name} read ${lines.length} lines from ${input.path}`);
  return { file: input.path, lines };
}
