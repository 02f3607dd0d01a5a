import { renderMarkdown } from "./lib/markdown.js";

// Writes the report; the write lands in the step's overlay and reaches the disk only if the
// step succeeds.
export default function ({ summary, to }) {
  const text = renderMarkdown(summary);
  aether.fs.writeText(to, text);
  return { path: to, bytes: text.length };
}
