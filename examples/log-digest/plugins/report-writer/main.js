// @ts-check
/// <reference path="../../../../types/aether.d.ts" />
import { renderMarkdown } from "./lib/markdown.js";

// Writes the report; the write lands in the step's overlay and reaches the disk only if the
// step succeeds.
/** @type {aether.Plugin<{ summary: import("./lib/markdown.js").Summary, to: string }, { path: string, bytes: number }>} */
export default function ({ summary, to }) {
  const text = renderMarkdown(summary);
  aether.fs.writeText(to, text);
  return { path: to, bytes: text.length };
}
