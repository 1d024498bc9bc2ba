#!/usr/bin/env bash
# Render a results folder into report.md and charts/*.svg, whichever runner wrote it:
# scripts/bench-local.sh (this machine) or scripts/bench-all.sh (k3d).
#
#   scripts/report.sh results/<timestamp>
#
# The same as `crm-bench report results/<timestamp>`, plus: builds crm-bench (release) when
# needed, and writes summary.json first (scripts/lib/summarize.py) when the folder has none.
set -euo pipefail

if [[ $# -ne 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -eq 1 ]] && exit 0
  exit 2
fi
dir=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -d "$dir" ]] || { echo "report.sh: $dir is not a directory" >&2; exit 1; }

if [[ ! -f "$dir/summary.json" ]]; then
  echo "report.sh: no summary.json in $dir: writing it with scripts/lib/summarize.py" >&2
  python3 "$root/scripts/lib/summarize.py" --quiet "$dir"
fi

target=${CARGO_TARGET_DIR:-$root/target}
CARGO_TARGET_DIR=$target cargo build --quiet --release --locked -p crm-bench \
  --manifest-path "$root/Cargo.toml" >&2
"$target/release/crm-bench" report "$dir"
