// @ts-check
/** @typedef {{ title: string, total: number, counts: Record<string, number>, errors: string[] }} Summary */

/**
 * The digest as Markdown.
 * @param {Summary} summary
 * @returns {string}
 */
export function renderMarkdown({ title, total, counts, errors }) {
  const rows = Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([level, n]) => `| ${level} | ${n} |`);
  return [
    `# ${title}`,
    "",
    `${total} lines.`,
    "",
    "| level | lines |",
    "|---|---|",
    ...rows,
    "",
    "## Errors",
    "",
    ...errors.map((e) => `- ${e}`),
    "",
  ].join("\n");
}
