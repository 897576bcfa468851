#!/usr/bin/env bash
# The main job on embedded defaults: a local one-node Ray cluster, a SQLite store and artifact
# folders under .repurpose/ (or $REPURPOSE_HOME), the bundled model that retrieves best in production.
# Shows why that model is in production (its retrieval of held-out actives), screens the
# library's 4,318 approved and investigational drugs against EGFR, profiles a drug against a
# panel of targets, explains one pair, then stops the cluster (the stored state stays).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export REPURPOSE_HOME=${REPURPOSE_HOME:-$PWD/.repurpose}
export REPURPOSE_RAY_GCS_PORT=${REPURPOSE_RAY_GCS_PORT:-6380}  # Redis may hold Ray's default 6379

sequence() { grep "^$1," data/library/targets.csv | cut -d, -f2; }
# Show each command as a user would type it, then run it.
repurpose() { printf '$ repurpose %s\n' "$*" | cut -c1-150; "$BIN/repurpose" "$@"; }

repurpose up
trap 'repurpose down' EXIT

# A small panel of targets: EGFR, ADRB2, DRD2, VEGFR2 and COX-2 (UniProt accessions).
for target in P00533:EGFR P07550:ADRB2 P14416:DRD2 P35968:KDR P35354:PTGS2; do
    repurpose targets add "${target%%:*}" --sequence "$(sequence "${target%%:*}")" --name "${target##*:}"
done

# Production by merit: every bundled model, and the retrieval of the one in production (its
# held-out actives of 14 targets ranked among the library's DrugBank compounds).
repurpose models list
repurpose models evaluate knn-union 1 --retrieval data/retrieval/heldout.csv

# Repurposing by screening: which approved or investigational drugs (the DrugBank compounds of
# the library) might act on EGFR? The best 10 kept, each with its evidence.
drugs="$REPURPOSE_HOME/drugbank.csv"
echo "\$ grep -E '^(compound_id|DB)' data/library/compounds.csv > \"\$REPURPOSE_HOME/drugbank.csv\""
grep -E '^(compound_id|DB)' data/library/compounds.csv > "$drugs"
repurpose screen --library "$drugs" --name "DrugBank compounds" --target P00533 --top 10

# Repurposing: which of the registered targets might gefitinib (an EGFR inhibitor) act on?
GEFITINIB="COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1"
repurpose profile --smiles "$GEFITINIB" --top 5

# Why: the atoms and residue windows DrugBAN's attention weighs most for that pair (explanations
# are DrugBAN's: with a default model of another type, explain uses drugban-human, the setting
# explain_model, and names the version that explained).
repurpose explain --smiles "$GEFITINIB" --target P00533 --top 5
