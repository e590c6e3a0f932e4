#!/bin/bash
# Submits an mtasim sweep to Slurm: a job array of SHARDS tasks, each running one shard
# (sweep.sbatch, beside this file), then a merge job that starts once every shard has
# succeeded and is cancelled if one fails.
#
#   examples/slurm/submit.sh [SWEEP ARGS...]
#
# The arguments are mtasim sweep's (the scenario first, then --plan, --vary,
# --replications, --require, --out and the rest); without any, the README's sweep of
# scenarios/tuning-backoff.json with its plan. Do not give --shard or -j: the array and
# Slurm's CPUs set them.
#
# Environment:
#   SHARDS         how many array tasks, and so shards [8]
#   CPUS_PER_TASK  CPUs (and sweep threads) per shard [2]; more than a node has is refused
#   MTASIM         the mtasim binary the jobs run [mtasim, from the PATH]
#   and sbatch's own, for both jobs: SBATCH_PARTITION, SBATCH_TIMELIMIT, SBATCH_ACCOUNT...
#
# The merged outputs go to --out (default output/<scenario file name>-sweep, as mtasim's);
# the shards' folders and the jobs' logs to <out>.shards/. Every path is relative to the
# folder you submit from, which the jobs run in: it must be on a filesystem every node
# sees. Prints what it submitted on standard error, and the merge job's id last on
# standard output, e.g. `merge=$(examples/slurm/submit.sh ...)`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shards=${SHARDS:-8}
cpus=${CPUS_PER_TASK:-2}
mtasim=${MTASIM:-mtasim}

fail() {
  echo "submit.sh: $*" >&2
  exit 2
}

case $shards in '' | *[!0-9]* | 0) fail "SHARDS must be a positive whole number, not '$shards'" ;; esac
case $cpus in '' | *[!0-9]* | 0) fail "CPUS_PER_TASK must be a positive whole number, not '$cpus'" ;; esac

if [ $# -eq 0 ]; then
  repo=$(cd "$here/../.." && pwd)
  set -- "$repo/scenarios/tuning-backoff.json" --plan "$repo/scenarios/sweeps/tuning-backoff.json"
fi

# --out names the merged folder; the shards get their own, so the merge can replace it.
# --no-plots and --export are the merge's business too (shards draw and export nothing).
out=
args=()
merge_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || fail "--out needs a folder"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -q | --quiet) shift ;;
    --no-plots) merge_args+=("$1"); shift ;;
    --export) [ $# -ge 2 ] || fail "--export needs a format"; merge_args+=("$1" "$2"); shift 2 ;;
    --export=*) merge_args+=("$1"); shift ;;
    --shard | --shard=* | -j | -j* | --jobs | --jobs=*)
      fail "$1: the array sets the shard and Slurm's CPUs the threads (SHARDS, CPUS_PER_TASK)" ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -z "$out" ]; then
  case ${args[0]:--} in
    -*) out=output/default-sweep ;;
    *) name=$(basename "${args[0]}"); out=output/${name%.json}-sweep ;;
  esac
fi
dir=$out.shards
mkdir -p "$dir"

array_opts=(--array="0-$((shards - 1))" --cpus-per-task="$cpus" --output="$dir/slurm-%A_%a.out")

# A request no node can meet would pend forever (reason PartitionConfig): ask first.
if ! check=$(sbatch --test-only "${array_opts[@]}" "$here/sweep.sbatch" "$dir" 2>&1); then
  fail "Slurm cannot run $shards shards of $cpus CPUs each here: ${check#sbatch: error: }
(set CPUS_PER_TASK to at most a node's CPUs, or SBATCH_PARTITION to a partition whose nodes have them)"
fi

array=$(sbatch --parsable "${array_opts[@]}" "$here/sweep.sbatch" "$dir" "${args[@]}")
array=${array%%;*}
echo "shards: array job $array, $shards tasks of $cpus CPUs, writing $dir/shard-0 .. shard-$((shards - 1))" >&2

folders=()
for ((i = 0; i < shards; i++)); do folders+=("$dir/shard-$i"); done
merge_command=$(printf '%q ' "$mtasim" sweep-merge "${folders[@]}" "${merge_args[@]}" --out "$out")
merge=$(sbatch --parsable --job-name=mtasim-merge --cpus-per-task=1 \
  --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  --output="$dir/merge-%j.out" --wrap="exec $merge_command")
merge=${merge%%;*}
echo "merge: job $merge after every shard succeeds (cancelled if one fails), writing $out" >&2
echo "$merge"
