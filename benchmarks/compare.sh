#!/usr/bin/env bash
# Compare llmotel's openai instrumentation with the widely used ones (OpenTelemetry's openai-v2,
# OpenInference, OpenLLMetry), each in its own worker process, in a venv of its own:
#
#   bash benchmarks/compare.sh            # create/update benchmarks/.venv-compare, run the comparison
#   bash benchmarks/compare.sh --quick    # extra arguments go to bench_openai.py --compare
#   bash benchmarks/compare.sh --install-only
#
# The contenders are installed ONLY into that venv (benchmarks/.venv-compare, gitignored), never
# into the project's environment, and never become llmotel dependencies. A contender that fails
# to install is reported by the benchmark as "skipped: pip install failed" (see the install log);
# one that installs but does not import is reported as "skipped: import failed: ...".
#
# Environment: PYTHON (interpreter for the venv, default python3), LLMOTEL_COMPARE_VENV (venv
# path), LLMOTEL_COMPARE_SKIP_INSTALL=1 (reuse the venv as it is).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${LLMOTEL_COMPARE_VENV:-$here/.venv-compare}"
reqs="$here/requirements-compare.txt"
python="${PYTHON:-python3}"
log="$venv/install.log"
failures="$venv/install-failures.txt"

if [ ! -x "$venv/bin/python" ]; then
    echo "compare.sh: creating $venv"
    "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"

if [ "${LLMOTEL_COMPARE_SKIP_INSTALL:-0}" != "1" ]; then
    : > "$log"
    : > "$failures"
    # the shared base: llmotel from this repository (editable) plus the untagged lines
    base="$(grep -v '^[[:space:]]*#' "$reqs" | grep -v 'contender:' | sed 's/#.*//' | tr -s '[:space:]' ' ')"
    echo "compare.sh: installing llmotel (editable) and the base: $base"
    # shellcheck disable=SC2086
    if ! "$vpy" -m pip install --disable-pip-version-check -e "$repo" $base >>"$log" 2>&1; then
        echo "compare.sh: installing the base failed; see $log" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    for contender in $(grep -o 'contender: [A-Za-z0-9_-]*' "$reqs" | cut -d' ' -f2 | sort -u); do
        pkgs="$(grep "contender: $contender\$" "$reqs" | sed 's/#.*//' | tr -s '[:space:]' ' ')"
        echo "compare.sh: installing $contender: $pkgs"
        # shellcheck disable=SC2086
        if ! "$vpy" -m pip install --disable-pip-version-check $pkgs >>"$log" 2>&1; then
            echo "$contender pip install failed (see $log)" >>"$failures"
            echo "compare.sh: $contender failed to install (it will be reported as skipped)" >&2
        fi
    done
fi

if [ "${1:-}" = "--install-only" ]; then
    echo "compare.sh: installed into $venv"
    cat "$failures" 2>/dev/null || true
    exit 0
fi
exec "$vpy" "$here/bench_openai.py" --compare --install-failures "$failures" "$@"
