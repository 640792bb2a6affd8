# Sourced by bin/mosaicbert and scripts/cluster.sh (after setting $root, the repository root): the shaded jar and
# the JVM flags that Spark needs on Java 17.

# The Spark line to run on: MOSAICBERT_SPARK=4 (the default: Spark 4, Scala 2.13) or 3.5 (Spark 3.5, Scala 2.12).
spark_line() {
  case "${MOSAICBERT_SPARK:-4}" in
    4 | 3.5) echo "${MOSAICBERT_SPARK:-4}" ;;
    *) echo "MOSAICBERT_SPARK=$MOSAICBERT_SPARK: the Spark lines built here are 4 (the default) and 3.5" >&2; return 2 ;;
  esac
}

# The Scala version (binary) of a Spark line's artifact.
scala_of_line() {
  case "$1" in 4) echo 2.13 ;; 3.5) echo 2.12 ;; esac
}

# The build folder of the line's artifact (estimators/spark-LINE/target).
line_target() {
  echo "$root/estimators/spark-$(spark_line)/target"
}

# Prints the shaded jar's path for the Spark line, building it first (mvn package, the line's estimators and what it
# needs) when it is missing or older than a source, a POM or a resource. The build's output goes to standard error.
shaded_jar() {
  local line target jar
  line=$(spark_line)
  target=$(line_target)
  jar="$target/mosaicbert-spark${line}_$(scala_of_line "$line")-$(project_version).jar"
  if [ ! -f "$jar" ] || [ ! -f "$target/runtime-classpath.txt" ] || [ -n "$(find "$root" -path "$root/*/target" -prune \
      -o \( -name '*.java' -o -name 'pom.xml' -o -path '*/src/main/resources/*' \) -newer "$jar" -print -quit)" ]; then
    echo "mosaicbert: building the Spark $line line (mvn package -DskipTests -pl estimators/spark-$line -am) ..." >&2
    # Plain text on standard error: batch mode and style.color=never turn Maven's colours off, and jansi.noreset
    # stops the Jansi console of Maven 3.8 from writing its reset codes even then.
    (cd "$root" && MAVEN_OPTS="${MAVEN_OPTS:-} -Djansi.noreset=true" \
      mvn -B -q -Dstyle.color=never -DskipTests -pl "estimators/spark-$line" -am package 1>&2)
  fi
  echo "$jar"
}

# The project's version, from the parent POM.
project_version() {
  sed -n '0,/<version>/s:.*<version>\(.*\)</version>.*:\1:p' "$root/pom.xml"
}

# What Spark needs opened on Java 17: the same flags as the tests, from the parent POM (spark.java17.opens).
java17_opens() {
  sed -n 's:.*<spark.java17.opens>\(.*\)</spark.java17.opens>.*:\1:p' "$root/pom.xml"
}
