#!/usr/bin/env bash
# Two-node Ray simulation on one machine: a head node (1 CPU, custom resource nodeA) and a worker
# node (1 CPU, nodeB) joined to it, then a tiny `noisebench grid` on the cluster; prints which runs
# went to which node (from the results database's node column) and stops both nodes.
#
#   bench/ray_two_nodes.sh            # uses .venv/bin if present, else PATH
#   OUT=/tmp/x PORT=6390 bench/ray_two_nodes.sh
#
# On two real machines the same two `ray start` lines run on each machine (the second with the
# head's IP), and the grid is started on the head with --address auto (or HOST:PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$( [ -x .venv/bin/ray ] && echo .venv/bin || dirname "$(command -v ray)")}
PORT=${PORT:-6390}
OUT=${OUT:-$(mktemp -d /tmp/nb_ray2n.XXXXXX)}
TMP="$OUT/ray"  # this cluster's session files and logs (both nodes)
export RAY_USAGE_STATS_ENABLED=0
# Ray >= 2.5x: token authentication; every node and the driver use the same token (here the one in
# ~/.ray/auth_token, made by `ray get-auth-token --generate` on first use; on real machines copy it
# to each node or set RAY_AUTH_TOKEN). RAY_AUTH_MODE=disabled opts out.
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-token}
mkdir -p "$OUT"

# Stop only this cluster's processes (they name its session dir or port): `ray stop --force` would
# stop every Ray process of this user on the machine. Use it by hand if something is left over.
cleanup() {
    local pids
    pids=$(pgrep -u "$(id -u)" -f -- "$TMP|:$PORT( |$)" || true)
    [ -z "$pids" ] && return 0
    kill $pids 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(pgrep -u "$(id -u)" -f -- "$TMP|:$PORT( |$)" || true)
        [ -z "$pids" ] && break
        sleep 1
    done
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    echo "stopped the two Ray nodes"
}
trap cleanup EXIT

echo "== head node (nodeA) on port $PORT"
"$BIN/ray" start --head --port "$PORT" --num-cpus 1 --num-gpus 0 --resources '{"nodeA": 1}' \
    --include-dashboard false --temp-dir "$TMP" --disable-usage-stats >"$OUT/head.log" 2>&1 \
    || { cat "$OUT/head.log"; exit 1; }
echo "== worker node (nodeB) joins 127.0.0.1:$PORT"
"$BIN/ray" start --address "127.0.0.1:$PORT" --num-cpus 1 --num-gpus 0 --resources '{"nodeB": 1}' \
    --temp-dir "$TMP" --dashboard-agent-listen-port 52366 >"$OUT/worker.log" 2>&1 \
    || { cat "$OUT/worker.log"; exit 1; }

"$BIN/noisebench" synth --rows 700 --out "$OUT/data" >/dev/null
cat >"$OUT/grid.toml" <<EOF
[grid]
data = ["$OUT/data/synth-700-dirty.h5"]
activations = ["relu", "elu", "tanh"]
seeds = 2
epochs = 2
EOF

echo "== grid (12 runs) on the 2-node cluster"
time "$BIN/noisebench" grid "$OUT/grid.toml" --executor ray --address "127.0.0.1:$PORT" \
    --gpus-per-run 0 --cpus-per-run 1 --retries 2 --spread --db "$OUT/results.db"

echo "== runs per node (results database, node column = IP/ray-node-id)"
"$BIN/python" - "$OUT/results.db" "127.0.0.1:$PORT" <<'EOF'
import sqlite3, sys
import ray

ray.init(address=sys.argv[2], logging_level="error", log_to_driver=False)
names = {}
for n in ray.nodes():
    tag = ",".join(k for k in n["Resources"] if k.startswith("node") and not k.startswith("node:"))
    names[n["NodeID"][:12]] = tag or "?"
ray.shutdown()
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT node, activation, role, seed, status, round(wall_s, 2) FROM runs ORDER BY node, activation, seed, role").fetchall()
by = {}
for node, act, role, seed, st, wall in rows:
    tag = names.get((node or "/").split("/")[1], "?")
    print(f"{tag:6} {node}  mlp/{act}/{role}/s{seed}  {st}  {wall} s")
    by[tag] = by.get(tag, 0) + 1
print("runs per node:", ", ".join(f"{k}: {v}" for k, v in sorted(by.items())), f"(total {len(rows)})")
assert len(by) >= 2 and len(rows) == 12, "expected 12 runs spread over both nodes"
EOF
echo "== processes of the two nodes: $(pgrep -u "$(id -u)" -f -- "$TMP|:$PORT( |$)" | wc -l)"
echo "outputs in $OUT"
