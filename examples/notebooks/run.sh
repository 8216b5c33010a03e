#!/usr/bin/env bash
# Executes the notebooks headless, top to bottom, each in a fresh kernel, into target/notebooks/ (the executed
# copies, outputs included), and exits non-zero if any cell of any notebook fails.
#
#   bash examples/notebooks/run.sh                    # every examples/notebooks/*.ipynb
#   bash examples/notebooks/run.sh 01-quickstart.ipynb
#
# Installs what is missing: Debian's jupyter-nbconvert, python3-nbclient and jupyter-client (apt-get, as root or
# with sudo), the project's build and the kernel (install-kernel.sh). Jupyter runs from /usr/bin: the python3 first
# on PATH may be one that cannot see Debian's packages.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/notebooks"
timeout_s="${NOTEBOOK_CELL_TIMEOUT:-900}"

if [[ ! -x /usr/bin/jupyter-nbconvert ]] || ! /usr/bin/python3 -c 'import nbclient, jupyter_client' 2>/dev/null; then
    echo "notebooks: installing jupyter-nbconvert, python3-nbclient, jupyter-client (apt-get)..." >&2
    sudo=""
    [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
        jupyter-nbconvert python3-nbclient jupyter-client >/dev/null
fi

kernel_dir="$(bash "$here/install-kernel.sh")"
export JUPYTER_PATH="$(dirname "$(dirname "$kernel_dir")")${JUPYTER_PATH:+:$JUPYTER_PATH}"

notebooks=()
for n in "$@"; do
    if [[ -f "$n" ]]; then
        notebooks+=("$(cd "$(dirname "$n")" && pwd)/$(basename "$n")")
    elif [[ -f "$here/$n" ]]; then
        notebooks+=("$here/$n")
    else
        echo "notebooks: no such notebook: $n (give a path, or a name in examples/notebooks/)" >&2
        exit 2
    fi
done
[[ $# -gt 0 ]] || notebooks=("$here"/*.ipynb)

mkdir -p "$out"
failed=()
for nb in "${notebooks[@]}"; do
    name="$(basename "$nb")"
    start=$(date +%s)
    log="$out/${name%.ipynb}.log"
    # each notebook runs in its own directory (relative paths in cells start there), in a fresh kernel
    if (cd "$(dirname "$nb")" && /usr/bin/jupyter nbconvert --to notebook --execute \
            --ExecutePreprocessor.kernel_name=prefixshare-java \
            --ExecutePreprocessor.timeout="$timeout_s" --ExecutePreprocessor.startup_timeout=180 \
            --output-dir "$out" "$nb") >"$log" 2>&1 \
        && /usr/bin/python3 - "$out/$name" <<'PY'
import json, sys
nb = json.load(open(sys.argv[1]))
errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
          if o.get("output_type") == "error"]
sys.exit(1 if errors else 0)
PY
    then
        echo "notebooks: $name ok ($(( $(date +%s) - start )) s) -> target/notebooks/$name"
    else
        echo "notebooks: $name FAILED ($(( $(date +%s) - start )) s); the last lines of $log:" >&2
        tail -n 30 "$log" >&2
        failed+=("$name")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "notebooks: ${#failed[@]} of ${#notebooks[@]} failed: ${failed[*]}" >&2
    exit 1
fi
echo "notebooks: all ${#notebooks[@]} ran without errors"
