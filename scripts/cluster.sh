#!/usr/bin/env bash
# cluster.sh: a Spark standalone cluster on this machine, every part its own JVM as on a real cluster; the command
# line, your own application or Spark's Scala shell run against it as spark-submit and spark-shell would.
#
#   scripts/cluster.sh start --workers N [--cores C] [--memory M] [--gpus G]
#       a Master and N Workers bound to 127.0.0.1 (each Worker offers C cores, default 1, and M memory, default 1g;
#       the Workers launch the executors, each its own JVM). Prints the master URL. Refused while one is running;
#       replaces the logs and executor folders of the previous one. --gpus G: each Worker also offers G GPUs of its
#       own, found by a discovery script (worker-N/gpus.sh: Worker 1 devices 0 to G-1, Worker 2 the next G, ...);
#       with nvidia-smi on the PATH, start is refused when it lists fewer than N x G; without it, the devices are
#       offered as numbered, for a GPU stand-in that needs no nvidia-smi (the tests' emulated GPUs,
#       spark.mosaicbert.gpuDevices). Ask for them as on any GPU cluster: --conf spark.executor.resource.gpu.amount=G
#       --conf spark.task.resource.gpu.amount=1 (conf/spark-defaults.gpu.conf).
#   scripts/cluster.sh submit [--conf KEY=VALUE ...] SUBCOMMAND [flags]
#       what `spark-submit --class org.mosaicbert.cli.Main --master spark://... --deploy-mode client SHADED_JAR
#       SUBCOMMAND [flags]` does (org.apache.spark.deploy.SparkSubmit in this process, which is the driver): the jar
#       reaches the executors through Spark. spark.executor.cores, spark.task.cpus (one training worker per
#       executor, on all its cores: pass --threads the same) and spark.executor.memory default to what each Worker
#       offers, spark.barrier.sync.timeout to 600 s, spark.driver.host to 127.0.0.1; --conf overrides them. Exit
#       code and standard output are the subcommand's; logs go to standard error.
#   scripts/cluster.sh submit-app [--conf KEY=VALUE ...] [--jars JAR,...] --class MAIN APP_JAR [ARGS ...]
#       your own application: what `spark-submit --class MAIN --jars SHADED_JAR[,JAR,...] APP_JAR ARGS` does, with
#       the same defaults as submit. This project's shaded jar is on the class path of the driver and the executors
#       beside APP_JAR, so an application compiled against this project and Spark (neither packed into APP_JAR)
#       runs as it is; --jars adds other jars it needs. Exit code and output are the application's.
#   scripts/cluster.sh shell [--conf KEY=VALUE ...] [--jars JAR,...] [--notebook NOTE.zpln]
#       Spark's Scala shell (what spark-shell runs: org.apache.spark.repl.Main) as the driver of an application on
#       this cluster, with this project's shaded jar on the class path of the shell, its compiler and the executors,
#       `spark` and `sc` bound, and the same defaults as submit. --notebook runs the note's %spark and %sql
#       paragraphs first, in order, each compiled whole as Zeppelin compiles it (the files go to
#       work/cluster/notebook/NAME/; note.scala pastes them, `:load` it to run them again), then the shell takes
#       input: with standard input not a terminal (a pipe, a file) it runs those lines and ends.
#   scripts/cluster.sh executors
#       one line per live executor JVM (of any application): its pid.
#   scripts/cluster.sh stop
#       stops the executors, the Workers and the Master that start launched (by pid, never by name).
#
# The Spark line: MOSAICBERT_SPARK=4 (the default: Spark 4, Scala 2.13) or 3.5 (Spark 3.5, Scala 2.12), for the
# cluster and the jar alike. Spark: $SPARK_HOME when set (an official distribution of that line: its jars/ and conf/
# are used, not its shell scripts or spark-env.sh), else spark-home/spark-LINE/target/spark-home, assembled by Maven
# from Maven Central (built here on first use). Logs and pids: work/cluster/ (MOSAICBERT_CLUSTER_DIR moves them): master.log,
# worker-N.log, and the executors' stdout and stderr under worker-N/APP_ID/EXECUTOR_ID/.
# The jar: MOSAICBERT_JAR when set, else the line's shaded jar in estimators/spark-LINE/target (built when missing or
# older than the sources). The JVMs' heap: SPARK_DAEMON_MEMORY (Master and Workers, default 512m), MOSAICBERT_JAVA_OPTS (the
# driver's JVM flags, default -Xmx4g; e.g. "-Xmx4g -Dmosaicbert.shared.dir=/data/shared" for the notes' paths);
# executors get spark.executor.memory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/lib/project.sh"
dir="${MOSAICBERT_CLUSTER_DIR:-$root/work/cluster}"
state="$dir/cluster.env"   # master_url, workers, cores, memory, gpus, spark_home of the running cluster
pids="$dir/pids"           # "NAME PID" of each JVM that start launched
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
export SPARK_LOCAL_IP=127.0.0.1

die() { echo "cluster.sh: $*" >&2; exit 2; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# The Spark home, its Scala version and the class path of Spark's JVMs. Spark's Worker builds each executor's
# command from SPARK_HOME's jars/ and needs SPARK_SCALA_VERSION to find them (Spark's shell scripts set both).
use_spark_home() {
  local line scala
  line=$(spark_line) || exit 2
  scala=$(scala_of_line "$line")
  if [ -n "${SPARK_HOME:-}" ]; then
    [ -d "$SPARK_HOME/jars" ] || die "SPARK_HOME=$SPARK_HOME has no jars/ folder: point it at a Spark $line distribution for Scala $scala, or unset it to use the one this build assembles"
  else
    export SPARK_HOME="$root/spark-home/spark-$line/target/spark-home"
    if ! ls "$SPARK_HOME"/jars/spark-core_*.jar > /dev/null 2>&1; then
      echo "cluster.sh: assembling the Spark $line home (mvn package -pl spark-home/spark-$line) ..." >&2
      (cd "$root" && mvn -B -q -pl "spark-home/spark-$line" package 1>&2)
    fi
  fi
  local core
  core=$(ls "$SPARK_HOME"/jars/spark-core_*.jar 2>/dev/null | head -n 1 || true)
  [ -n "$core" ] || die "no spark-core jar in $SPARK_HOME/jars: not a Spark home"
  export SPARK_SCALA_VERSION
  SPARK_SCALA_VERSION=$(basename "$core" | sed -n 's/^spark-core_\([0-9.]*\)-.*/\1/p')
  [ "$SPARK_SCALA_VERSION" = "$scala" ] || die "$SPARK_HOME is Spark for Scala $SPARK_SCALA_VERSION; the Spark $line line (MOSAICBERT_SPARK=$line) is built for Scala $scala: point SPARK_HOME at a Spark $line distribution, or set MOSAICBERT_SPARK to the line of that Spark"
  spark_classpath="$SPARK_HOME/conf:$SPARK_HOME/jars/*"
}

# The pid recorded for NAME, when that process is still the one start launched (its command line carries the
# cluster folder), else nothing: a pid reused by another process is never touched.
live_pid() {
  local pid
  pid=$(awk -v name="$1" '$1 == name { print $2 }' "$pids" 2>/dev/null || true)
  [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -F -- "-Dmosaicbert.cluster.dir=$dir " \
    && echo "$pid"
  return 0
}

recorded_names() { awk '{ print $1 }' "$pids" 2>/dev/null || true; }

# Executor JVMs: the Workers' children running Spark's executor backend.
executor_pids() {
  local name worker child
  for name in $(recorded_names); do
    worker=$(live_pid "$name")
    [ -n "$worker" ] && [[ "$name" == worker-* ]] || continue
    for child in $(ps -o pid= --ppid "$worker"); do
      tr '\0' ' ' < "/proc/$child/cmdline" 2>/dev/null | grep -q CoarseGrainedExecutorBackend && echo "$child"
    done
  done
  return 0
}

# Waits until FILE has a line matching PATTERN; fails when process PID ends first or after SECONDS.
wait_for_log() {
  local file="$1" pattern="$2" pid="$3" seconds="$4" what="$5" deadline=$((SECONDS + $4))
  until grep -q -E "$pattern" "$file" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "cluster.sh: the $what exited while starting; the end of $file:" >&2
      tail -n 20 "$file" >&2
      return 1
    fi
    if (( SECONDS >= deadline )); then
      echo "cluster.sh: the $what is not ready after $seconds s; see $file" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Starts one daemon JVM in the background, its output in LOG, and records its pid under NAME.
launch() {
  local name="$1" log="$2"
  shift 2
  : > "$log"   # emptied here, not by the background redirection: a wait must not read an earlier cluster's log
  nohup "$java" -Xmx"${SPARK_DAEMON_MEMORY:-512m}" $(java17_opens) "-Dmosaicbert.cluster.dir=$dir" \
    -cp "$spark_classpath" "$@" > "$log" 2>&1 < /dev/null &
  echo "$name $!" >> "$pids"
  launched=$!
}

# A Spark size (512m, 2g, or a plain number, which Spark takes as MiB) in MiB; fails when it is not one.
mib() {
  local v="${1,,}"
  [[ "$v" =~ ^([0-9]{1,12})(k|kb|m|mb|g|gb|t|tb)?$ ]] || return 1
  local n=$((10#${BASH_REMATCH[1]}))
  case "${BASH_REMATCH[2]}" in
    k|kb) echo $((n / 1024)) ;;
    ""|m|mb) echo "$n" ;;
    g|gb) echo $((n * 1024)) ;;
    t|tb) echo $((n * 1024 * 1024)) ;;
  esac
}

start() {
  local workers="" cores=1 memory=1g gpus=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --workers) workers="${2:-}"; shift 2 || die "--workers needs a number" ;;
      --cores) cores="${2:-}"; shift 2 || die "--cores needs a number" ;;
      --memory) memory="${2:-}"; shift 2 || die "--memory needs a size such as 1g" ;;
      --gpus) gpus="${2:-}"; shift 2 || die "--gpus needs a number" ;;
      *) die "start: unknown argument '$1' (start --workers N [--cores C] [--memory M] [--gpus G])" ;;
    esac
  done
  [[ "$workers" =~ ^[1-9][0-9]*$ ]] || die "start needs --workers N (a positive number), got '${workers}'"
  [[ "$cores" =~ ^[1-9][0-9]*$ ]] || die "--cores must be a positive number, got '$cores'"
  [[ "$gpus" =~ ^[0-9]+$ ]] || die "--gpus must be a number, got '$gpus'"
  if (( gpus > 0 )) && command -v nvidia-smi > /dev/null; then
    local present
    present=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
    (( present >= workers * gpus )) || die "--gpus $gpus for each of $workers worker(s) needs $((workers * gpus)) GPUs; nvidia-smi lists $present"
  elif (( gpus > 0 )); then
    echo "cluster.sh: no nvidia-smi: the Workers offer devices 0 to $((workers * gpus - 1)) as numbered, unchecked" >&2
  fi
  [[ "$memory" =~ ^[1-9][0-9]*[mMgG]$ ]] || die "--memory must be a size such as 512m or 2g, got '$memory'"
  local machine
  machine=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo 2>/dev/null || echo 0)
  local asked
  asked=$(mib "$memory") || die "--memory must be a size such as 512m or 2g, got '$memory'"
  if (( machine > 0 && asked * workers > machine )); then
    die "--memory $memory for each of $workers worker(s) is more than this machine's $((machine / 1024)) GiB; give each at most $((machine / workers))m"
  fi
  for name in $(recorded_names); do
    if [ -n "$(live_pid "$name")" ]; then
      die "a cluster is already running ($(sed -n 's/^master_url=//p' "$state" 2>/dev/null), $name pid $(live_pid "$name")); run scripts/cluster.sh stop first"
    fi
  done
  use_spark_home
  # The previous cluster's logs and executor folders go (each executor folder holds a copy of the jar).
  rm -rf "$pids" "$state" "$dir"/master.log "$dir"/worker-*
  mkdir -p "$dir"
  # Anything that fails from here on stops what was already started.
  trap 'stop_recorded > /dev/null 2>&1 || true' ERR

  launch master "$dir/master.log" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 0 --webui-port 0
  local master=$launched
  wait_for_log "$dir/master.log" 'Starting Spark master at spark://' "$master" 120 master
  local url
  url=$(grep -o -m 1 -E 'spark://127\.0\.0\.1:[0-9]+' "$dir/master.log")
  local worker_pids=()
  for i in $(seq 1 "$workers"); do
    mkdir -p "$dir/worker-$i"
    local offer=()
    if (( gpus > 0 )); then
      # Spark's discovery script contract: one JSON object naming the resource and its addresses.
      local addresses
      addresses=$(seq -s '","' $(((i - 1) * gpus)) $((i * gpus - 1)))
      printf '%s\n' '#!/bin/sh' "echo '{\"name\": \"gpu\", \"addresses\": [\"$addresses\"]}'" \
        > "$dir/worker-$i/gpus.sh"
      chmod +x "$dir/worker-$i/gpus.sh"
      offer=("-Dspark.worker.resource.gpu.amount=$gpus"
        "-Dspark.worker.resource.gpu.discoveryScript=$dir/worker-$i/gpus.sh")
    fi
    launch "worker-$i" "$dir/worker-$i.log" ${offer[@]+"${offer[@]}"} org.apache.spark.deploy.worker.Worker \
      --host 127.0.0.1 --port 0 --webui-port 0 --cores "$cores" --memory "$memory" --work-dir "$dir/worker-$i" "$url"
    worker_pids+=("$launched")
  done
  for i in $(seq 1 "$workers"); do
    wait_for_log "$dir/worker-$i.log" 'Successfully registered with master' "${worker_pids[$((i - 1))]}" 120 \
      "worker $i"
  done
  trap - ERR
  printf 'master_url=%s\nworkers=%s\ncores=%s\nmemory=%s\ngpus=%s\nspark_home=%s\n' "$url" "$workers" "$cores" \
    "$memory" "$gpus" "$SPARK_HOME" > "$state"
  echo "cluster.sh: $workers worker(s) of $cores core(s), $memory and $gpus GPU(s); master UI" \
    "$(grep -o -m 1 -E 'http://[A-Za-z0-9.]+:[0-9]+' "$dir/master.log" || echo '?'); logs in $dir" >&2
  echo "$url"
}

# The running cluster's settings (master_url, workers, cores, memory, gpus, spark_home) as shell variables.
read_state() {
  [ -f "$state" ] && [ -n "$(live_pid master)" ] \
    || die "no cluster is running (nothing live in $dir): scripts/cluster.sh start --workers N first"
  master_url=$(sed -n 's/^master_url=//p' "$state")
  cores=$(sed -n 's/^cores=//p' "$state")
  memory=$(sed -n 's/^memory=//p' "$state")
  gpus=$(sed -n 's/^gpus=//p' "$state")
  gpus=${gpus:-0}
  SPARK_HOME=$(sed -n 's/^spark_home=//p' "$state")
}

# Refuses, before anything starts, an executor that no Worker could launch (more memory, cores or GPUs than a Worker
# offers): Spark would wait for it forever ("Initial job has not accepted any resources"). Takes the submit's --conf
# arguments.
check_fits() {
  local key value asked
  while [ $# -gt 1 ]; do
    key="${2%%=*}" value="${2#*=}"
    shift 2
    case "$key" in
      spark.executor.memory)
        asked=$(mib "$value") || die "--conf spark.executor.memory=$value is not a size such as 512m or 2g"
        (( asked <= $(mib "$memory") )) || die "--conf spark.executor.memory=$value is more than the $memory each Worker of this cluster offers: no executor could start, and the job would wait forever; ask for at most $memory, or start the cluster with a larger --memory" ;;
      spark.executor.cores|spark.task.cpus)
        [[ "$value" =~ ^[0-9]+$ ]] || die "--conf $key=$value is not a whole number"
        (( value <= cores )) || die "--conf $key=$value is more than the $cores core(s) each Worker of this cluster offers: no executor could start, and the job would wait forever; ask for at most $cores, or start the cluster with more --cores" ;;
      spark.executor.resource.gpu.amount)
        [[ "$value" =~ ^[0-9]+$ ]] || die "--conf $key=$value is not a whole number"
        (( value <= gpus )) || die "--conf $key=$value is more than the $gpus GPU(s) each Worker of this cluster offers: no executor could start, and the job would wait forever; ask for at most $gpus, or start the cluster with --gpus" ;;
    esac
  done
}

# --conf KEY=VALUE of submit, submit-app and shell: collected in conf (as spark-submit's arguments) and keys.
conf=()
keys=" "
add_conf() {
  [[ "${1:-}" == *=* ]] || die "--conf needs KEY=VALUE, got '${1:-}'"
  conf+=(--conf "$1")
  keys+="${1%%=*} "
}

# The project's shaded jar: MOSAICBERT_JAR, or the line's in estimators/spark-LINE/target (built when missing or
# stale).
project_jar() {
  local jar="${MOSAICBERT_JAR:-}"
  [ -z "$jar" ] || [ -f "$jar" ] || die "MOSAICBERT_JAR=$jar does not exist"
  [ -n "$jar" ] || jar=$(shaded_jar)
  echo "$jar"
}

# Runs Spark's SparkSubmit in this process, which becomes the driver (client mode) of an application on the running
# cluster: JVM_FLAGS... (before --), then spark-submit's arguments from --class on. What every Worker offers is the
# default of the executors' size, unless conf says otherwise: an executor asking for more would never be launched,
# and the application would wait for it forever.
drive() {
  local jvm_flags=()
  while [ "$1" != -- ]; do jvm_flags+=("$1"); shift; done
  shift
  read_state
  use_spark_home
  check_fits "${conf[@]}"
  local key
  for setting in "spark.executor.cores=$cores" "spark.task.cpus=$cores" "spark.executor.memory=$memory" \
      "spark.barrier.sync.timeout=600" "spark.driver.host=127.0.0.1"; do
    key="${setting%%=*}"
    [[ "$keys" == *" $key "* ]] || conf+=(--conf "$setting")
  done
  # shellcheck disable=SC2086
  exec "$java" ${MOSAICBERT_JAVA_OPTS:--Xmx4g} $(java17_opens) "${jvm_flags[@]}" \
    -Dlog4j2.configurationFile="$root/conf/log4j2.properties" \
    -Dorg.bytedeco.javacpp.cachedir="${MOSAICBERT_JAVACPP_CACHE:-$HOME/.javacpp/cache}" \
    -cp "$spark_classpath" org.apache.spark.deploy.SparkSubmit --master "$master_url" --deploy-mode client \
    "${conf[@]}" "$@"
}

submit() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --conf) add_conf "${2:-}"; shift 2 ;;
      --*) die "submit: unknown option '$1' before the subcommand (submit [--conf KEY=VALUE ...] SUBCOMMAND [flags])" ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || die "submit needs a subcommand: submit [--conf KEY=VALUE ...] SUBCOMMAND [flags]"
  read_state
  local jar
  jar=$(project_jar)
  drive -- --class org.mosaicbert.cli.Main "$jar" "$@"
}

submit_app() {
  local main="" jars=""
  local usage="submit-app [--conf KEY=VALUE ...] [--jars JAR,...] --class MAIN APP_JAR [ARGS ...]"
  while [ $# -gt 0 ]; do
    case "$1" in
      --conf) add_conf "${2:-}"; shift 2 ;;
      --class) main="${2:-}"; shift 2 || die "--class needs the main class ($usage)" ;;
      --jars) jars="${2:-}"; shift 2 || die "--jars needs a comma-separated list of jars ($usage)" ;;
      --*) die "submit-app: unknown option '$1' before the application jar ($usage)" ;;
      *) break ;;
    esac
  done
  [ -n "$main" ] || die "submit-app needs --class, the application's main class ($usage)"
  [ $# -gt 0 ] || die "submit-app needs the application jar ($usage)"
  [ -f "$1" ] || die "submit-app: the application jar $1 does not exist"
  read_state
  local jar
  jar=$(project_jar)
  drive -- --class "$main" --jars "$jar${jars:+,$jars}" "$@"
}

shell() {
  local jars="" note=""
  local usage="shell [--conf KEY=VALUE ...] [--jars JAR,...] [--notebook NOTE.zpln]"
  while [ $# -gt 0 ]; do
    case "$1" in
      --conf) add_conf "${2:-}"; shift 2 ;;
      --jars) jars="${2:-}"; shift 2 || die "--jars needs a comma-separated list of jars ($usage)" ;;
      --notebook) note="${2:-}"; shift 2 || die "--notebook needs a Zeppelin note, a .zpln file ($usage)" ;;
      *) die "shell: unknown argument '$1' ($usage)" ;;
    esac
  done
  [ -z "$note" ] || [ -f "$note" ] || die "--notebook $note does not exist"
  read_state
  local jar
  jar=$(project_jar)
  use_spark_home
  ls "$SPARK_HOME"/jars/spark-repl_*.jar > /dev/null 2>&1 \
    || die "$SPARK_HOME/jars has no spark-repl jar (Spark's shell): point SPARK_HOME at a full Spark distribution (the Spark 4 home assembled here has none: see the README's Spark lines)"
  local repl_args=()
  if [ -n "$note" ]; then
    local folder script
    folder="$dir/notebook/$(basename "$note" .zpln)"
    script=$("$java" -cp "$spark_classpath:$jar" org.mosaicbert.notebooks.SparkShellScript "$note" "$folder") \
      || die "cannot turn $note into a script for the shell"
    echo "cluster.sh: $note's paragraphs, one file each, in $folder; running them ($script)" >&2
    repl_args=(-I "$script")
  fi
  # What spark-shell does: the shell's own class (the primary resource "spark-shell" tells SparkSubmit it is one),
  # and the Scala compiler reading the JVM's class path (Spark's jars) besides the jars it is given.
  drive -Dscala.usejavacp=true -- --class org.apache.spark.repl.Main --name "Spark shell" \
    --jars "$jar${jars:+,$jars}" spark-shell "${repl_args[@]}"
}

# Ends PIDS: SIGTERM, then SIGKILL for what is left after SECONDS.
terminate() {
  local seconds="$1" pid deadline
  shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  kill -CONT "$@" 2>/dev/null || true   # a stopped (SIGSTOP) process acts on SIGTERM only once it runs again
  deadline=$((SECONDS + seconds))
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done
}

stop_recorded() {
  local executors daemons=() name pid
  executors=$(executor_pids)
  for name in $(recorded_names); do
    pid=$(live_pid "$name")
    [ -n "$pid" ] && daemons+=("$pid")
  done
  # Executors first, by pid: a Worker's own shutdown hook only kills the executors it still knows about.
  # shellcheck disable=SC2086
  terminate 10 $executors
  terminate 20 "${daemons[@]}"
  rm -f "$pids" "$state"
  echo "cluster.sh: stopped ${#daemons[@]} daemon(s) and $(echo $executors | wc -w) executor(s)" >&2
}

stop() {
  [ -f "$pids" ] || { echo "cluster.sh: no cluster recorded in $dir: nothing to stop" >&2; return 0; }
  stop_recorded
}

case "${1:-}" in
  start) shift; start "$@" ;;
  submit) shift; submit "$@" ;;
  submit-app) shift; submit_app "$@" ;;
  shell) shift; shell "$@" ;;
  executors) shift; [ $# -eq 0 ] || die "executors takes no arguments"; executor_pids ;;
  stop) shift; [ $# -eq 0 ] || die "stop takes no arguments"; stop ;;
  -h|--help|help) usage ;;
  "") usage >&2; exit 2 ;;
  *) die "unknown command '$1': start, submit, submit-app, shell, executors or stop (scripts/cluster.sh --help)" ;;
esac
