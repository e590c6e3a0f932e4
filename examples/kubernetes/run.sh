#!/bin/sh
# Runs the sweep of sweep-job.yaml on the cluster kubectl points at, then its merge:
#
#   examples/kubernetes/run.sh [TIMEOUT]      # TIMEOUT for the shards, default 2h
#
# Build and push the image first (README, "Sweeps across machines"), and set `image:` in
# both jobs to it. The merged outputs end in /data/sweep/all on the volume mtasim-data.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
timeout=${1:-2h}

kubectl apply -f "$here/volume.yaml"
kubectl apply -f "$here/sweep-job.yaml"
# Complete when every index succeeded; Failed when one ran out of retries.
kubectl wait --for=condition=complete job/mtasim-sweep --timeout="$timeout" &
complete=$!
kubectl wait --for=condition=failed job/mtasim-sweep --timeout="$timeout" >/dev/null 2>&1 &
failed=$!
while kill -0 "$complete" 2>/dev/null && kill -0 "$failed" 2>/dev/null; do sleep 5; done
if ! wait "$complete"; then
  kill "$failed" 2>/dev/null || true
  echo "run.sh: the sweep did not complete; its failed pods (index: reason):" >&2
  kubectl get pods -l job-name=mtasim-sweep --field-selector=status.phase=Failed \
    -o jsonpath='{range .items[*]}{.metadata.annotations.batch\.kubernetes\.io/job-completion-index}: {.status.containerStatuses[0].state.terminated.reason}{"\n"}{end}' >&2
  exit 1
fi
kill "$failed" 2>/dev/null || true

kubectl apply -f "$here/merge-job.yaml"
kubectl wait --for=condition=complete job/mtasim-merge --timeout=30m || true
kubectl logs job/mtasim-merge
test "$(kubectl get job mtasim-merge -o jsonpath='{.status.succeeded}')" = 1
