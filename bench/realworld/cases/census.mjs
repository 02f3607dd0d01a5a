// The node types of an AST with their counts, as JSON text: what the parser cases return, so
// that aether's output can be compared with Node's without shipping the whole tree.
export function census(root) {
  const counts = {};
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (const child of node) stack.push(child);
    } else if (node !== null && typeof node === "object") {
      if (typeof node.type === "string") counts[node.type] = (counts[node.type] ?? 0) + 1;
      for (const key of Object.keys(node)) {
        if (key !== "loc" && key !== "extra") stack.push(node[key]);
      }
    }
  }
  return JSON.stringify(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
}
