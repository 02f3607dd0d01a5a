// @ts-check
/// <reference path="../../../../types/aether.d.ts" />
// Pure computation plus one environment variable: how many errors to keep (default 5).
/** @typedef {{ title: string, total: number, counts: Record<string, number>, errors: string[] }} Summary */
/** @type {aether.Plugin<{ lines: string[], title: string }, Summary>} */
export default async function ({ lines, title }) {
  const top = Number(aether.env.get("DIGEST_TOP") ?? "5");
  /** @type {Record<string, number>} */
  const counts = {};
  /** @type {string[]} */
  const errors = [];
  for (const line of lines) {
    const [, level = "OTHER", message = ""] = line.match(/^\S+\s+(\w+)\s+(.*)$/) ?? [];
    counts[level] = (counts[level] ?? 0) + 1;
    if (level === "ERROR") errors.push(message);
  }
  return { title, total: lines.length, counts, errors: errors.slice(0, top) };
}
