# Sourced by bin/mosaicbert and scripts/cluster.sh (after setting $root, the repository root): the shaded jar and
# the JVM flags that Spark needs on Java 17.

# Prints the shaded jar's path, building it first (mvn package, estimators and what it needs) when it is missing or
# older than a source, a POM or a resource. The build's output goes to standard error.
shaded_jar() {
  local target="$root/estimators/target" jar
  jar=$(ls "$target"/spark-mosaicbert-*.jar 2>/dev/null | grep -v -e '-sources' -e '-tests' | head -n 1 || true)
  if [ -z "$jar" ] || [ ! -f "$target/runtime-classpath.txt" ] || [ -n "$(find "$root" -path "$root/*/target" -prune \
      -o \( -name '*.java' -o -name 'pom.xml' -o -path '*/src/main/resources/*' \) -newer "$jar" -print -quit)" ]; then
    echo "mosaicbert: building (mvn package -DskipTests) ..." >&2
    # Plain text on standard error: batch mode and style.color=never turn Maven's colours off, and jansi.noreset
    # stops the Jansi console of Maven 3.8 from writing its reset codes even then.
    (cd "$root" && MAVEN_OPTS="${MAVEN_OPTS:-} -Djansi.noreset=true" \
      mvn -B -q -Dstyle.color=never -DskipTests -pl estimators -am package 1>&2)
    jar=$(ls "$target"/spark-mosaicbert-*.jar | grep -v -e '-sources' -e '-tests' | head -n 1)
  fi
  echo "$jar"
}

# What Spark needs opened on Java 17: the same flags as the tests, from the parent POM (spark.java17.opens).
java17_opens() {
  sed -n 's:.*<spark.java17.opens>\(.*\)</spark.java17.opens>.*:\1:p' "$root/pom.xml"
}
