// @ts-check
/// <reference path="./aether.d.ts" />
// The entry module of the `{{name}}` plugin: its default export is called once per step as
// `await default(input, context)`, and what it returns (as JSON) is the step's output.

/**
 * @typedef {{ name?: string }} Input
 * @typedef {{ greeting: string, step: string }} Output
 */

/** @type {aether.Plugin<Input | null, Output>} */
export default async function (input, context) {
  const name = input?.name ?? "world";
  // Logs go to the step's log (stderr), never to the output.
  console.log(`${context.plugin.name} ${context.plugin.version} greets ${name}`);
  // Capabilities are declared in aether-plugin.json: for instance, with
  //   "permissions": { "filesystem": { "read": ["./data/**"] } }
  // this plugin may call aether.fs.readText("data/notes.txt"). Anything else throws a
  // PermissionDenied error and is recorded as a violation.
  return { greeting: `Hello, ${name}!`, step: context.step };
}
