#!/usr/bin/env python3
"""aether's benchmark harness (issue 8): `python3 bench/run.py`.

Builds aether in release, generates every fixture (plugins, policies, pipelines) into a
temporary directory, runs each measurement next to its baseline and prints one markdown
table with the machine it ran on. Progress goes to stderr, the table to stdout.
Standard library only; see docs/BENCHMARKS.md for what each row measures.
"""

import hashlib
import http.client
import http.server
import json
import math
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AETHER = ROOT / "target" / "release" / "aether"
NODE = ROOT / "bench" / "node"
ENV = dict(os.environ, AETHER_BENCH="1")
TIERS = ("thread", "process")
ZYGOTE_ARG = b"__aether-zygote"
MIB = 1024 * 1024
MISSING = []  # measurements that could not be taken, printed under the table
NODE_MODULES = NODE / "node_modules"
DENO = NODE_MODULES / "@deno" / "linux-x64-glibc" / "deno"

TRIVIAL_JS = "export default (i) => i;\n"
SLEEP_JS = "export default async (i) => { await new Promise((r) => setTimeout(r, i.ms)); return i.ms; };\n"
CALLS_JS = """export default (i) => {
  let n = 0;
  for (let k = 0; k < i.calls; k++) {
    n += i.op === "env" ? aether.env.get("AETHER_BENCH").length : aether.fs.readText(i.path).length;
  }
  return n;
};
"""
LOOP_JS = "export default () => { for (;;) {} };\n"
REALWORLD = ROOT / "bench" / "realworld"
REGEX_JS = 'export default () => /(a+)+$/.test("a".repeat(30) + "!");\n'
HOG_JS = "export default () => { const a = []; for (;;) a.push(new Array(4096).fill(a.length)); };\n"
FETCH_JS = """export default async (i) => {
  for (let k = 0; k < i.requests; k++) await (await fetch(i.url)).text();
  return i.requests;
};
"""


# ---------------------------------------------------------------- statistics and table


@dataclass
class Stat:
    median: float
    lo: float
    hi: float


def stat(samples):
    return Stat(statistics.median(samples), min(samples), max(samples))


@dataclass
class Row:
    measurement: str
    value: Stat
    unit: str
    baseline_name: str = "—"
    baseline: Stat | None = None
    compare: str = "ratio"  # "ratio", "overhead" (percent above the baseline) or "none"


def fmt(value, unit):
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:.{digits}f} {unit}"


def fmt_stat(s, unit):
    return f"{fmt(s.median, unit)} ({fmt(s.lo, '').strip()}–{fmt(s.hi, '').strip()})"


def comparison(row):
    if row.baseline is None or row.compare == "none":
        return "—"
    ratio = row.value.median / row.baseline.median
    if row.compare == "overhead":
        return f"{ratio:.2f}× ({(ratio - 1) * 100:+.0f} %)"
    return f"{ratio:.2f}×"


def table(rows):
    lines = [
        "| measurement | aether: median (min–max) | baseline | baseline: median (min–max) | aether / baseline |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = fmt_stat(row.baseline, row.unit) if row.baseline else "—"
        lines.append(
            f"| {row.measurement} | {fmt_stat(row.value, row.unit)} | {row.baseline_name} | {baseline} | {comparison(row)} |"
        )
    return "\n".join(lines)


def machine():
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"Machine: {os.cpu_count()} cores, {model}, Linux {platform.release()}; "
        f"Node {node}, Python {platform.python_version()}"
    )


def progress(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- fixtures


def write_plugin(root, name, code, permissions=None, limits=None):
    directory = root / "plugins" / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.js").write_text(code)
    manifest = {"name": name, "version": "1.0.0"}
    if permissions:
        manifest["permissions"] = permissions
    if limits:
        manifest["limits"] = limits
    (directory / "aether-plugin.json").write_text(json.dumps(manifest, indent=1))
    return name


def write_policy(root, name, tier, sections=""):
    path = root / f"{name}.toml"
    path.write_text(f'[isolation]\ndefault = "{tier}"\nhigh_risk = "{tier}"\n\n{sections}')
    return path


def write_pipeline(root, name, policy, steps):
    """steps: dicts with id, plugin, with, and optionally timeout or memory."""
    lines = [f"name: {name}", f"policy: ./{policy.name}", "steps:"]
    for step in steps:
        lines.append(f"  - id: {step['id']}")
        lines.append(f"    plugin: ./plugins/{step['plugin']}")
        lines.append(f"    with: {json.dumps(step.get('with', {}))}")
        for key in ("timeout", "memory"):
            if key in step:
                lines.append(f"    {key}: {step[key]}")
    path = root / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def toml_list(items):
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


# ---------------------------------------------------------------- running things


def run_aether(pipeline, *flags, jobs=1, expect="succeeded"):
    """Runs `aether run` once; returns (wall seconds, the --output json result)."""
    command = [str(AETHER), "run", str(pipeline), "--output", "json", "--jobs", str(jobs), *flags]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ENV)
    elapsed = time.perf_counter() - start
    result = json.loads(done.stdout) if done.stdout.strip() else {}
    if result.get("status") != expect:
        raise RuntimeError(f"{pipeline.name}: expected {expect}, got {result.get('status')}: {done.stderr[-2000:]}")
    return elapsed, result


def time_aether(pipeline, repeat, *flags, jobs=1):
    return [run_aether(pipeline, *flags, jobs=jobs)[0] for _ in range(repeat)]


def time_command(command, repeat):
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return samples


def node(script, *args):
    return ["node", str(NODE / script), *map(str, args)]


def per_unit(samples, base, units, scale):
    """(sample − median(base)) / units for every sample, times scale (a unit conversion)."""
    zero = statistics.median(base)
    return stat([(s - zero) / units * scale for s in samples])


# ---------------------------------------------------------------- 1. cold start


def install_baselines():
    """The npm baselines (isolated-vm, Deno, Extism) into bench/node/node_modules; False if that failed.

    isolated-vm builds with node-gyp against the running Node's own headers (no download)."""
    extism = NODE_MODULES / "@extism" / "extism"
    if (NODE_MODULES / "isolated-vm" / "out" / "isolated_vm.node").exists() and DENO.exists() and extism.exists():
        return True
    progress("installing the npm baselines (isolated-vm builds with node-gyp, about 2 minutes)")
    prefix = Path(subprocess.run(["node", "-p", "process.execPath"], capture_output=True, text=True).stdout.strip())
    env = dict(os.environ, npm_config_nodedir=str(prefix.parent.parent))
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--foreground-scripts"], cwd=NODE, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0 or not (NODE_MODULES / "isolated-vm" / "out" / "isolated_vm.node").exists():
        MISSING.append(f"isolated-vm, Deno and Extism baselines: `npm install` in bench/node failed: {done.stderr[-300:]}")
        return False
    return True


UNITS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}


def divan_sandbox():
    """Runs `cargo bench -p aether-sandbox` (divan) and returns {bench name: Stat in ms}.

    A name is the bench's, or `bench/arg` for a parameterized one; min–max are divan's fastest
    and slowest samples."""
    progress("in-process benches (cargo bench -p aether-sandbox)")
    done = subprocess.run(["cargo", "bench", "-p", "aether-sandbox", "--bench", "sandbox", "--", "--sample-count", "500"],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    out, parent = {}, None
    for line in done.stdout.splitlines():
        indented = line.startswith(("│", " "))
        cells = [c.strip() for c in line.removeprefix("│").split("│")]
        # The first cell holds the tree, the name and the fastest time; then slowest, median.
        first = cells[0].lstrip("├╰─ ").split()
        if len(cells) < 4 or not first or "fastest" in first:
            continue
        if not cells[1]:  # a parameterized bench's own line: its args follow
            parent = first[0]
            continue
        name, fastest = first[0], first[1:3]
        fastest, slowest, median = (float(v) * UNITS[u] for v, u in (fastest, cells[1].split(), cells[2].split()))
        out[f"{parent}/{name}" if indented and parent else name] = Stat(median, fastest, slowest)
    return out


def cold_start(root, divan):
    progress("1. cold start")
    plugin = write_plugin(root, "trivial", TRIVIAL_JS)
    aether = {}
    for tier in TIERS:
        policy = write_policy(root, f"cold-{tier}", tier)
        pipeline = write_pipeline(root, f"cold-{tier}", policy, [{"id": "s", "plugin": plugin, "with": {"n": 1}}])
        aether[tier] = time_aether(pipeline, 15)
    whole = time_command(node("worker_cold.mjs"), 10)
    each = json.loads(subprocess.run(node("worker_each.mjs", 50), check=True, capture_output=True, text=True).stdout)
    rows = []
    for tier in TIERS:
        rows.append(Row(f"1 cold start `aether run`, 1 trivial step, {tier} tier (whole process)",
                        stat([s * 1000 for s in aether[tier]]), "ms",
                        "Node process + 1 worker (`worker_cold.mjs`)", stat([s * 1000 for s in whole])))
    baselines = install_baselines()
    if baselines:
        deno_whole = time_command([str(DENO), "run", "--allow-read", str(NODE / "deno_worker_each.js"), "1"], 10)
        rows.append(Row("1 cold start `aether run`, 1 trivial step, thread tier (whole process)",
                        stat([s * 1000 for s in aether["thread"]]), "ms",
                        "Deno process + 1 Web Worker (`deno_worker_each.js 1`)", stat([s * 1000 for s in deno_whole])))
    for tier in TIERS:
        rows.append(Row(f"1 cold start, {tier} tier (whole process) vs one Node worker in-process",
                        stat([s * 1000 for s in aether[tier]]), "ms",
                        "Node worker create+call+terminate, N=50 in one process (`worker_each.mjs`)", stat(each)))
    in_process = divan["cold_start_and_call"]
    label = "1 in-process: thread-tier sandbox created, trivial module loaded and called, torn down (divan)"
    rows.append(Row(label, in_process, "ms", "Node worker create+call+terminate in-process (`worker_each.mjs`)",
                    stat(each)))
    if baselines:
        for script, name in (
            ("isolate_each.mjs", "isolated-vm isolate (256 MB) + context + module + call + dispose"),
            ("extism_each.mjs", "Extism plugin of an empty wasm function (no JS engine) created + called + closed"),
        ):
            times = json.loads(subprocess.run(["node", "--no-warnings", *node(script, 50)[1:]], check=True,
                                              capture_output=True, text=True).stdout)
            rows.append(Row(label, in_process, "ms", f"{name} (`{script}`)", stat(times)))
        deno_each = json.loads(subprocess.run([str(DENO), "run", "--allow-read", str(NODE / "deno_worker_each.js"), "50"],
                                              check=True, capture_output=True, text=True).stdout)
        rows.append(Row(label, in_process, "ms", "Deno Web Worker create+call+terminate in-process (`deno_worker_each.js`)",
                        stat(deno_each)))
    return rows, {tier: aether[tier] for tier in TIERS}, whole


# ---------------------------------------------------------------- 2. fan-out


def fan_out(root, one_step, node_one):
    progress("2. fan-out")
    plugin = "trivial"
    rows = []
    for n, repeat in ((50, 5), (500, 2)):
        steps = [{"id": f"s{k}", "plugin": plugin, "with": {"n": k}} for k in range(n)]
        baseline = per_unit(time_command(node("fanout.mjs", n), repeat), node_one, n - 1, 1000)
        for tier in TIERS:
            policy = write_policy(root, f"fan-{tier}", tier)
            pipeline = write_pipeline(root, f"fan{n}-{tier}", policy, steps)
            value = per_unit(time_aether(pipeline, repeat, jobs=2), one_step[tier], n - 1, 1000)
            rows.append(Row(f"2 fan-out {n} trivial steps `--jobs 2`, {tier} tier, per step", value, "ms",
                            f"Node, {n} workers 2 at a time (`fanout.mjs {n}`), per worker", baseline))
    return rows


# ---------------------------------------------------------------- 3. host calls


def host_calls(root):
    progress("3. host calls")
    calls = 20000
    data = root / "data"
    data.mkdir(exist_ok=True)
    (data / "kib.txt").write_text("x" * 1023 + "\n")

    def per_call(pipeline, *flags):
        def timed(k):
            steps = [{"id": "c", "plugin": pipeline["plugin"], "with": {**pipeline["with"], "calls": k}}]
            path = write_pipeline(root, f"{pipeline['name']}-{k}", pipeline["policy"], steps)
            return time_aether(path, 5, *flags)
        return per_unit(timed(calls), timed(0), calls, 1e6)

    rows = []
    env_plugin = write_plugin(root, "calls-env", CALLS_JS, {"env": ["AETHER_BENCH"]})
    env_sections = '[env]\nallow = ["AETHER_BENCH"]\n\n[unsafe]\nallowed = true\n'
    env_unsafe = None
    for tier in ("unsafe", *TIERS):
        policy = write_policy(root, f"env-{tier}", "thread" if tier == "unsafe" else tier, env_sections)
        spec = {"name": f"env-{tier}", "plugin": env_plugin, "policy": policy, "with": {"op": "env"}}
        if tier == "unsafe":
            env_unsafe = per_call(spec, "--unsafe")
            continue
        rows.append(Row(f"3 `aether.env.get`, {tier} tier, per call ({calls} calls)", per_call(spec), "µs",
                        "same, `--unsafe`", env_unsafe, "overhead"))

    read_unsafe = None
    for patterns, tier in ((1, "unsafe"), (1, "thread"), (10, "thread"), (1000, "thread"), (1, "process")):
        grant = [f"./data/miss-{k}/*.txt" for k in range(patterns - 1)] + ["./data/kib.txt"]
        plugin = write_plugin(root, f"calls-read-{patterns}", CALLS_JS, {"filesystem": {"read": grant}})
        sections = f"[filesystem]\nread = {toml_list(grant)}\n\n[unsafe]\nallowed = true\n"
        policy = write_policy(root, f"read-{patterns}-{tier}", "thread" if tier == "unsafe" else tier, sections)
        spec = {"name": f"read-{patterns}-{tier}", "plugin": plugin, "policy": policy,
                "with": {"op": "read", "path": "./data/kib.txt"}}
        if tier == "unsafe":
            read_unsafe = per_call(spec, "--unsafe")
            continue
        rows.append(Row(f"3 `aether.fs.readText` 1 KiB, {patterns} read pattern(s), {tier} tier, per call",
                        per_call(spec), "µs", "same, `--unsafe`", read_unsafe, "overhead"))
    return rows


# ---------------------------------------------------------------- 4. memory


def proc_status(pid, field):
    """A `kB` field of /proc/PID/status, in bytes (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def worker_pids(ancestor):
    """Descendants of ancestor whose command line names the zygote (the zygote and its workers)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat_line = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            parents[int(entry.name)] = int(stat_line.rsplit(")", 1)[1].split()[1])
    found = []
    for pid in parents:
        parent = parents[pid]
        while parent not in (ancestor, 0, 1) and parent in parents:
            parent = parents[parent]
        if parent == ancestor:
            try:
                if ZYGOTE_ARG in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def sandbox_memory(pipeline, jobs):
    """Runs a pipeline; returns (aether's VmHWM, peak of the summed RSS of its zygote and workers)."""
    command = [str(AETHER), "run", str(pipeline), "--output", "json", "--jobs", str(jobs)]
    # stdout to a file, not a pipe: nothing reads a pipe while the run goes, and a large JSON
    # document would block aether on a full pipe.
    out = tempfile.TemporaryFile()
    child = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=ENV)
    hwm = workers = 0
    deadline = time.monotonic() + 20
    while child.poll() is None:
        if time.monotonic() > deadline:
            child.kill()
            child.wait()
            raise TimeoutError(f"{pipeline.name} did not finish within 20 s")
        hwm = max(hwm, proc_status(child.pid, "VmHWM"))
        workers = max(workers, sum(proc_status(pid, "VmRSS") for pid in worker_pids(child.pid)))
        time.sleep(0.05)
    out.seek(0)
    if json.loads(out.read()).get("status") != "succeeded":
        raise RuntimeError(f"{pipeline.name} failed")
    return hwm, workers


def memory(root):
    progress("4. memory")
    plugin = write_plugin(root, "sleeper", SLEEP_JS)
    rows = []
    node_rss = {n: [int(subprocess.run(node("memory.mjs", n), check=True, capture_output=True, text=True).stdout)
                    for _ in range(3)] for n in (0, 100)}
    for tier in TIERS:
        policy = write_policy(root, f"mem-{tier}", tier)
        measured = {}
        for n, repeat in ((1, 3), (100, 3), (1000, 1)):
            steps = [{"id": f"s{k}", "plugin": plugin, "with": {"ms": 1500}} for k in range(n)]
            pipeline = write_pipeline(root, f"mem{n}-{tier}", policy, steps)
            try:
                measured[n] = [sandbox_memory(pipeline, n) for _ in range(repeat)]
            except TimeoutError as error:
                MISSING.append(f"row 4, {n} sandboxes, {tier} tier: {error} (killed)")
        for n in (n for n in (100, 1000) if n in measured):
            index = 0 if tier == "thread" else 1
            base = [sample[index] for sample in measured[1]]
            value = per_unit([sample[index] for sample in measured[n]], base, n - 1, 1 / MIB)
            what = "aether peak RSS (VmHWM)" if tier == "thread" else "summed RSS of zygote + workers"
            row = Row(f"4 memory, {n} idle sandboxes at once, {tier} tier: {what} per sandbox", value, "MiB")
            if n in node_rss:
                row.baseline_name = f"Node process RSS with {n} idle workers − 0 workers, per worker"
                row.baseline = per_unit(node_rss[n], node_rss[0], n, 1 / MIB)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- 5. enforcement


def enforcement(root, one_step, divan):
    progress("5. enforcement")
    rows = []
    for arg, what in (("loop", "`for(;;){}`"), ("regex", "catastrophic regex `/(a+)+$/`")):
        late = divan[f"stopped_at_10ms_timeout/{arg}"]
        rows.append(Row(f"5 timeout 10ms, {what}, thread tier in-process (divan): time to the stopped step − 10 ms",
                        Stat(late.median - 10, late.lo - 10, late.hi - 10), "ms"))
    loop = write_plugin(root, "loop", LOOP_JS)
    regex = write_plugin(root, "regex", REGEX_JS)
    hog = write_plugin(root, "hog", HOG_JS, limits={"memory": "64MiB"})
    for tier in TIERS:
        policy = write_policy(root, f"enforce-{tier}", tier)
        for plugin, what in ((loop, "`for(;;){}`"), (regex, "catastrophic regex `/(a+)+$/`")):
            pipeline = write_pipeline(root, f"{plugin}-{tier}", policy, [{"id": "s", "plugin": plugin, "timeout": "1s"}])
            walls = [(run_aether(pipeline, expect="failed")[0] - 1.0) * 1000 for _ in range(5)]
            rows.append(Row(f"5 timeout 1s, {what}, {tier} tier (whole process): wall time of the run − 1 s",
                            stat(walls), "ms", "a whole run of one trivial step (what start-up and exit cost)",
                            stat([s * 1000 for s in one_step[tier]]), "none"))
        pipeline = write_pipeline(root, f"hog-{tier}", policy, [{"id": "s", "plugin": hog}])
        peaks = [run_aether(pipeline, expect="failed")[1]["steps"][0]["peak_memory_bytes"] for _ in range(3)]
        over = stat([(peak - 64 * MIB) / 1024 for peak in peaks])
        rows.append(Row(f"5 memory hog, `limits.memory: 64MiB`, {tier} tier: `peak_memory_bytes` − 64 MiB",
                        over, f"KiB ({over.median / (64 * 1024) * 100:+.2f} % of the ceiling)"))
    return rows


# ---------------------------------------------------------------- 6. gateway


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(port_queue):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def plain_client(port, requests):
    """Seconds for `requests` sequential GETs, a new connection (no keep-alive) each."""
    start = time.perf_counter()
    for _ in range(requests):
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("GET", "/", headers={"Connection": "close"})
        connection.getresponse().read()
        connection.close()
    return time.perf_counter() - start


def gateway(root):
    progress("6. gateway")
    requests = 300
    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=10)
        target = f"127.0.0.1:{port}"
        plugin = write_plugin(root, "fetcher", FETCH_JS, {"network": {"domains": [target]}})
        sections = f'[network]\ndomains = ["{target}"]\nallow_private = ["127.0.0.1/32"]\n'
        baseline = stat([requests / plain_client(port, requests) for _ in range(3)])
        rows = []
        for tier in TIERS:
            policy = write_policy(root, f"net-{tier}", tier, sections)
            timed = {}
            for m in (0, requests):
                steps = [{"id": "f", "plugin": plugin, "with": {"url": f"http://{target}/", "requests": m}}]
                timed[m] = time_aether(write_pipeline(root, f"net{m}-{tier}", policy, steps), 3)
            zero = statistics.median(timed[0])
            value = stat([requests / (s - zero) for s in timed[requests]])
            rows.append(Row(f"6 gateway: {requests} sequential `fetch`es to a local server, {tier} tier", value, "req/s",
                            "Python `http.client`, a new connection per request", baseline))
        return rows
    finally:
        server.terminate()


# ---------------------------------------------------------------- main


# ---------------------------------------------------------------- 7. real-world libraries

CASE_PLUGIN_JS = """import { run } from "./case.mjs";
// One run; with i.runs > 0, that run is a warm-up and i.runs more are timed inside the step.
export default async (i) => {
  const output = await run(i.input);
  if (!i.runs) return { length: output.length };
  const times = [];
  for (let k = 0; k < i.runs; k++) {
    const start = performance.now();
    await run(i.input);
    times.push(performance.now() - start);
  }
  return { times, output };
};
"""

MARKDOWN_SECTION = """## Section {i}: configuring the *pipeline*

Aether runs **untrusted** plugins in a sandbox. See [the docs](https://example.com/docs/{i}) and
`aether run pipeline.yaml` for details; an inline `code span`, some _emphasis_ and a
line with trailing spaces  
that breaks.

- item one with a [link](https://example.com/{i})
- item two with `code`
  - nested item **bold**
1. first
2. second

> A quote that spans
> two lines, with *style*.

```js
export default (input) => input.lines.filter((l) => l.includes("ERROR")).length;
```

| column | value |
|--------|-------|
| a      | {i}   |
| b      | text  |

Plain paragraph text that goes on for a while so that the inline lexer has work to do:
lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt
ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation.

"""

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu pipeline plugin sandbox "
         "policy step output input error warning timeout memory network request response cache").split()


def repeat_to(size, make):
    """Concatenates make(0), make(1), … until the text is at least `size` characters."""
    parts, length, i = [], 0, 0
    while length < size:
        parts.append(make(i))
        length += len(parts[-1])
        i += 1
    return "".join(parts)


def markdown(size):
    """Markdown: headings, lists, quotes, code, tables, inline markup."""
    return repeat_to(size, lambda i: MARKDOWN_SECTION.format(i=i))


def yaml_doc(size):
    """YAML: a list of service records with nested maps, sequences, quoted, plain and block scalars, anchors."""
    rng = random.Random(7)

    def record(i):
        words = " ".join(rng.choice(WORDS) for _ in range(8))
        return (f"- name: service-{i}\n"
                f"  id: {i}\n"
                f"  enabled: {'true' if i % 3 else 'false'}\n"
                f"  ratio: {rng.random():.4f}\n"
                f"  owner: \"{rng.choice(WORDS)}@example.com\"\n"
                f"  tags: [{', '.join(rng.sample(WORDS, 3))}]\n"
                f"  limits: &limits{i}\n"
                f"    memory: {rng.randint(16, 1024)}MiB\n"
                f"    timeout: {rng.randint(1, 600)}s\n"
                f"  fallback: *limits{i}\n"
                f"  env:\n"
                f"    - {{ name: LEVEL, value: '{rng.choice(WORDS)}' }}\n"
                f"    - {{ name: COUNT, value: {rng.randint(0, 99)} }}\n"
                f"  description: |\n"
                f"    {words}\n"
                f"    second line of service {i}; with: colons # and hashes\n"
                f"  # a comment\n"
                f"  since: 2024-{1 + i % 12:02d}-{1 + i % 28:02d}\n")
    return repeat_to(size, record)


JS_UNIT = """// Module part {i}
export class Store{i} extends Map {{
  #hits = 0;
  static from(entries) {{ return new Store{i}(entries.map(([k, v]) => [`${{k}}:{i}`, v])); }}
  get(key) {{ this.#hits++; return super.get(key) ?? null; }}
  async *drain() {{ for (const [k, v] of this) {{ yield {{ k, v, hits: this.#hits }}; }} }}
}}

export function parse{i}(text, {{ sep = ",", trim = true, ...rest }} = {{}}) {{
  const out = [];
  for (let line of text.split(/\\r?\\n/)) {{
    if (trim) line = line.trim();
    if (!line || line.startsWith("#")) continue;
    const [head, ...tail] = line.split(sep);
    out.push({{ head, tail, n: tail.length, flags: rest.flags ?? 0b1010, big: 12n ** 3n }});
  }}
  return out.length > {i} ? out : out.concat([{{ head: null, tail: [], n: 0x1f }}]);
}}

const table{i} = {{
  "key-{i}": [1, 2.5e3, -0.25, "str\\u00e9", 'single', `tpl ${{1 + 2}}`],
  nested: {{ deep: {{ deeper: [true, false, null, undefined] }} }},
  fn: (a, b = a * 2) => a?.x ?? b,
  re: /^[a-z]+(?:-\\d+)?$/giu,
}};

try {{
  label{i}: for (let k = 0; k < 10; k++) {{
    switch (k % 3) {{
      case 0: continue label{i};
      case 1: if (k > 5) break label{i}; break;
      default: void table{i}.fn({{ x: k }});
    }}
  }}
}} catch ({{ message }}) {{
  console.log(message);
}} finally {{
  delete table{i}.nested;
}}

"""


def js_source(size):
    """JavaScript: an ES module of classes, private fields, generators, destructuring, regexes, labels."""
    return repeat_to(size, lambda i: JS_UNIT.format(i=i))


def orders(count):
    """Order records for lodash-es."""
    rng = random.Random(11)
    regions = ["eu-west", "eu-north", "us-east", "us-west", "ap-south", "sa-east"]
    return [{"id": i, "sku": f"SKU-{rng.randint(0, 999):03d}", "region": rng.choice(regions),
             "customer": f"customer-{rng.randint(0, count // 4)}", "qty": rng.randint(1, 50),
             "price": round(rng.uniform(0.5, 500), 2), "tags": rng.sample(WORDS, 2),
             "address": {"city": rng.choice(WORDS).title(), "zip": f"{rng.randint(10000, 99999)}"}}
            for i in range(count)]


HTML_ENTITIES = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&nbsp;", "&copy;", "&eacute;", "&euro;", "&mdash;",
                 "&hellip;", "&#x1F600;", "&#8364;", "&Auml;", "&szlig;", "&rarr;", "&frac12;", "&notin;"]


def html_text(size):
    """HTML text: paragraphs with named, decimal and hexadecimal character references, and bare non-ASCII."""
    rng = random.Random(13)

    def paragraph(i):
        words = []
        for _ in range(40):
            words.append(rng.choice(WORDS))
            if rng.random() < 0.3:
                words.append(rng.choice(HTML_ENTITIES))
            if rng.random() < 0.05:
                words.append("naïve café ☃")
        return f"<p class=\"p{i}\">{' '.join(words)}</p>\n"
    return repeat_to(size, paragraph)


def csv_text(size):
    """CSV with a header: integers, decimals, booleans, quoted fields with commas, quotes and newlines."""
    rng = random.Random(17)

    def row(i):
        if i == 0:
            return "id,name,amount,active,comment,date\n"
        comment = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.3:
            comment = '"' + comment.replace("a", '""a""', 1) + ", with a comma" + ('\nand a newline' if rng.random() < 0.3 else "") + '"'
        return f"{i},{rng.choice(WORDS)}-{i},{rng.uniform(-1000, 1000):.2f},{str(rng.random() < 0.5).lower()},{comment},2025-{1 + i % 12:02d}-{1 + i % 28:02d}\n"
    return repeat_to(size, row)


def plain_text(size):
    """Text to hash: words, with some non-ASCII (so its UTF-8 encoding is exercised)."""
    rng = random.Random(19)
    return repeat_to(size, lambda i: " ".join(rng.choice(WORDS) for _ in range(12)) + (" — über ✓\n" if i % 7 == 0 else "\n"))


@dataclass
class Case:
    package: str  # as installed in bench/realworld/node_modules
    module: str  # bench/realworld/cases/<module>.mjs
    what: str  # the input, for the table
    size: int  # N, in bytes (or records for lodash-es)
    make: object  # size → the step's input (a dict)
    keep: tuple = ()  # for a package pruned to what the case imports: the files to copy


CASES = [
    Case("marked", "marked", "KB markdown", 167_000, lambda n: {"text": markdown(n)}),
    Case("markdown-it", "markdown-it", "KB markdown", 167_000, lambda n: {"text": markdown(n)}),
    Case("js-yaml", "js-yaml", "KB YAML", 100_000, lambda n: {"text": yaml_doc(n)}),
    Case("yaml", "yaml", "KB YAML", 50_000, lambda n: {"text": yaml_doc(n)}),
    Case("acorn", "acorn", "KB JS", 200_000, lambda n: {"text": js_source(n)}),
    Case("@babel/parser", "babel-parser", "KB JS", 200_000, lambda n: {"text": js_source(n)}),
    Case("lodash-es", "lodash-es", "orders", 4_000, lambda n: {"orders": orders(n)}),
    Case("he", "he", "KB HTML", 100_000, lambda n: {"text": html_text(n)}),
    Case("papaparse", "papaparse", "KB CSV", 200_000, lambda n: {"text": csv_text(n)}),
    Case("@noble/hashes", "noble-hashes", "KB text, SHA-256 + SHA-512", 256_000, lambda n: {"text": plain_text(n)}),
    Case("prettier", "prettier", "KB JS formatted (standalone + babel plugin)", 20_000, lambda n: {"text": js_source(n)},
         ("package.json", "standalone.mjs", "plugins/babel.mjs", "plugins/estree.mjs")),
]


def package_closure(name, modules):
    """A package and the packages it depends on (npm's flat layout), by name."""
    seen, todo = [], [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        manifest = json.loads((modules / current / "package.json").read_text())
        todo.extend(manifest.get("dependencies", {}))
    return seen


def case_plugin(root, case):
    """The plugin directory of a case: index.js, the case module (and census.mjs), and in
    node_modules a copy of its package and dependencies only (a plugin may import only files
    inside its directory, and aether reads every file of it before the run, as a deployed
    plugin would be pruned)."""
    name = write_plugin(root, f"rw-{case.module}", CASE_PLUGIN_JS, limits={"timeout": "10m", "memory": "1GiB"})
    directory = root / "plugins" / name
    shutil.copy(REALWORLD / "cases" / f"{case.module}.mjs", directory / "case.mjs")
    shutil.copy(REALWORLD / "cases" / "census.mjs", directory / "census.mjs")
    modules = REALWORLD / "node_modules"
    for package in package_closure(case.package, modules):
        if case.keep and package == case.package:
            for file in case.keep:
                (directory / "node_modules" / package / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(modules / package / file, directory / "node_modules" / package / file)
        else:
            shutil.copytree(modules / package, directory / "node_modules" / package)
    return name


def install_realworld():
    """Installs bench/realworld's pinned packages (package-lock.json) unless they are there."""
    lock = json.loads((REALWORLD / "package-lock.json").read_text())
    wanted = [p.removeprefix("node_modules/") for p in lock["packages"] if p]
    if all((REALWORLD / "node_modules" / p / "package.json").exists() for p in wanted):
        return True
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=REALWORLD, capture_output=True, text=True)
    if done.returncode != 0:
        MISSING.append(f"group 7: `npm ci` in bench/realworld failed: {done.stderr[-300:]}")
        return False
    return True


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


REALWORLD_RESULTS = []  # (package, whole ratio, in-step ratio, aether scaling, node scaling), for the summary


def realworld(root, only=None):
    """Every case at N and 2N: whole process (5 runs each) and in step (a warm-up then 5 timed runs)."""
    progress("7. real-world libraries")
    if not install_realworld():
        return []
    versions = json.loads((REALWORLD / "package.json").read_text())["dependencies"]
    policy = write_policy(root, "realworld", "thread", '[limits]\nmax_memory = "1GiB"\nmax_timeout = "10m"\n')
    rows = []
    for case in CASES:
        if only and case.module not in only:
            continue
        progress(f"   {case.package}")
        plugin = case_plugin(root, case)
        label = f"{case.package} {versions[case.package]}"
        whole, inside = {}, {}
        for scale in (1, 2):
            n = case.size * scale
            data = case.make(n)
            path = root / f"{case.module}-{n}.json"
            path.write_text(json.dumps(data))
            size = f"{len(data['text']) / 1000:.0f} {case.what}" if "text" in data else f"{n} {case.what}"
            once = write_pipeline(root, f"{case.module}-{n}", policy,
                                  [{"id": "s", "plugin": plugin, "with": {"input": data, "runs": 0}}])
            timed = write_pipeline(root, f"{case.module}-{n}-in", policy,
                                   [{"id": "s", "plugin": plugin, "with": {"input": data, "runs": 5}}])
            command = ["node", str(REALWORLD / "node_case.mjs"), case.module, str(path)]
            whole[scale] = (stat([s * 1000 for s in time_aether(once, 5)]),
                            stat([s * 1000 for s in time_command([*command, "0"], 5)]))
            ours = run_aether(timed)[1]["steps"][0]["output"]
            theirs = json.loads(subprocess.run([*command, "5"], check=True, capture_output=True, text=True).stdout)
            inside[scale] = (stat(ours["times"]), stat(theirs["times"]))
            if ours["output"] != theirs["output"]:
                digest = lambda text: hashlib.sha256(str(text).encode()).hexdigest()[:12]
                MISSING.append(f"group 7, {label} at {size}: aether's output ({digest(ours['output'])}, "
                               f"{len(str(ours['output']))} chars) differs from Node's ({digest(theirs['output'])}, "
                               f"{len(str(theirs['output']))} chars)")
            rows.append(Row(f"7 {label}, {size} (whole process)", whole[scale][0], "ms",
                            f"Node, same input (`node_case.mjs {case.module}`)", whole[scale][1]))
            rows.append(Row(f"7 {label}, {size} (in step, after a warm-up run)", inside[scale][0], "ms",
                            "Node, in process after a warm-up run", inside[scale][1]))
        ours_scaling = whole[2][0].median / whole[1][0].median
        node_scaling = whole[2][1].median / whole[1][1].median
        rows.append(Row(f"7 {label}, whole-process time at 2N / at N (scaling; linear is 2×)",
                        stat([ours_scaling]), "×", "Node, same ratio", stat([node_scaling]), "none"))
        REALWORLD_RESULTS.append((label, whole[1][0].median / whole[1][1].median,
                                  inside[1][0].median / inside[1][1].median, ours_scaling, node_scaling))
    return rows


def realworld_summary():
    """A per-package summary of group 7 at N, and the geometric means."""
    lines = ["| package | whole process aether / Node | in step aether / Node | scaling N→2N aether | scaling N→2N Node |",
             "|---|---|---|---|---|"]
    for label, whole, inside, ours, theirs in REALWORLD_RESULTS:
        lines.append(f"| {label} | {whole:.2f}× | {inside:.2f}× | {ours:.2f}× | {theirs:.2f}× |")
    lines.append(f"| **geometric mean** | **{geomean([r[1] for r in REALWORLD_RESULTS]):.2f}×** | "
                 f"**{geomean([r[2] for r in REALWORLD_RESULTS]):.2f}×** | {geomean([r[3] for r in REALWORLD_RESULTS]):.2f}× | "
                 f"{geomean([r[4] for r in REALWORLD_RESULTS]):.2f}× |")
    return "\n".join(lines)


# ---------------------------------------------------------------- 8. compile once


def big_plugin_source(size):
    """An ES module of about `size` bytes: many small functions, one of them called."""
    parts, length, i = [], 0, 0
    while length < size:
        parts.append(f"export function f{i}(x) {{ const a = [x, {i}, 'v{i}']; return a.map((v) => String(v).length).reduce((s, n) => s + n, {i}) + (x > {i} ? f{i}.name.length : 0); }}\n")
        length += len(parts[-1])
        i += 1
    parts.append("export default (i) => f0(i.n);\n")
    return "".join(parts)


def compile_once(root):
    """A pipeline fanning one ~200 KB plugin out over 50 steps: per step with the compile-once
    cache (the default) and with `AETHER_COMPILE_CACHE=off` (every step compiles, as before)."""
    progress("8. compile once")
    plugin = "big"
    directory = root / "plugins" / plugin
    write_plugin(root, plugin, "")
    (directory / "index.js").write_text(big_plugin_source(200_000))
    rows = []
    n, repeat = 50, 5
    off = dict(ENV, AETHER_COMPILE_CACHE="off")
    disk = dict(ENV, AETHER_COMPILE_CACHE="disk", AETHER_COMPILE_CACHE_DIR=str(root / "compile-cache"))
    for tier in TIERS:
        policy = write_policy(root, f"big-{tier}", tier)
        one = write_pipeline(root, f"big1-{tier}", policy, [{"id": "s0", "plugin": plugin, "with": {"n": 0}}])
        many = write_pipeline(root, f"big{n}-{tier}", policy,
                              [{"id": f"s{k}", "plugin": plugin, "with": {"n": k}} for k in range(n)])
        timed = {}
        for label, env in (("on", ENV), ("off", off), ("disk", disk)):
            def run(pipeline, env=env):
                command = [str(AETHER), "run", str(pipeline), "--output", "json", "--jobs", "2"]
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                elapsed = time.perf_counter() - start
                if json.loads(done.stdout or "{}").get("status") != "succeeded":
                    raise RuntimeError(f"{pipeline.name}: {done.stderr[-2000:]}")
                return elapsed
            ones = [run(one) for _ in range(repeat)]
            timed[label] = (per_unit([run(many) for _ in range(repeat)], ones, n - 1, 1000), stat([s * 1000 for s in ones]))
        rows.append(Row(f"8 compile once: {n} steps of one 200 KB plugin `--jobs 2`, {tier} tier, per step", timed["on"][0], "ms",
                        "same, `AETHER_COMPILE_CACHE=off` (every step compiles)", timed["off"][0]))
        rows.append(Row(f"8 compile once: 1 step of the 200 KB plugin, {tier} tier (whole process)", timed["on"][1], "ms",
                        "same, `AETHER_COMPILE_CACHE=off`", timed["off"][1]))
        # The disk cache's runs after its first one (which wrote the entries) are warm.
        rows.append(Row(f"8 compile once: 1 step of the 200 KB plugin, {tier} tier, `AETHER_COMPILE_CACHE=disk` warm (whole process)",
                        timed["disk"][1], "ms", "same, `AETHER_COMPILE_CACHE=off`", timed["off"][1]))

WASM_BENCH = ROOT / "bench" / "wasm"
SHA256_JS = """import { createSHA256 } from "hash-wasm";
export default async (i) => {
  const data = new Uint8Array(i.mib * 1024 * 1024);
  for (let k = 0; k < data.length; k++) data[k] = k & 255;
  const hasher = await createSHA256();
  const hash = () => { hasher.init(); hasher.update(data); return hasher.digest("hex"); };
  const digest = hash();
  const times = [];
  for (let k = 0; k < i.runs; k++) {
    const start = performance.now();
    hash();
    times.push(performance.now() - start);
  }
  return { digest, times };
};
"""


def wasm(root):
    """hash-wasm's SHA-256 (WebAssembly, pinned in bench/wasm/package.json) of 64 MiB, in a step
    of each tier and in Node, timed in process after a warm-up hash (issue 19 item 4)."""
    progress("9. WebAssembly")
    if not (WASM_BENCH / "node_modules" / "hash-wasm").exists():
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=WASM_BENCH, capture_output=True, text=True)
        if done.returncode != 0:
            MISSING.append(f"group 9: `npm install` in bench/wasm failed: {done.stderr[-300:]}")
            return []
    plugin = write_plugin(root, "sha256", SHA256_JS, limits={"timeout": "10m", "memory": "1GiB"})
    shutil.copytree(WASM_BENCH / "node_modules", root / "plugins" / plugin / "node_modules")
    node_out = json.loads(subprocess.run(["node", str(WASM_BENCH / "node_sha256.mjs"), "64", "5"], check=True,
                                         capture_output=True, text=True).stdout)
    rows = []
    for tier in TIERS:
        policy = write_policy(root, f"wasm-{tier}", tier, '[limits]\nmax_memory = "1GiB"\nmax_timeout = "10m"\n')
        pipeline = write_pipeline(root, f"sha256-{tier}", policy, [{"id": "h", "plugin": plugin, "with": {"mib": 64, "runs": 5}}])
        out = run_aether(pipeline)[1]["steps"][0]["output"]
        if out["digest"] != node_out["digest"]:
            MISSING.append(f"group 9: the {tier} tier's digest differs from Node's")
        rows.append(Row(f"9 hash-wasm 4.12.0 SHA-256 of 64 MiB in wasm, {tier} tier (in step, after a warm-up hash)",
                        stat(out["times"]), "ms", "Node, same package and data, in process", stat(node_out["times"])))
    return rows


# ---------------------------------------------------------------- 10. embedded calls


def embedded():
    """Per-call cost of `Sandbox` + `Plugin::call` (issue 21) against a one-step `Workspace::run`
    in-process (the runner of `aether run`), both in one process (`crates/aether/examples/per_call.rs`)."""
    progress("10. embedded calls (cargo run --release -p aether --example per_call)")
    done = subprocess.run(["cargo", "run", "--quiet", "--release", "-p", "aether", "--example", "per_call", "--", "300"],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    out = json.loads(done.stdout)
    return [Row("10 embedded: `Plugin::call` of a trivial plugin, one `Sandbox`, 300 calls (per call)",
                stat(out["call_ms"]), "ms", "one-step `Workspace::run` in-process, workspace loaded once (target: within 10 %)",
                stat(out["run_ms"]), compare="overhead")]


GROUPS = "123456789A"


def main():
    groups = set("".join(sys.argv[1:])) or set(GROUPS)
    if not groups <= set(GROUPS):
        sys.exit("usage: python3 bench/run.py [GROUP...]  (groups 1 to 9 and A for 10, default all; "
                 "AETHER_BENCH_CASES=marked,he limits group 7 to those cases)")
    progress("building aether (release)")
    # Both binaries: `aether` and its zygote image `aether-zygote` (the process tier).
    subprocess.run(["cargo", "build", "--release", "-p", "aether-cli"], cwd=ROOT, check=True)
    started = time.perf_counter()
    rows = []
    divan = divan_sandbox() if groups & set("125") else {}  # 2 runs 1's one-step runs, which read it
    with tempfile.TemporaryDirectory(prefix="aether-bench-") as tmp:
        root = Path(tmp)
        if groups & set("125"):  # 2 and 5 subtract the one-step run of 1
            cold, one_step, node_one = cold_start(root, divan)
            rows += cold if "1" in groups else []
        if "2" in groups:
            rows += fan_out(root, one_step, node_one)
        if "3" in groups:
            rows += host_calls(root)
        if "4" in groups:
            rows += memory(root)
        if "5" in groups:
            rows += enforcement(root, one_step, divan)
        if "6" in groups:
            rows += gateway(root)
        if "7" in groups:
            only = os.environ.get("AETHER_BENCH_CASES")
            rows += realworld(root, only.split(",") if only else None)
        if "8" in groups:
            rows += compile_once(root)
        if "9" in groups:
            rows += wasm(root)
        if "A" in groups:
            rows += embedded()
    print(machine())
    print()
    print(table(rows))
    print()
    if REALWORLD_RESULTS:
        print(realworld_summary())
        print()
    for missing in MISSING:
        print(f"- Missing: {missing}")
    print(f"Measured in {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
