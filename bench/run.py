#!/usr/bin/env python3
"""aether's benchmark harness (issue 8): `python3 bench/run.py`.

Builds aether in release, generates every fixture (plugins, policies, pipelines) into a
temporary directory, runs each measurement next to its baseline and prints one markdown
table with the machine it ran on. Progress goes to stderr, the table to stdout.
Standard library only; see docs/BENCHMARKS.md for what each row measures.
"""

import http.client
import http.server
import json
import multiprocessing
import os
import platform
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
MARKED_JS = """import { marked } from "marked";
export default (i) => {
  marked.parse(i.md);
  const times = [];
  for (let k = 0; k < i.runs; k++) {
    const start = Date.now();
    marked.parse(i.md);
    times.push(Date.now() - start);
  }
  return times;
};
"""
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


def markdown(size):
    """A markdown document of about `size` bytes: headings, lists, quotes, code, tables, inline markup."""
    parts, length, i = [], 0, 0
    while length < size:
        parts.append(MARKDOWN_SECTION.format(i=i))
        length += len(parts[-1])
        i += 1
    return "".join(parts)


def realworld(root):
    """marked (pinned in bench/realworld/package.json) on a 167 KB document and on twice that."""
    progress("7. real-world libraries")
    if not (REALWORLD / "node_modules" / "marked").exists():
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=REALWORLD, capture_output=True, text=True)
        if done.returncode != 0:
            MISSING.append(f"group 7: `npm install` in bench/realworld failed: {done.stderr[-300:]}")
            return []
    plugin = write_plugin(root, "marked", MARKED_JS, limits={"timeout": "10m", "memory": "1GiB"})
    # A copy: a plugin may import only files inside its directory (a symlink out is refused).
    shutil.copytree(REALWORLD / "node_modules", root / "plugins" / plugin / "node_modules")
    policy = write_policy(root, "realworld", "thread", '[limits]\nmax_memory = "1GiB"\nmax_timeout = "10m"\n')
    rows, whole = [], {}
    for label, size in (("167 KB", 167_000), ("334 KB", 334_000)):
        doc = markdown(size)
        path = root / f"doc-{size}.md"
        path.write_text(doc)
        once = write_pipeline(root, f"marked-{size}", policy, [{"id": "m", "plugin": plugin, "with": {"md": doc, "runs": 0}}])
        steps = write_pipeline(root, f"marked-{size}-in", policy, [{"id": "m", "plugin": plugin, "with": {"md": doc, "runs": 5}}])
        whole[label] = (stat([s * 1000 for s in time_aether(once, 5)]),
                        stat([s * 1000 for s in time_command(["node", str(REALWORLD / "node_marked.mjs"), str(path), "1"], 5)]))
        inside = run_aether(steps)[1]["steps"][0]["output"]
        node_inside = json.loads(subprocess.run(["node", str(REALWORLD / "node_marked.mjs"), str(path), "5"], check=True,
                                                capture_output=True, text=True).stdout)
        rows.append(Row(f"7 marked 15.0.12, {label} markdown (whole process)", whole[label][0], "ms",
                        "Node, same document (`node_marked.mjs`)", whole[label][1]))
        rows.append(Row(f"7 marked 15.0.12, {label} markdown (in step, after a warm-up parse)", stat(inside), "ms",
                        "Node, in process after a warm-up parse", stat(node_inside)))
    rows.append(Row("7 marked 15.0.12, whole-process time at 334 KB / at 167 KB (scaling; linear is 2×)",
                    stat([whole["334 KB"][0].median / whole["167 KB"][0].median]), "×",
                    "Node, same ratio", stat([whole["334 KB"][1].median / whole["167 KB"][1].median]), "none"))
    return rows


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


GROUPS = "12345678"


def main():
    groups = set("".join(sys.argv[1:])) or set(GROUPS)
    if not groups <= set(GROUPS):
        sys.exit("usage: python3 bench/run.py [GROUP...]  (groups 1 to 8, default all)")
    progress("building aether (release)")
    subprocess.run(["cargo", "build", "--release", "--bin", "aether"], cwd=ROOT, check=True)
    started = time.perf_counter()
    rows = []
    divan = divan_sandbox() if groups & set("15") else {}
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
            rows += realworld(root)
        if "8" in groups:
            rows += compile_once(root)
            rows += wasm(root)
    print(machine())
    print()
    print(table(rows))
    print()
    for missing in MISSING:
        print(f"- Missing: {missing}")
    print(f"Measured in {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
