/// <reference path="../../../../../types/aether.d.ts" />
/// <reference path="./semver.d.ts" />
// A TypeScript plugin (compiled at load: no build step) using `semver`, an npm package
// published as CommonJS, imported from the plugin's own `node_modules` as in Node: the default
// import is its `module.exports`, and the named imports are the names Node's cjs-module-lexer
// finds in it.
import semver, { satisfies, maxSatisfying } from "semver";
import { type Release, summarize } from "./releases.ts";

interface Input {
  /** Released versions, in any order; invalid ones are reported, not thrown. */
  versions: string[];
  /** The range the caller accepts, such as `^1.2.0`. */
  range: string;
}

const plugin: aether.Plugin<Input, Release> = (input, context) => {
  const valid = input.versions.filter((v) => semver.valid(v) !== null);
  const invalid = input.versions.filter((v) => semver.valid(v) === null);
  const sorted = semver.sort([...valid]);
  const matching = sorted.filter((v) => satisfies(v, input.range));
  const best = maxSatisfying(valid, input.range);
  console.info(`${context.plugin.name}: ${matching.length} of ${valid.length} versions match ${input.range}`);
  return summarize({ sorted, matching, best, invalid, next: best ? semver.inc(best, "minor") : null });
};

export default plugin;
