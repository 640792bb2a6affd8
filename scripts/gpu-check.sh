#!/usr/bin/env bash
# gpu-check.sh: the CUDA backend's checks on a GPU machine that has no Java, no Maven and no network
# (see ../shared/design/gpu-checks.md).
#
#   scripts/gpu-check.sh bundle   on the development machine: builds gpu-bundle/ (git-ignored, under 64 MiB):
#                                 a jlink'ed Java runtime (jre.tgz), the engine's classes and test classes and their
#                                 jars (no Spark; the CUDA presets' JNI bridges are among them, NVIDIA's libraries
#                                 come from the GPU machine) and the golden vectors (../shared/reference/vectors-a).
#   scripts/gpu-check.sh run      on the GPU machine, from the repository root: puts the CUDA wheels' libraries on
#                                 LD_LIBRARY_PATH and runs org.mosaicbert.backend.cuda.GpuCheck (the parity suite
#                                 with the golden vectors, a short training run on the GPU with NCCL against the
#                                 CPU's, then the benchmark); figures go to stdout and to $OUT/gpu-check.txt.
#                                 Extra arguments go to GpuCheck (--parity-only skips the benchmark; --emulated,
#                                 on a machine without a GPU but with g++, dry-runs the suite and the training
#                                 comparison on the emulated device: how the bundle itself is checked here).
#
# NEVER RUN ON A GPU so far. Without one, `run` ends at CudaProbe's reason (exit 2): how it was checked here.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=gpu-bundle

case "${1:-}" in
  bundle)
    rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/lib"
    mvn -B -q -o -pl spark-mosaicbert test-compile
    mvn -B -q -o -pl spark-mosaicbert dependency:build-classpath -Dmdep.includeScope=test \
        -Dmdep.outputFile="$PWD/$BUNDLE/classpath.txt"
    tr ':' '\n' < "$BUNDLE/classpath.txt" | while read -r jar; do cp "$jar" "$BUNDLE/lib/"; done
    # A logging backend, so that CudaBackend's lines (NVRTC compiles, arena size) show on the GPU machine.
    simple=org/slf4j/slf4j-simple/2.0.17/slf4j-simple-2.0.17.jar
    [ -f "$HOME/.m2/repository/$simple" ] || mvn -B -q dependency:get -Dartifact=org.slf4j:slf4j-simple:2.0.17 \
        -Dtransitive=false
    cp "$HOME/.m2/repository/$simple" "$BUNDLE/lib/"
    golden=../shared/reference/vectors-a
    [ -d "$golden" ] || { echo "no $golden: the GPU suite checks the golden vectors; put ../shared beside" >&2; exit 2; }
    mkdir -p "$BUNDLE/shared/reference" && cp -r "$golden" "$BUNDLE/shared/reference/"
    cp -r spark-mosaicbert/target/classes "$BUNDLE/classes"
    cp -r spark-mosaicbert/target/test-classes "$BUNDLE/test-classes"
    rm -f "$BUNDLE/classpath.txt"
    jlink --add-modules java.base,jdk.unsupported,java.logging,java.management --strip-debug --no-header-files \
        --no-man-pages --compress=2 --output "$BUNDLE/jre"
    tar -C "$BUNDLE" -czf "$BUNDLE/jre.tgz" jre && rm -rf "$BUNDLE/jre"
    du -sh "$BUNDLE"
    echo "carry gpu-bundle to the GPU machine and run: scripts/gpu-check.sh run"
    ;;
  run)
    [ -d "$BUNDLE" ] || { echo "no $BUNDLE/: run 'scripts/gpu-check.sh bundle' on the development machine" >&2; exit 2; }
    work="${TMPDIR:-/tmp}/mosaicbert-gpu-check"
    mkdir -p "$work"
    [ -x "$work/jre/bin/java" ] || tar -C "$work" -xzf "$BUNDLE/jre.tgz"
    # NVIDIA's libraries as the image's Python wheels (nvidia/*/lib); without them, whatever the system has.
    site="$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null || true)"
    libs="$( [ -n "$site" ] && ls -d "$site"/nvidia/*/lib 2>/dev/null | paste -sd: - || true)"
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    export OUT="${OUT:-$PWD/gpu-check-out}"
    mkdir -p "$OUT"
    shift
    exec "$work/jre/bin/java" -Xmx16g -Dorg.bytedeco.javacpp.cachedir="$work/javacpp" \
        -Dmosaicbert.cuda.cache="$work/kernels" -Dmosaicbert.shared.dir="$PWD/$BUNDLE/shared" \
        -Dmosaicbert.emulator.dir="$work/emulator" \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
        -cp "$BUNDLE/test-classes:$BUNDLE/classes:$BUNDLE/lib/*" org.mosaicbert.backend.cuda.GpuCheck "$@"
    ;;
  *)
    echo "usage: scripts/gpu-check.sh bundle | run [--parity-only | --emulated]" >&2
    exit 2
    ;;
esac
