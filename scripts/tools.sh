#!/usr/bin/env bash
# The project's tool table (scripts/lib/tools.sh) from outside bash, e.g. crm-bench's k6:
#
#   scripts/tools.sh ensure TOOL...   install what is missing, or name it and exit 1
#   scripts/tools.sh path TOOL        ensure TOOL, then print the command to run for it
#   scripts/tools.sh list             every tool and where it comes from
set -euo pipefail
# shellcheck source=lib/tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/tools.sh"

case "${1:-}" in
  ensure) shift; crm_tools_ensure "$@" ;;
  path) (($# == 2)) || { echo "usage: $0 path TOOL" >&2; exit 2; }
    crm_tools_ensure "$2" && crm_tool_path "$2" ;;
  list)
    for tool in $(printf '%s\n' "${!CRM_TOOL_SOURCE[@]}" | sort); do
      printf '%-24s %s\n' "$tool" "${CRM_TOOL_SOURCE[$tool]}"
    done ;;
  *) echo "usage: $0 ensure TOOL... | path TOOL | list" >&2; exit 2 ;;
esac
