#!/usr/bin/env bash
# make demo: a throw-away federation on this machine. Creates a PKI, four
# nodes (IDN, THA, MYS, AUS) with synthetic records and different sharing
# agreements, a hub, runs the regional picture, prints it, and serves the web
# UI until Ctrl-C. Everything lives under demo-data/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.bin}
DIR=${DEMO_DIR:-demo-data}
RECORDS=${DEMO_RECORDS:-50000}
BASE=${DEMO_PORT_BASE:-7400}
STATES=(IDN THA MYS AUS)
FED=127.0.0.1:$((BASE + 43))
API=127.0.0.1:$((BASE + 44))
UI=127.0.0.1:$((BASE + 80))

pids=()
cleanup() {
	trap - INT TERM EXIT
	if ((${#pids[@]})); then
		echo
		echo "stopping ${#pids[@]} processes..."
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	echo "stopped. Data, logs and certificates stay in $DIR/ (make clean removes them)."
}
trap cleanup INT TERM EXIT

rm -rf "$DIR"
mkdir -p "$DIR/logs"
PKI=$DIR/pki

echo "== PKI in $PKI"
$BIN/vrs-hub pki init --dir "$PKI" >/dev/null
for c in "${STATES[@]}"; do
	$BIN/vrs-hub pki issue --dir "$PKI" --node "$c" >/dev/null
done
$BIN/vrs-hub pki issue --dir "$PKI" --operator demo >/dev/null
$BIN/vrs-hub pki issue --dir "$PKI" --partner unodc-research >/dev/null

# Three years up to the end of last month, so the picture's "last twelve
# complete months" has data.
TO=$(date -d "$(date +%Y-%m-01) -1 day" +%F)
FROM=$(date -d "$(date +%Y-%m-01) -36 months" +%F)
echo "== synthetic records: $RECORDS per state, $FROM to $TO"
seed=1
for c in "${STATES[@]}"; do
	(
		mkdir -p "$DIR/$c"
		$BIN/vrs-node synth --country "$c" --records "$RECORDS" --seed "$seed" --from "$FROM" --to "$TO" --out "$DIR/$c/incidents.jsonl"
		$BIN/vrs-node import --data-dir "$DIR/$c/data" "$DIR/$c/incidents.jsonl" >"$DIR/logs/import-$c.log" 2>&1
	) &
	seed=$((seed + 1))
done
wait

echo "== hub on $FED (federation), $API (API), http://$UI/ (UI)"
$BIN/vrs-hub serve --data-dir "$DIR/hub" \
	--federation-listen "$FED" --api-listen "$API" --ui-listen "$UI" \
	--cert "$PKI/hub.pem" --key "$PKI/hub-key.pem" --ca "$PKI/ca.pem" \
	--log-format json >"$DIR/logs/hub.log" 2>&1 &
pids+=($!)

port=$((BASE + 51))
for c in "${STATES[@]}"; do
	$BIN/vrs-node serve --data-dir "$DIR/$c/data" --country "$c" --hub "$FED" \
		--api-listen "127.0.0.1:$port" --ui-listen "127.0.0.1:$((port + 10))" \
		--cert "$PKI/node-$c.pem" --key "$PKI/node-$c-key.pem" --ca "$PKI/ca.pem" \
		--agreement "scripts/demo/$c.hcl" \
		--log-format json >"$DIR/logs/node-$c.log" 2>&1 &
	pids+=($!)
	echo "   node $c: API on 127.0.0.1:$port, its own pages on http://127.0.0.1:$((port + 10))/, log $DIR/logs/node-$c.log"
	port=$((port + 1))
done

echo "== regional picture"
$BIN/vrs-hub picture --api "$API" \
	--cert "$PKI/operator-demo.pem" --key "$PKI/operator-demo-key.pem" --ca "$PKI/ca.pem" \
	--refresh --wait-nodes "${#STATES[@]}" --timeout 90s

echo
echo "Web UI: http://$UI/"
echo "Press Ctrl-C to stop."
wait "${pids[@]}"
