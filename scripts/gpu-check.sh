#!/usr/bin/env bash
# gpu-check.sh: the CUDA backend's checks on a GPU machine that has no Java, no Maven and no network
# (see ../shared/design/gpu-checks.md).
#
#   scripts/gpu-check.sh bundle   on the development machine: builds gpu-bundle/ (git-ignored, under 64 MiB):
#                                 a jlink'ed Java runtime (jre.tgz), the engine's classes and test classes and their
#                                 runtime jars (no Spark), plus the CUDA presets' JNI bridges
#                                 (org.bytedeco:cuda:...:linux-x86_64; NVIDIA's libraries come from the GPU machine).
#   scripts/gpu-check.sh run      on the GPU machine, from the repository root: puts the CUDA wheels' libraries on
#                                 LD_LIBRARY_PATH and runs org.mosaicbert.backend.cuda.GpuCheck (the parity suite,
#                                 then the benchmark); figures go to stdout and to $OUT/gpu-check.txt.
#                                 Extra arguments go to GpuCheck (--parity-only skips the benchmark).
#
# NEVER RUN ON A GPU so far: the run half has not executed anywhere yet.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=gpu-bundle
CUDA_PRESETS=org/bytedeco/cuda/13.1-9.19-1.5.13/cuda-13.1-9.19-1.5.13-linux-x86_64.jar

case "${1:-}" in
  bundle)
    rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/lib"
    mvn -B -q -o -pl spark-mosaicbert test-compile
    mvn -B -q -o -pl spark-mosaicbert dependency:build-classpath -Dmdep.includeScope=test \
        -Dmdep.outputFile="$PWD/$BUNDLE/classpath.txt"
    tr ':' '\n' < "$BUNDLE/classpath.txt" | while read -r jar; do cp "$jar" "$BUNDLE/lib/"; done
    bridges="$HOME/.m2/repository/$CUDA_PRESETS"
    if [ ! -f "$bridges" ]; then
      mvn -B -q dependency:get -Dartifact=org.bytedeco:cuda:13.1-9.19-1.5.13:jar:linux-x86_64 -Dtransitive=false
    fi
    cp "$bridges" "$BUNDLE/lib/"
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
    site="$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))')"
    libs="$(ls -d "$site"/nvidia/*/lib 2>/dev/null | paste -sd: -)"
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    export OUT="${OUT:-$PWD/gpu-check-out}"
    mkdir -p "$OUT"
    shift
    exec "$work/jre/bin/java" -Xmx16g -Dorg.bytedeco.javacpp.cachedir="$work/javacpp" \
        -Dmosaicbert.cuda.cache="$work/kernels" \
        -cp "$BUNDLE/test-classes:$BUNDLE/classes:$BUNDLE/lib/*" org.mosaicbert.backend.cuda.GpuCheck "$@"
    ;;
  *)
    echo "usage: scripts/gpu-check.sh bundle | run [--parity-only]" >&2
    exit 2
    ;;
esac
