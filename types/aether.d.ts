// Type declarations of the aether plugin API (SPEC §5; docs/plugin-api.md).
//
// Use with TypeScript's own libraries for the web globals aether provides, and nothing else:
//
//   "compilerOptions": { "lib": ["ES2024", "WebWorker"], "types": [], "strict": true }
//
// `WebWorker` declares `fetch`, `console`, `setTimeout`, `URL`, `TextEncoder`, streams, `crypto`
// and the other WinterTC globals aether has, without the browser's `document` or `window`
// (which aether has not). This file adds what no TypeScript library declares: the `aether`
// object, the `context` a plugin receives, the shape of `PermissionDenied` errors, the
// `timeoutMs` option of `fetch`, and `require`.
//
// A script (no import or export), so that its declarations are global; reference it from a
// plugin's modules with a triple-slash directive or list it in tsconfig's `include`.

/**
 * The host API. Every call needs the capability its documentation names, declared in the
 * plugin's `aether-plugin.json` and allowed by the policy; a call beyond the grant throws a
 * {@link aether.PermissionDenied} error and records a violation. The object and its members
 * are frozen.
 */
declare namespace aether {
  /** A plugin's entry point: the default export of its `main` module. */
  type Plugin<Input = unknown, Output = unknown> = (
    input: Input,
    context: Context,
  ) => Output | Promise<Output>;

  /** The second argument of a plugin's default export. */
  interface Context {
    /** The id of the step running the plugin (`aether exec`: the plugin directory's name). */
    readonly step: string;
    /** The pipeline's `name`. */
    readonly pipeline: string;
    /** The plugin, from its manifest. */
    readonly plugin: {
      readonly name: string;
      readonly version: string;
    };
  }

  /** What a value returned by a plugin may be: its output is this value's JSON. */
  type Json = null | boolean | number | string | Json[] | { [key: string]: Json | undefined };

  /** The capability a {@link PermissionDenied} error is about. */
  type Capability =
    | "filesystem.read"
    | "filesystem.write"
    | "network"
    | "env"
    | "process"
    | "module"
    | "secrets";

  /**
   * The error a call beyond the grant throws. It is an `Error` with `name === "PermissionDenied"`
   * (there is no global constructor to test with `instanceof`):
   *
   * ```ts
   * const denied = (e: unknown): e is aether.PermissionDenied =>
   *   e instanceof Error && e.name === "PermissionDenied";
   * try { aether.fs.readText("/etc/passwd"); }
   * catch (e) { if (denied(e)) console.warn(e.capability, e.target); else throw e; }
   * ```
   *
   * The message says what was attempted, which manifest field would grant it, and what is
   * granted now.
   */
  interface PermissionDenied extends Error {
    readonly name: "PermissionDenied";
    /** The capability the call needed. */
    readonly capability: Capability;
    /** The path, URL, variable, command or module specifier the call was about. */
    readonly target: string;
  }

  /**
   * Files, through the plugin's grant. Relative paths resolve against the workspace (the
   * directory holding the pipeline file; for `aether exec`, the current directory). Writes go
   * to an overlay the step's own reads see, committed when the step succeeds.
   */
  namespace fs {
    /** `stat`'s result (symlinks followed). */
    interface Stat {
      readonly size: number;
      readonly isFile: boolean;
      readonly isDir: boolean;
      readonly mtimeMs: number;
    }
    /** The file as UTF-8 text. Needs `filesystem.read`. */
    function readText(path: string): string;
    /** The file's bytes. Needs `filesystem.read`. */
    function readBytes(path: string): Uint8Array;
    /** The directory's entry names, sorted. Needs `filesystem.read` of the directory itself. */
    function list(dir: string): string[];
    /** Size, kind and modification time. Needs `filesystem.read` (no existence oracle). */
    function stat(path: string): Stat;
    /** Whether the path exists. Needs `filesystem.read` (no existence oracle). */
    function exists(path: string): boolean;
    /** Creates or replaces the file. Needs `filesystem.write`. */
    function writeText(path: string, text: string): void;
    /** Creates or replaces the file. Needs `filesystem.write`. */
    function writeBytes(path: string, bytes: Uint8Array): void;
    /** Appends to the file, creating it. Needs `filesystem.write`. */
    function appendText(path: string, text: string): void;
    /** Creates the directory and its parents. Needs `filesystem.write`. */
    function mkdir(path: string): void;
    /** Removes a file, a symlink itself, or an empty directory. Needs `filesystem.write`. */
    function remove(path: string): void;
  }

  /** Environment variables. */
  namespace env {
    /** The variable's value, or `undefined` if it is unset. Needs `env`. */
    function get(name: string): string | undefined;
  }

  /** Child processes. */
  namespace process {
    /** `run`'s options. */
    interface RunOptions {
      /** Standard input of the child. */
      stdin?: string | Uint8Array | ArrayBuffer;
      /** Kill the child (and its process group) after this many milliseconds. */
      timeoutMs?: number;
      /** Working directory (default: the workspace); relative to the workspace. */
      cwd?: string;
    }
    /** How a child ended. */
    interface RunResult {
      /** The exit code, or `null` when a signal ended it. */
      readonly code: number | null;
      /** The signal that ended it (`"SIGKILL"` at `timeoutMs`), or `null`. */
      readonly signal: string | null;
      readonly stdout: string;
      readonly stderr: string;
    }
    /**
     * Runs a program listed in `permissions.process.commands` (absolute path or bare name).
     * The child gets an empty environment plus the granted variables, no network unless
     * `process.network`, and filesystem access no wider than the plugin's. Needs `process`.
     */
    function run(command: string, args?: string[], options?: RunOptions): Promise<RunResult>;
  }

  /** `fetch`, the same function as the global one. Needs `network`. */
  const fetch: typeof globalThis.fetch;

  /** `listen`'s options. */
  interface ListenOptions {
    /** The address to listen on (`127.0.0.1`, `0.0.0.0`, `::1`). */
    hostname?: string;
    /** The port, 1 to 65535. */
    port: number;
  }

  /** A request accepted by a {@link Server}. */
  interface IncomingRequest {
    readonly method: string;
    /** The request target as sent (path and query). */
    readonly url: string;
    readonly headers: Headers;
    readonly bodyUsed: boolean;
    text(): Promise<string>;
    json(): Promise<unknown>;
    bytes(): Promise<Uint8Array>;
    arrayBuffer(): Promise<ArrayBuffer>;
    /** Sends the response (once). */
    respond(
      status?: number,
      headers?: HeadersInit,
      body?: string | Uint8Array | ArrayBuffer,
    ): void;
  }

  /** A listening socket; closed when the step ends. */
  interface Server {
    /** The next request, or `null` once the server is closed. */
    accept(): Promise<IncomingRequest | null>;
    close(): void;
  }

  /**
   * Accepts connections on an address listed in `permissions.network.listen`. Needs
   * `network.listen`; an ungranted address throws synchronously.
   */
  function listen(options: ListenOptions): Server;

  /**
   * An opaque placeholder for the secret `name` (never its value), unique to the step. Put it
   * in a request header (or, where the policy sets `in_body`, the URL query or body): the
   * gateway substitutes the value only for hosts the secret's grant covers, and refuses a
   * request carrying it anywhere else. Needs `secrets`.
   */
  function secret(name: string): string;
}

/** `fetch`'s extra option in aether. */
interface RequestInit {
  /** Fail the request after this many milliseconds (it never outlives the step anyway). */
  timeoutMs?: number;
}

/**
 * In ES modules, `require(x)` exists only to throw a `module` {@link aether.PermissionDenied}
 * violation: use `import`. (In CommonJS modules, `require` resolves as Node's does, inside the
 * plugin.)
 */
declare function require(specifier: string): any;
