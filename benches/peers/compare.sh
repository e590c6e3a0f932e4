#!/usr/bin/env bash
# mtasim against the hand-written SimPy peer (mta_simpy.py) on the same job: the machine,
# the versions, both models' counts side by side, both wall times and the ratio.
#
#   benches/peers/compare.sh                 # 100,000 messages, 100 receivers, one day
#   RUNS=20 MESSAGES=1000000 RECEIVERS=1000 benches/peers/compare.sh
#
# Needs SimPy (python3 -m pip install -r benches/peers/requirements.txt); uses hyperfine
# when it is installed (apt-get install hyperfine), else times a loop itself. Wall time is
# the whole process as a user waits for it: start-up, building the world, the run and
# writing the outputs (mtasim: summary.json, timeseries.csv, transitions.csv, no charts;
# the peer: summary.json, timeseries.csv). On a shared machine the wall times follow the
# load (printed first); the CPU times, and so their ratio, much less.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-10}
MESSAGES=${MESSAGES:-100000}
RECEIVERS=${RECEIVERS:-100}
DURATION=${DURATION:-1d}
OVER=${OVER:-1d}
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import simpy' 2>/dev/null; then
    echo "error: $PYTHON has no SimPy: $PYTHON -m pip install -r benches/peers/requirements.txt" >&2
    exit 2
fi

cargo build --release --locked --bin mtasim --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A private copy: a target folder shared with other worktrees may be rebuilt meanwhile.
cp "$target_dir/release/mtasim" "$work/mtasim"

mtasim_run="$work/mtasim run scenarios/scale.json --no-plots --out $work/mtasim-out \
--set traffic.0.messages=$MESSAGES --set generated_receivers.count=$RECEIVERS \
--set duration=$DURATION --set traffic.0.over=$OVER"
mtasim_cmd="$mtasim_run -q"
peer_cmd="$PYTHON benches/peers/mta_simpy.py --messages $MESSAGES --receivers $RECEIVERS \
--duration $DURATION --over $OVER --out $work/peer-out"

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GiB; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kernel: $(uname -sr)"
echo "rustc: $(rustc --version)"
echo "python: $("$PYTHON" --version 2>&1), simpy $("$PYTHON" -c 'import simpy; print(simpy.__version__)')"
echo "mtasim: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' (modified)')"
echo
echo "== the job: scenarios/scale.json, $MESSAGES messages, $RECEIVERS generated receivers, over $OVER, $DURATION simulated"
echo "mtasim: $mtasim_cmd"
echo "simpy:  $peer_cmd"
echo

# One run of each for the counts (mtasim's events come from --stats).
stats=$($mtasim_run --stats)
mtasim_events=$(awk '$1 == "events" {print $2}' <<<"$stats")
mtasim_wall=$(awk '$1 == "wall" && $2 == "time" {print $3}' <<<"$stats")
$peer_cmd >/dev/null
echo "== counts (one run each)"
"$PYTHON" - "$work" "$mtasim_events" "$mtasim_wall" <<'EOF'
import json, sys
work, events, wall = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
m = json.load(open(f"{work}/mtasim-out/summary.json"))["totals"]
p = json.load(open(f"{work}/peer-out/summary.json"))
rows = [(k, m[k], p[k]) for k in ("injected", "delivered", "bounced", "expired", "queued",
                                  "attempts", "deferrals", "dfc_held_messages",
                                  "backoff_entries", "suspensions", "blocks")]
rows.append(("model events", events, p["model_events"]))
rows.append(("SimPy scheduled events", "", p["simpy_events"]))
rows.append(("in-process wall, s", wall, p["wall_s"]))
print(f"{'':24} {'mtasim':>12} {'simpy':>12}")
for name, a, b in rows:
    print(f"{name:24} {a:>12} {b:>12}")
EOF
echo

echo "== wall time, $RUNS runs each"
if command -v hyperfine >/dev/null; then
    hyperfine --shell=none --warmup 2 --runs "$RUNS" --export-json "$work/times.json" \
        --command-name mtasim "$mtasim_cmd" --command-name simpy "$peer_cmd"
else
    "$PYTHON" - "$RUNS" "$work/times.json" "$mtasim_cmd" "$peer_cmd" <<'EOF'
import json, resource, shlex, statistics, subprocess, sys, time
runs, out, commands = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
results = []
for name, command in zip(("mtasim", "simpy"), commands):
    args, times, user, system = shlex.split(command), [], [], []
    for i in range(runs + 2):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i >= 2:  # two warm-up runs
            times.append(time.perf_counter() - start)
            user.append(after.ru_utime - before.ru_utime)
            system.append(after.ru_stime - before.ru_stime)
    print(f"{name}: mean {statistics.mean(times):.4f} s, min {min(times):.4f} s, "
          f"max {max(times):.4f} s")
    results.append({"command": name, "mean": statistics.mean(times), "min": min(times),
                    "times": times, "user": statistics.mean(user),
                    "system": statistics.mean(system)})
json.dump({"results": results}, open(out, "w"))
EOF
fi
echo
"$PYTHON" - "$work/times.json" <<'EOF'
import json, statistics, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
m, p = results["mtasim"], results["simpy"]
median = lambda r: statistics.median(r["times"])
print(f"mtasim: mean {m['mean']:.4f} s, median {median(m):.4f} s, min {m['min']:.4f} s")
print(f"simpy:  mean {p['mean']:.4f} s, median {median(p):.4f} s, min {p['min']:.4f} s")
cpu = lambda r: r["user"] + r["system"]
print(f"CPU time (user + system, means): mtasim {cpu(m):.4f} s, simpy {cpu(p):.4f} s")
print(f"mtasim is {p['mean'] / m['mean']:.0f}x faster (wall, means), "
      f"{median(p) / median(m):.0f}x (wall, medians), {p['min'] / m['min']:.0f}x "
      f"(wall, minimums), {cpu(p) / cpu(m):.0f}x (CPU time)")
EOF
