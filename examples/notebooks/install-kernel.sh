#!/usr/bin/env bash
# Makes the notebooks' Java kernel ready: builds the project when its jars are missing or older than its sources
# (mvn package, tests skipped), then writes notebook-kernel/target/jupyter/kernels/prefixshare-java/kernel.json,
# which starts the kernel (notebook-kernel) on the examples' runtime class path, so the cells can use ND4J, SameDiff,
# DL4J and prefixshare.
#
#   bash examples/notebooks/install-kernel.sh            # prints the kernel directory
#   jupyter kernelspec install --user --name prefixshare-java <that directory>   # JupyterLab, VS Code
#
# JVM options: PREFIXSHARE_JAVA_OPTS, as for ./prefixshare (default: the launcher's).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cli_jar="$root/examples/target/prefixshare.jar"
kernel_jar="$root/notebook-kernel/target/prefixshare-notebook-kernel.jar"
kernel_dir="$root/notebook-kernel/target/jupyter/kernels/prefixshare-java"

stamp="$root/notebook-kernel/target/.kernel-built"
# built when both jars exist and no source is newer than the last build of this script (or, before the first,
# than the older jar: a fresh 'mvn verify' counts)
ref="$stamp"
if [[ ! -f "$stamp" && -f "$cli_jar" && -f "$kernel_jar" ]]; then
    ref="$cli_jar"
    [[ "$kernel_jar" -nt "$cli_jar" ]] || ref="$kernel_jar"
fi
if [[ ! -f "$cli_jar" || ! -f "$kernel_jar" || ! -f "$ref" || ! -d "$root/examples/target/lib" ]] \
        || [[ -n "$(find "$root"/pom.xml "$root"/*/pom.xml "$root"/*/src/main "$root"/native/include \
            "$root"/native/src "$root"/native/CMakeLists.txt -newer "$ref" -type f -print -quit 2>/dev/null)" ]]; then
    echo "install-kernel: building the project (mvn package, tests skipped)..." >&2
    mkdir -p "$root/.cache"
    if ! (cd "$root" && mvn -B -q -ntp -DskipTests package) >"$root/.cache/build.log" 2>&1; then
        echo "install-kernel: build failed; see $root/.cache/build.log:" >&2
        tail -n 40 "$root/.cache/build.log" >&2
        exit 1
    fi
    touch "$stamp"
fi

java_bin="$(command -v java)"
if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    java_bin="$JAVA_HOME/bin/java"
fi
java_bin="$(readlink -f "$java_bin")"
# the kernel's own jars first, then the command line's jar and its runtime libraries (ND4J, DL4J, prefixshare)
class_path="$kernel_jar:$root/notebook-kernel/target/lib/*:$cli_jar:$root/examples/target/lib/*"
read -r -a java_opts <<< "${PREFIXSHARE_JAVA_OPTS:--Xmx4g -Dorg.bytedeco.javacpp.maxbytes=16G -Dorg.bytedeco.javacpp.maxphysicalbytes=20G}"

mkdir -p "$kernel_dir"
/usr/bin/env python3 - "$kernel_dir/kernel.json" "$java_bin" "$class_path" "${java_opts[@]}" <<'PY'
import json, sys
out, java, cp, *opts = sys.argv[1:]
spec = {
    "argv": [java, *opts, "-cp", cp, "org.prefixshare.notebook.NotebookKernel", "{connection_file}"],
    "display_name": "Java (prefixshare)",
    "language": "java",
    "interrupt_mode": "message",
    # glibc malloc as the launcher sets it: freed memory is kept for the next step's arrays (./prefixshare)
    "env": {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=1073741824:"
                              "glibc.malloc.arena_max=1"},
    "metadata": {"debugger": False},
}
with open(out, "w") as f:
    json.dump(spec, f, indent=2)
    f.write("\n")
PY
echo "$kernel_dir"
