// Pure computation plus one environment variable: how many errors to keep (default 5).
export default async function ({ lines, title }) {
  const top = Number(aether.env.get("DIGEST_TOP") ?? "5");
  const counts = {};
  const errors = [];
  for (const line of lines) {
    const [, level = "OTHER", message = ""] = line.match(/^\S+\s+(\w+)\s+(.*)$/) ?? [];
    counts[level] = (counts[level] ?? 0) + 1;
    if (level === "ERROR") errors.push(message);
  }
  return { title, total: lines.length, counts, errors: errors.slice(0, top) };
}
