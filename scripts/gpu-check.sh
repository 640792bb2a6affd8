#!/usr/bin/env bash
# gpu-check.sh: the CUDA backend's checks on a GPU machine that has no Java, no Maven and no network.
#
#   scripts/gpu-check.sh bundle   on the development machine: builds gpu-bundle/ (git-ignored, under 64 MiB):
#                                 a jlink'ed Java runtime (jre.tgz), the engine's classes and test classes and their
#                                 jars (no Spark; the CUDA presets' JNI bridges are among them, NVIDIA's libraries
#                                 come from the GPU machine) and the golden vectors (../shared/reference/vectors-a).
#   scripts/gpu-check.sh run [--emulated]
#                                 on the GPU machine, from the repository root. First a preflight in seconds, without
#                                 a JVM: glibc, the bundled runtime, and each NVIDIA library the presets load, found
#                                 in the driver's folders or any Python site-packages' nvidia/ wheels (put on
#                                 LD_LIBRARY_PATH); anything missing is one line each, then exit 2. Then each phase
#                                 of org.mosaicbert.backend.cuda.GpuCheck in a JVM of its own with its own time limit
#                                 (a device fault poisons only its own process's CUDA context), sharing NVRTC's kernel
#                                 cache: preflight (versions), parity (a synchronise after every launch, so a fault
#                                 names its kernel), training (against the CPU, one-rank NCCL), benchmark (where a
#                                 base step's time goes), attention (against cuBLAS), nccl-deadline (a 2-rank
#                                 communicator that only one rank joins must give up in time), memcheck (parity
#                                 under compute-sanitizer). Each phase appends a JSON line to $OUT/results.jsonl
#                                 (the script writes it for a phase that crashed or timed out, with the JVM's crash
#                                 report's frames); the log is $OUT/gpu-check.log; a summary table ends the run.
#                                 Exit 0 when no phase failed. GPU_CHECK_SECONDS (default 480) bounds the whole run.
#                                 --emulated, on a machine without a GPU but with g++: parity, training and benchmark
#                                 on the emulated device, a dry run of the bundle itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE="$(realpath -m "${GPU_CHECK_BUNDLE:-gpu-bundle}")"   # GPU_CHECK_BUNDLE: absolute, or from the repository root

# The bundle from an explicit class path (the engine's test class path): jars, classes, golden vectors, a jlinked
# runtime; refused over the device machine's 64 MiB. `bundle` computes the class path with Maven; a test calls
# `assemble` with its own (GpuCheckScriptTest), so that CI builds and dry-runs the same bundle.
assemble() {
  local classpath="$1"
  golden=../shared/reference/vectors-a
  [ -d "$golden" ] || { echo "no $golden: the GPU suite checks the golden vectors; put ../shared beside" >&2; exit 2; }
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/lib" "$BUNDLE/shared/reference"
  tr ':' '\n' <<< "$classpath" | while read -r jar; do
    case "$jar" in
      */dnnl-*.jar|*/opencl-*.jar|*/jna-*.jar) ;;  # int8 scoring's (oneDNN): 28 MB the GPU suite does not load
      *.jar) cp "$jar" "$BUNDLE/lib/" ;;
    esac
  done
  # A logging backend, so that CudaBackend's lines (NVRTC compiles, arena size) show on the GPU machine.
  simple="$HOME/.m2/repository/org/slf4j/slf4j-simple/2.0.17/slf4j-simple-2.0.17.jar"
  [ -f "$simple" ] && cp "$simple" "$BUNDLE/lib/"
  cp -r "$golden" "$BUNDLE/shared/reference/"
  cp -r spark-mosaicbert/target/classes "$BUNDLE/classes"
  cp -r spark-mosaicbert/target/test-classes "$BUNDLE/test-classes"
  "${JAVA_HOME:+$JAVA_HOME/bin/}jlink" --add-modules java.base,jdk.unsupported,java.logging,java.management \
      --strip-debug --no-header-files --no-man-pages --compress=2 --output "$BUNDLE/jre"
  tar -C "$BUNDLE" -czf "$BUNDLE/jre.tgz" jre && rm -rf "$BUNDLE/jre"
  local bytes; bytes=$(du -sb "$BUNDLE" | cut -f1)
  echo "$BUNDLE: $(( bytes >> 20 )) MiB"
  if (( bytes >= 64 << 20 )); then
    echo "$BUNDLE is $bytes bytes: over the 64 MiB that travels to the GPU machine; drop jars it does not need" >&2
    exit 1
  fi
}

case "${1:-}" in
  bundle)
    mvn -B -q -o -pl spark-mosaicbert test-compile
    classpath="$(mktemp)"
    mvn -B -q -o -pl spark-mosaicbert dependency:build-classpath -Dmdep.includeScope=test \
        -Dmdep.outputFile="$classpath"
    [ -f "$HOME/.m2/repository/org/slf4j/slf4j-simple/2.0.17/slf4j-simple-2.0.17.jar" ] \
        || mvn -B -q dependency:get -Dartifact=org.slf4j:slf4j-simple:2.0.17 -Dtransitive=false
    assemble "$(cat "$classpath")"
    rm -f "$classpath"
    echo "carry $BUNDLE to the GPU machine and run: scripts/gpu-check.sh run"
    ;;
  assemble)
    assemble "${2:?usage: scripts/gpu-check.sh assemble CLASSPATH}"
    ;;
  run)
    [ -d "$BUNDLE" ] \
        || { echo "no $BUNDLE/: run 'scripts/gpu-check.sh bundle' on the development machine" >&2; exit 2; }
    shift
    emulated=""
    [ "${1:-}" = "--emulated" ] && emulated="--emulated"
    export OUT="${OUT:-$PWD/gpu-check-out}"
    mkdir -p "$OUT"
    results="$OUT/results.jsonl"
    rm -f "$results"
    exec > >(tee -a "$OUT/gpu-check.log") 2>&1
    deadline=$(( $(date +%s) + ${GPU_CHECK_SECONDS:-480} ))   # the whole run; each phase also has its own limit
    work="${TMPDIR:-/tmp}/mosaicbert-gpu-check"
    mkdir -p "$work"
    if [ ! "$work/jre/.unpacked" -nt "$BUNDLE/jre.tgz" ]; then
      rm -rf "$work/jre" && tar -C "$work" -xzf "$BUNDLE/jre.tgz" && touch "$work/jre/.unpacked"
    fi
    java="$work/jre/bin/java"

    # One JSON line per phase; a phase that died before writing its own gets one written here.
    record() { printf '{"phase": "%s", "status": "%s", "seconds": %s, "summary": "%s"}\n' "$1" "$2" "$3" \
        "$(printf '%s' "$4" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n' ' ')" >> "$results"; }
    summary() {
      echo
      printf '%-10s %-8s %8s  %s\n' phase status seconds summary
      sed -E 's/^\{"phase": "([^"]*)", "status": "([^"]*)", "seconds": ([^,]*), "summary": "(.*)"\}$/\1\t\2\t\3\t\4/' \
          "$results" | while IFS=$'\t' read -r name status seconds text; do
        printf '%-10s %-8s %8s  %s\n' "$name" "$status" "$seconds" "$text"
      done
    }

    # Preflight (seconds, no JVM): glibc, the runtime, and every NVIDIA library the presets load, with its file.
    missing=()
    glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
    echo "glibc ${glibc:-unknown} (the JNI bridges and the jlinked runtime need 2.34 or later)"
    [ -n "$glibc" ] && [ "$(printf '%s\n2.34\n' "$glibc" | sort -V | head -1)" = "2.34" ] \
        || missing+=("glibc 2.34 or later (found ${glibc:-none})")
    "$java" -version 2>&1 | head -1 || missing+=("a runnable Java runtime at $java")
    if [ -z "$emulated" ]; then
      # NVIDIA's libraries: the driver's folders, then every Python site-packages folder's nvidia/ wheels (CUDA 13
      # wheels lay them out differently from CUDA 12's nvidia/<name>/lib, so every folder that holds a .so counts).
      dirs=()
      for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu; do
        [ -d "$d" ] && dirs+=("$d")
      done
      for site in $(python3 -c 'import site, sys; print(" ".join(site.getsitepackages() + sys.path))' 2>/dev/null); do
        [ -d "$site/nvidia" ] || continue
        while read -r d; do
          dirs+=("$d")
        done < <(find "$site/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u)
      done
      libpath="$(printf '%s\n' "${dirs[@]}" | awk '!seen[$0]++' | paste -sd: -)"
      export LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
      for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13 \
          'libnvrtc-builtins.so.13*' libnccl.so.2; do
        found=""
        IFS=: read -ra search <<< "$LD_LIBRARY_PATH"
        for d in "${search[@]}"; do
          f="$(ls -1 "$d"/$lib 2>/dev/null | head -1 || true)"
          [ -n "$f" ] && { found="$f"; break; }
        done
        [ -z "$found" ] \
            && found="$(ldconfig -p 2>/dev/null | awk -v l="${lib%\*}" 'index($1, l) == 1 {print $NF; exit}' || true)"
        if [ -n "$found" ]; then
          echo "found $lib: $(readlink -f "$found")"
        else
          echo "MISSING $lib: not on LD_LIBRARY_PATH, not known to ldconfig"
          missing+=("$lib")
        fi
      done
      nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null \
          || missing+=("nvidia-smi (the driver)")
    fi
    if [ ${#missing[@]} -gt 0 ]; then
      record preflight fail 0 "missing: $(printf "%s; " "${missing[@]}")"
      summary
      exit 2
    fi

    # Each phase in its own JVM with its own time limit: a device fault poisons its process's CUDA context only.
    # NVRTC's kernel cache is shared, so the kernels compile once.
    phase() { # name limit-seconds java-arguments...
      local name="$1" limit="$2"
      shift 2
      local left=$(( deadline - $(date +%s) ))
      (( left < limit )) && limit=$left
      if (( limit < 15 )); then
        record "$name" skipped 0 "no time left in the run (GPU_CHECK_SECONDS)"
        return
      fi
      echo; echo "=== phase $name (at most $limit s)"
      local before; before=$(grep -c "\"phase\": \"$name\"" "$results" 2>/dev/null || true)
      local crashBefore; crashBefore="$(ls -t "$OUT"/hs_err_*.log 2>/dev/null | head -1 || true)"
      local t0; t0=$(date +%s)
      local rc=0
      timeout -k 10 "$limit" "$@" || rc=$?
      local after; after=$(grep -c "\"phase\": \"$name\"" "$results" 2>/dev/null || true)
      if [ "${after:-0}" = "${before:-0}" ]; then
        local why="exit status $rc"
        [ $rc = 124 ] || [ $rc = 137 ] && why="timed out after $limit s"
        local crash; crash="$(ls -t "$OUT"/hs_err_*.log 2>/dev/null | head -1 || true)"
        if [ -n "$crash" ] && [ "$crash" != "$crashBefore" ]; then
          why="$why; JVM crash report $(basename "$crash")"
          echo "--- the crash report's frames ($crash):"
          sed -n '/^Problematic frame/,/^$/p; /^Native frames/,/^$/p; /^Java frames/,/^$/p' "$crash" | head -60
        fi
        record "$name" crashed $(( $(date +%s) - t0 )) "$why; its log is above"
      fi
    }
    jvm=("$java" -Xmx16g -XX:ErrorFile="$OUT/hs_err_%p.log" -Dorg.bytedeco.javacpp.cachedir="$work/javacpp"
        -Dmosaicbert.cuda.cache="$work/kernels"
        -Dmosaicbert.shared.dir="$BUNDLE/shared" -Dmosaicbert.emulator.dir="$work/emulator"
        -Dorg.slf4j.simpleLogger.defaultLogLevel=info -cp "$BUNDLE/test-classes:$BUNDLE/classes:$BUNDLE/lib/*"
        org.mosaicbert.backend.cuda.GpuCheck)
    if [ -n "$emulated" ]; then
      phase parity 600 "${jvm[@]}" --phase parity --emulated
      phase training 600 "${jvm[@]}" --phase training --emulated
      phase benchmark 600 "${jvm[@]}" --phase benchmark --emulated
    else
      phase preflight 60 "${jvm[@]}" --phase preflight
      if grep -q '"phase": "preflight", "status": "pass"' "$results"; then
        CUDA_LAUNCH_BLOCKING=1 phase parity 150 "${jvm[0]}" -Dmosaicbert.cuda.syncEachLaunch=true "${jvm[@]:1}" \
            --phase parity
        phase training 150 "${jvm[@]}" --phase training
        phase benchmark 120 "${jvm[@]}" --phase benchmark
        phase attention 60 "${jvm[@]}" --phase attention
        phase nccl-deadline 60 "${jvm[@]}" --phase nccl-deadline
        if command -v compute-sanitizer > /dev/null; then
          phase memcheck 120 compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 3 "${jvm[0]}" \
              -Dmosaicbert.cuda.syncEachLaunch=true "${jvm[@]:1}" --phase parity --label memcheck
        fi
      fi
    fi
    summary
    ! grep -q -E '"status": "(fail|crashed)"' "$results"
    ;;
  *)
    echo "usage: scripts/gpu-check.sh bundle | run [--emulated]" >&2
    exit 2
    ;;
esac
