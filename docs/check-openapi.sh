#!/usr/bin/env bash
# Validate docs/openapi.yaml against the OpenAPI 3.0 specification.
# Installs openapi-spec-validator (PyPI) quietly if it is missing.
# If schemathesis is installed, also checks that it loads the document and can read
# every pattern (it drops a pattern its regex engine cannot compile, silently weakening
# the fuzzing); that part is skipped when schemathesis is absent.
# Usage: docs/check-openapi.sh [path/to/openapi.yaml]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
spec="${1:-$here/openapi.yaml}"

if [[ ! -f "$spec" ]]; then
    echo "check-openapi: no such file: $spec" >&2
    exit 1
fi

python="${PYTHON:-python3}"

if ! "$python" -c 'import openapi_spec_validator' >/dev/null 2>&1; then
    echo "check-openapi: installing openapi-spec-validator" >&2
    "$python" -m pip install --quiet --disable-pip-version-check openapi-spec-validator >&2
fi

"$python" -m openapi_spec_validator "$spec"

if "$python" -c 'import schemathesis' >/dev/null 2>&1; then
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
print(f"{spec}: schemathesis loads {len(operations)} operations")
EOF
else
    echo "check-openapi: schemathesis not installed; skipped its load check" >&2
fi
