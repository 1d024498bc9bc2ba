#!/usr/bin/env bash
# Render a results folder into report.md and charts/*.svg, whichever runner wrote it:
# `crm-bench run` (scripts/bench-local.sh, this machine) or scripts/bench-all.sh (k3d).
#
#   scripts/report.sh results/<timestamp>
#
# The same as `crm-bench report results/<timestamp>`, plus: builds crm-bench (release) when
# needed, and writes summary.json first (`crm-bench collect`) when the folder has none.
set -euo pipefail

if [[ $# -ne 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -eq 1 ]] && exit 0
  exit 2
fi
dir=$1
# shellcheck source=lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh" # crm_bench
[[ -d "$dir" ]] || { echo "report.sh: $dir is not a directory" >&2; exit 1; }

if [[ ! -f "$dir/summary.json" ]]; then
  echo "report.sh: no summary.json in $dir: writing it with crm-bench collect" >&2
  crm_bench collect --quiet "$dir"
fi
crm_bench report "$dir"
