/// <reference path="./aether.d.ts" />
// The entry module of the `{{name}}` plugin: its default export is called once per step as
// `await default(input, context)`, and what it returns (as JSON) is the step's output.
// aether compiles TypeScript when it loads the module (types are removed, nothing checked):
// run `npx tsc -p .` to type-check it against aether.d.ts.

interface Input {
  name?: string;
}

interface Output {
  greeting: string;
  step: string;
}

const plugin: aether.Plugin<Input | null, Output> = async (input, context) => {
  const name = input?.name ?? "world";
  // Logs go to the step's log (stderr), never to the output.
  console.log(`${context.plugin.name} ${context.plugin.version} greets ${name}`);
  // Capabilities are declared in aether-plugin.json: for instance, with
  //   "permissions": { "filesystem": { "read": ["./data/**"] } }
  // this plugin may call aether.fs.readText("data/notes.txt"). Anything else throws a
  // PermissionDenied error and is recorded as a violation.
  return { greeting: `Hello, ${name}!`, step: context.step };
};

export default plugin;
