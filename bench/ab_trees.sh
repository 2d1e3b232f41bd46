#!/bin/sh
# Two source trees, the same load, alternating: bench/webhook.py on SQLite and PostgreSQL and
# bench/crisis_eval.py's speed, ROUNDS times each, before then after.
#   bench/ab_trees.sh /tmp/before-tree /work/wt/mine [rounds] [texts]
# Make the before tree with: git archive lead4 | tar -x -C /tmp/before-tree
set -eu
BEFORE=$1 AFTER=$2 ROUNDS=${3:-2} TEXTS=${4:-菜单,帮助,你好}
PY=${PY:-/work/main/.venv/bin/python}
PG=${PG:-postgresql+asyncpg://postgres@127.0.0.1:55432/postgres}
REPEATS='
import sys, time
from xinqiao.services.crisis_language.detector import CrisisDetector
d = CrisisDetector(); d.warm_up(); texts = sys.argv[1].split(",")
done, start = 0, time.perf_counter()
while (elapsed := time.perf_counter() - start) < 3:
    for t in texts:
        d.check(t)
    done += len(texts)
print(f"speed on repeated {sys.argv[1]}: {done / elapsed:,.0f} messages/s on one core")
'
for round in $(seq "$ROUNDS"); do
  for tree in "$BEFORE" "$AFTER"; do
    for db in sqlite postgres; do
      echo "=== round $round  $tree  $db"
      extra=""; [ "$db" = postgres ] && extra="--postgres $PG"
      (cd "$tree" && PYTHONPATH="$tree" "$PY" bench/webhook.py --requests 1500 \
        --texts "$TEXTS" $extra) | grep -E "^(bare|xinqiao|server CPU|ratio)" || true
    done
    echo "=== round $round  $tree  crisis_eval"
    (cd "$tree" && PYTHONPATH="$tree" "$PY" bench/crisis_eval.py --skip-cv --seconds 3) \
      | grep -E "^speed" || true
    # The lean path's own words, repeated: what the webhook's crisis check sees all day.
    (cd "$tree" && PYTHONPATH="$tree" "$PY" -c "$REPEATS" "$TEXTS")
  done
done
