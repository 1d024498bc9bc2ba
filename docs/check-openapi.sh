#!/usr/bin/env bash
# Validate docs/openapi.yaml against the OpenAPI 3.0 specification (openapi-spec-validator),
# then check that schemathesis, the fuzzer tests/fuzz/schemathesis.sh runs, loads the document
# and can read every pattern (it drops a pattern its regex engine cannot compile, silently
# weakening the fuzzing). Both tools come pinned from the tool table (scripts/lib/tools.sh),
# installed when missing: the same schemathesis the fuzzing runs. Neither part is ever skipped.
# Usage: docs/check-openapi.sh [path/to/openapi.yaml]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
spec="${1:-$here/openapi.yaml}"

if [[ ! -f "$spec" ]]; then
    echo "check-openapi: no such file: $spec" >&2
    exit 1
fi

# shellcheck source=../scripts/lib/tools.sh
source "$here/../scripts/lib/tools.sh"
crm_tools_ensure openapi-spec-validator schemathesis || exit 1

"$(crm_tool_path openapi-spec-validator)" "$spec"

# schemathesis's own interpreter: its venv's python, beside the command.
python="$(dirname "$(crm_tool_path schemathesis)")/python"
"$python" - "$spec" <<'EOF'
import sys

import schemathesis

spec = sys.argv[1]
schema = schemathesis.openapi.from_path(spec)
operations = [result.ok() for result in schema.get_all_operations()]
try:
    from schemathesis.specs.openapi.warnings import detect_unsupported_regex
except ImportError:  # another schemathesis version: loading is the check
    detect_unsupported_regex = None
problems = []
if detect_unsupported_regex is not None:
    for operation in operations:
        problems.extend(w.message for w in detect_unsupported_regex(operation))
for problem in problems:
    print(f"check-openapi: schemathesis: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"{spec}: schemathesis {schemathesis.__version__} loads {len(operations)} operations")
EOF
