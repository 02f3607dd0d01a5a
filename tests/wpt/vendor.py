#!/usr/bin/env python3
"""Re-vendors the web-platform-tests files aether runs (docs/web-platform-tests.md).

Usage: tests/wpt/vendor.py WPT_GIT_DIR [REV]

WPT_GIT_DIR is a clone of https://github.com/web-platform-tests/wpt (a bare one will do);
REV defaults to HEAD. The directories below are replaced by what REV holds: every `.any.js`
test, every script a test names in `// META: script=` (recursively, `/common/...` and
`/resources/...` included, testharness.js itself excepted: the adapter replaces it), and the
JSON data files of each directory (fetched at run time by the URL and encoding tests).
Tests written as `.html`/`.htm` pages whose scripts need no DOM (no `document`, no
`iframe`) become `NAME.html.js`: the external scripts as `// META: script=` lines, then the
inline scripts in order (WPT later turned most of these pages into `.any.js` files with the
same content). Pages that need a DOM are listed in SKIPPED-PAGES.txt with the reason.
Writes UPSTREAM (the commit) and copies the LICENSE. Nothing else is touched.
"""
import os
import re
import shutil
import subprocess
import sys

DIRS = [
    "url",
    "encoding",
    "WebCryptoAPI",
    "streams",
    "compression",
    "dom/abort",
    "dom/events",
    "FileAPI/blob",
    "xhr/formdata",
    "html/webappapis/structured-clone",
    "fetch/api/headers",
    "fetch/api/request",
    "fetch/api/response",
]
# Where test pages are turned into scripts: the directories with few or no `.any.js` tests at
# the vendored commit (elsewhere a page only repeats an `.any.js` test, or needs a DOM).
PAGE_DIRS = ("dom/", "FileAPI/", "fetch/", "xhr/", "html/", "url/", "WebCryptoAPI/")
# Served by the adapter (tests/wpt/harness.js), never vendored.
HARNESS = {"resources/testharness.js", "resources/testharnessreport.js"}
HERE = os.path.dirname(os.path.abspath(__file__))
META = re.compile(r"^//\s*META:\s*script=(\S+)", re.M)


def git(gitdir, *args):
    return subprocess.run(["git", "--git-dir", gitdir, *args], check=True,
                          capture_output=True).stdout


SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.S | re.I)
SRC = re.compile(r"""src\s*=\s*["']?([^"'\s>]+)""", re.I)


def page_script(html, name):
    """The scripts of a test page as one script with META lines, or `skip:REASON`."""
    metas, bodies = [], []
    for attrs, body in SCRIPT.findall(html):
        src = SRC.search(attrs)
        if src:
            ref = src.group(1)
            if ref.endswith(("testharness.js", "testharnessreport.js")):
                continue
            metas.append(f"// META: script={ref}")
        else:
            bodies.append(body)
    text = "\n".join(bodies)
    if not bodies:
        return "skip:no inline test script"
    for word, reason in (("document", "needs a DOM"), ("iframe", "needs iframes"),
                         ("Worker(", "needs workers"), ("XMLHttpRequest", "needs XMLHttpRequest"),
                         ("<form", "needs a DOM"), ("window.", "needs a window"),
                         ("Animation", "needs CSS animations"), ("incumbent", "needs iframes")):
        if word in text or (word == "<form" and word in html):
            return f"skip:{reason}"
    return "// Extracted from " + name.split("/")[-1] + " by vendor.py.\n" + "\n".join(metas) + "\n" + text + "\n"


def extra_paths():
    with open(os.path.join(HERE, "EXTRA.txt")) as f:
        return [line.split()[0] for line in f if line.strip() and not line.startswith("#")]


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: vendor.py WPT_GIT_DIR [REV]")
    gitdir = sys.argv[1]
    if os.path.isdir(os.path.join(gitdir, ".git")):
        gitdir = os.path.join(gitdir, ".git")
    rev = git(gitdir, "rev-parse", (sys.argv[2] if len(sys.argv) > 2 else "HEAD") + "^{commit}").decode().strip()
    files = git(gitdir, "ls-tree", "-r", "--name-only", rev, "--", *DIRS, "xhr",
                "fetch/api/resources").decode().splitlines()
    # Before 2021 the FormData tests were `xhr/formdata-*.htm` pages beside the XHR ones.
    files = [f for f in files if not f.startswith("xhr/") or f.lower().startswith("xhr/formdata")]
    wanted = {f for f in files if f.endswith(".any.js") or (f.endswith(".json") and "/resources/" in "/" + f)}
    wanted |= {f for f in files if f.startswith("url/resources/") and f.endswith(".json")}
    # Static files the fetch tests read (their server-side scripts, `.py`, cannot run here).
    wanted |= {f for f in files if f.startswith("fetch/api/resources/") and f.endswith((".json", ".txt"))}
    todo = [f for f in wanted if f.endswith(".js")] + [f for f in extra_paths() if f not in wanted]
    while todo:
        path = todo.pop()
        if path in wanted:
            text = git(gitdir, "show", f"{rev}:{path}").decode("utf-8", "replace")
        else:
            with open(os.path.join(HERE, path)) as f:
                text = f.read()
        for ref in META.findall(text):
            ref = ref.split("?")[0]
            target = ref[1:] if ref.startswith("/") else os.path.normpath(os.path.join(os.path.dirname(path), ref))
            if target in HARNESS or target in wanted:
                continue
            try:
                git(gitdir, "cat-file", "-e", f"{rev}:{target}")
            except subprocess.CalledProcessError:
                print(f"missing META script {target} (from {path})", file=sys.stderr)
                continue
            wanted.add(target)
            todo.append(target)
    pages, skipped = {}, []
    for f in files:
        if not f.endswith((".html", ".htm")) or "/resources/" in f or "/support/" in f:
            continue
        if not f.startswith(PAGE_DIRS):
            continue
        script = page_script(git(gitdir, "show", f"{rev}:{f}").decode("utf-8", "replace"), f)
        if isinstance(script, str) and script.startswith("skip:"):
            skipped.append(f"{f}: {script[5:]}")
            continue
        pages[f + ".js"] = script
        for ref in META.findall(script):
            target = os.path.normpath(os.path.join(os.path.dirname(f), ref))
            if ref.startswith("/"):
                target = ref[1:]
            if target not in HARNESS and target not in wanted:
                wanted.add(target)
    tops = {d.split("/")[0] for d in DIRS} | {"common", "resources"}
    # EXTRA.txt: files read one by one from a newer upstream commit; kept unless REV has them.
    extra = {}
    for path in extra_paths():
        if path not in wanted and os.path.exists(os.path.join(HERE, path)):
            with open(os.path.join(HERE, path), "rb") as g:
                extra[path] = g.read()
    for d in DIRS + ["common", "resources"]:
        shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
    for path in sorted(wanted):
        if path.split("/")[0] not in tops:
            print(f"skipping {path}: outside the vendored tree", file=sys.stderr)
            continue
        out = os.path.join(HERE, path)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(git(gitdir, "show", f"{rev}:{path}"))
    for path, data in extra.items():
        os.makedirs(os.path.dirname(os.path.join(HERE, path)), exist_ok=True)
        with open(os.path.join(HERE, path), "wb") as f:
            f.write(data)
    for path, script in sorted(pages.items()):
        out = os.path.join(HERE, path)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(script)
    with open(os.path.join(HERE, "SKIPPED-PAGES.txt"), "w") as f:
        f.write("".join(line + "\n" for line in sorted(skipped)))
    with open(os.path.join(HERE, "LICENSE.md"), "wb") as f:
        f.write(git(gitdir, "show", f"{rev}:LICENSE.md"))
    with open(os.path.join(HERE, "UPSTREAM"), "w") as f:
        f.write(f"https://github.com/web-platform-tests/wpt/tree/{rev}\n")
    print(f"vendored {len(wanted)} files from {rev}")


if __name__ == "__main__":
    main()
