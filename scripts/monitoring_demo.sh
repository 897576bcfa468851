#!/usr/bin/env bash
# Live monitoring on a local cluster: the bundled Human-trained DrugBAN scores Human validation
# pairs, then BioSNAP pairs, fed back with their measured labels (`repurpose feedback`: each pair
# is scored by the scorer, which feeds the model's monitor, and kept with its label for live
# quality). Against the Human training data as reference, the Human pairs do not drift and the
# BioSNAP pairs do; the drift rule fires and its alert reaches a webhook receiver on 127.0.0.1.
# Starts its own cluster under $REPURPOSE_HOME (default .repurpose-monitoring/) and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export REPURPOSE_HOME=${REPURPOSE_HOME:-$PWD/.repurpose-monitoring}
export REPURPOSE_RAY_GCS_PORT=${REPURPOSE_RAY_GCS_PORT:-6381}
export REPURPOSE_GATEWAY_PORT=${REPURPOSE_GATEWAY_PORT:-8001}
export REPURPOSE_ALERT_WEBHOOK_SECRET=${REPURPOSE_ALERT_WEBHOOK_SECRET:-demo-secret}
export REPURPOSE_ALERT_WEBHOOKS_ALLOW_PRIVATE=true  # the demo's receiver listens on 127.0.0.1
HOOK_PORT=${HOOK_PORT:-9099}
mkdir -p "$REPURPOSE_HOME"
FLUSH_WAIT=${FLUSH_WAIT:-15}  # the scorer flushes its sketches every 5 s; a monitor judges its rules after a flush

repurpose() { printf '$ repurpose %s\n' "$*" | cut -c1-150; "$BIN/repurpose" "$@"; }

received="$REPURPOSE_HOME/webhook.log"
: > "$received"
"$BIN/python" scripts/webhook_receiver.py --port "$HOOK_PORT" --secret "$REPURPOSE_ALERT_WEBHOOK_SECRET" \
    --out "$received" 2>/dev/null &
receiver=$!
repurpose up --dashboard-port 8266 > /dev/null
trap 'repurpose down > /dev/null; kill $receiver' EXIT

# 1,000 BioSNAP pairs (of the bundled union data) as a pair file
biosnap="$REPURPOSE_HOME/biosnap-1000.csv"
"$BIN/python" - "$biosnap" <<'PY'
import sys
import pandas as pd
union = pd.read_parquet("data/union/pairs.parquet")
union.query("source == 'biosnap'").sample(1000, random_state=0)[["SMILES", "Protein", "Y"]].to_csv(sys.argv[1], index=False)
PY

# The reference: the Human training pairs (drugban-human was trained from files, so it names no dataset)
repurpose datasets register data/human/random/train.csv --name human-train > /dev/null
repurpose alerts rules add human-drift --metric drift_share --threshold 0.5 --model drugban-human \
    --min-pairs 500 --webhook "http://127.0.0.1:$HOOK_PORT/alerts"
repurpose monitor reset drugban-human --reference human-train > /dev/null

repurpose feedback data/human/random/val.csv --model drugban-human
sleep "$FLUSH_WAIT"
repurpose monitor show drugban-human

repurpose monitor reset drugban-human --reference human-train > /dev/null
repurpose feedback "$biosnap" --model drugban-human --batch-id biosnap-1000
sleep "$FLUSH_WAIT"
repurpose monitor show drugban-human
repurpose alerts list
repurpose monitor quality drugban-human
echo "\$ cat $received"
cat "$received"
