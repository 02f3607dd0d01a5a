#!/usr/bin/env bash
# Serves ./site with Python's http.server on 127.0.0.1 at a free port, runs the pipeline
# against it, and stops the server. Arguments go to `aether run` (for instance
# `--output json`). The aether binary is $AETHER, else `aether` on PATH, else `cargo run`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -n "${AETHER:-}" ]; then
  aether=("$AETHER")
elif command -v aether > /dev/null; then
  aether=(aether)
else
  aether=(cargo run --quiet --manifest-path "$here/../../Cargo.toml" --bin aether --)
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A grant names an exact address and port: copy the example and write the chosen port into the
# manifest, the policy and the pipeline, where the committed files say 8000.
cp -R "$here/plugins" "$here/site" "$work/"
for f in pipeline.yaml aether-policy.toml plugins/price-check/aether-plugin.json; do
  sed "s/127\.0\.0\.1:8000/127.0.0.1:$port/g" "$here/$f" > "$work/$f"
done

python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/site" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2> /dev/null; then
    break
  fi
  kill -0 "$server" 2> /dev/null || { cat "$work/server.log" >&2; exit 2; }
  sleep 0.05
done

cd "$work"
"${aether[@]}" run pipeline.yaml "$@"
