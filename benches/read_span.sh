#!/bin/bash
# The read span of a no-change re-plan at 100 ms round trips, per `--parallelism` (README,
# Performance, issue 18): starts `ckplan emulator` with any extra flags given, publishes the
# SportsTime example (its games repeated to GAMES records when set), then runs `ckplan plan
# --parallelism N` and reads, from the emulator's request log, the time from the first
# query's arrival to the last one's plus its 100 ms.
#
#   benches/read_span.sh target/release/ckplan 18780 [emulator flags...]
#   GAMES=50000 benches/read_span.sh target/release/ckplan 18780 --require-indexes \
#       --index Stadium.recordName --index Team.recordName --index Game.recordName
set -eu
BIN=$(realpath "$1"); PORT=$2; shift 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
cp -r "$ROOT"/examples/sportstime/* "$dir"
if [ -n "${GAMES:-}" ]; then
  python3 - "$dir/data/games.ndjson" "$GAMES" <<'PY'
import json, sys
path, count = sys.argv[1], int(sys.argv[2])
games = [json.loads(line) for line in open(path)]
with open(path, "w") as out:
    for i in range(count):
        game = dict(games[i % len(games)], id=i + 1, season=2024 + i // len(games))
        out.write(json.dumps(game) + "\n")
PY
fi
sed -i "s|^endpoint: embedded.*|endpoint: http://127.0.0.1:$PORT|" "$dir/ckplan.yaml"
"$BIN" emulator --listen "127.0.0.1:$PORT" \
  --key "emulator-example-key=$dir/keys/emulator-example.pub.pem" "$@" > "$dir/emulator.log" 2>&1 &
emulator=$!
trap 'kill $emulator; rm -rf "$dir"' EXIT
sleep 1
cd "$dir"
"$BIN" -q plan -o first.plan 2> /dev/null
"$BIN" -q apply first.plan > /dev/null 2>&1
curl -s -X POST "http://127.0.0.1:$PORT/_emulator/faults" -d '{"latencyMs":100}' > /dev/null
last_seq() {
  curl -s "http://127.0.0.1:$PORT/_emulator/requests?since=0" |
    python3 -c 'import json,sys; print(max([r["seq"] for r in json.load(sys.stdin)["requests"]] or [0]))'
}
for parallelism in ${PARALLELISM:-1 2 4 8 16 32}; do
  since=$(last_seq)
  "$BIN" plan --parallelism "$parallelism" -o again.plan 2> stderr.txt
  curl -s "http://127.0.0.1:$PORT/_emulator/requests?since=$since" | python3 -c "
import json, sys
queries = [r for r in json.load(sys.stdin)['requests'] if r.get('endpoint') == 'records/query']
span = max(r['at'] for r in queries) - min(r['at'] for r in queries) + 100
print('parallelism $parallelism: %d queries (%d refused), read span %d ms' % (
    len(queries), sum(r['status'] != '200' for r in queries), span))"
done
