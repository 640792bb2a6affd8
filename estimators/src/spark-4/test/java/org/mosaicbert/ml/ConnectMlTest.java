package org.mosaicbert.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import org.apache.spark.connect.proto.Command;
import org.apache.spark.connect.proto.ExecutePlanResponse;
import org.apache.spark.connect.proto.Expression;
import org.apache.spark.connect.proto.MlCommand;
import org.apache.spark.connect.proto.MlCommandResult;
import org.apache.spark.connect.proto.MlOperator;
import org.apache.spark.connect.proto.MlParams;
import org.apache.spark.connect.proto.MlRelation;
import org.apache.spark.connect.proto.ObjectRef;
import org.apache.spark.connect.proto.Plan;
import org.apache.spark.connect.proto.Read;
import org.apache.spark.connect.proto.Relation;
import org.apache.spark.connect.proto.SQL;
import org.apache.spark.connect.proto.WriteOperation;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.evaluation.Evaluator;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connect.client.SparkConnectClient;
import org.apache.spark.sql.connect.service.SparkConnectService;
import org.apache.spark.sql.connect.service.SparkConnectService$;
import org.apache.spark.sql.util.CloseableIterator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mosaicbert.glue.GlueReader;
import org.mosaicbert.glue.GlueTask;
import org.mosaicbert.testing.SharedTestData;
import scala.Option;

/**
 * The stages through Spark Connect's ML protocol, as a Connect client drives them: a Connect server in this JVM (on a
 * free port of 127.0.0.1) and the Connect client core that its jar bundles, sending the ML commands a client builds
 * (fit, transform, write, read, evaluate). The server finds the stages through the jar's META-INF/services files. Its
 * ML cache keeps at most one byte of models in memory here, so it offloads each model to its local disk at once and
 * reads it back before every use: the model's writer and reader in Spark's local saving mode.
 */
class ConnectMlTest {
  private static final String ESTIMATOR = MosaicBertEstimator.class.getName();
  private static final String MODEL = MosaicBertModel.class.getName();
  private static final String EVALUATOR = GlueEvaluator.class.getName();

  @TempDir static Path tmp;
  private static SparkSession spark;
  private static int port;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("connect-ml-test").config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.connect.grpc.binding.address", "127.0.0.1").config("spark.connect.grpc.binding.port", "0")
        .config("spark.connect.session.connectML.mlCache.memoryControl.maxInMemorySize", "1")
        .getOrCreate();
    SparkConnectService.start(spark.sparkContext());
    port = SparkConnectService$.MODULE$.localPort();
  }

  @AfterAll
  static void stop() {
    SparkConnectService.stop(Option.empty(), Option.empty());
    spark.stop();
  }

  @Test
  void fitsScoresSavesReadsAndEvaluatesThroughConnectAsInProcess() throws Exception {
    Path train = sst2Parquet("train", 64);
    Path dev = sst2Parquet("dev", 32);
    Path init = Path.of(ConnectMlTest.class.getResource("/legacy-models/mlm-model").toURI());
    SparkConnectClient client = SparkConnectClient.builder().connectionString("sc://127.0.0.1:" + port).build();
    try {
      // Numbers as a Python client sends them: whole numbers as longs (the int params take them), others as doubles.
      MlParams fitParams = params(Map.of("objective", "classification", "initModel", init.toString(),
          "vocab", init.resolve("vocab.txt").toString(), "textCol", "text", "labelCol", "label",
          "maxSeqLen", 32L, "globalBatchSize", 16L, "microBatchSize", 16L, "maxSteps", 4L, "lr", 1e-3));
      MlCommandResult fit = run(client, MlCommand.newBuilder().setFit(MlCommand.Fit.newBuilder()
          .setEstimator(operator(ESTIMATOR, "mosaicbert_connect", MlOperator.OperatorType.OPERATOR_TYPE_ESTIMATOR))
          .setParams(fitParams).setDataset(parquet(train))).build());
      String fitted = fit.getOperatorInfo().getObjRef().getId();
      assertTrue(!fitted.isEmpty(), "fit returns a reference to the model in the server's cache: " + fit);

      Path saved = tmp.resolve("model");
      run(client, MlCommand.newBuilder().setWrite(MlCommand.Write.newBuilder()
          .setObjRef(ObjectRef.newBuilder().setId(fitted)).setPath(saved.toString())).build());
      assertTrue(Files.isRegularFile(saved.resolve(ModelFolder.WEIGHTS))
          && Files.isDirectory(saved.resolve("metadata")), "a model folder with Spark's metadata/ at " + saved);
      MosaicBertModel inProcess = MosaicBertModel.load(saved.toString());
      assertEquals(32, inProcess.getMaxSeqLen(), "the fit's params travel with the model");
      assertEquals("text", inProcess.getTextCol());
      Dataset<Row> expected = inProcess.transform(spark.read().parquet(dev.toString()));
      List<Row> expectedRows = expected.orderBy("idx").select("idx", "rawPrediction", "prediction").collectAsList();

      // The fitted model in the server's cache scores as the same weights do in-process.
      List<Row> scored = scoredThroughConnect(client, transform(fitted, MlParams.getDefaultInstance(), dev), "fitted");
      assertSameScores(expectedRows, scored, "prediction");

      MlCommandResult read = run(client, MlCommand.newBuilder().setRead(MlCommand.Read.newBuilder()
          .setOperator(operator(MODEL, "", MlOperator.OperatorType.OPERATOR_TYPE_MODEL))
          .setPath(saved.toString())).build());
      String loaded = read.getOperatorInfo().getObjRef().getId();
      assertNotEquals(fitted, loaded);
      assertEquals("mosaicbert_connect", read.getOperatorInfo().getUid(), "the model keeps the estimator's uid");
      // A param set at transform time: the read model scores the same, into the column named.
      List<Row> again = scoredThroughConnect(client, transform(loaded, params(Map.of("predictionCol", "guess")), dev),
          "read");
      assertSameScores(expectedRows, again, "guess");

      MlCommandResult evaluated = run(client, MlCommand.newBuilder().setEvaluate(MlCommand.Evaluate.newBuilder()
          .setEvaluator(operator(EVALUATOR, "glueEval_connect", MlOperator.OperatorType.OPERATOR_TYPE_EVALUATOR))
          .setParams(params(Map.of("metricName", "accuracy")))
          .setDataset(transform(loaded, MlParams.getDefaultInstance(), dev))).build());
      double accuracy = new GlueEvaluator().setMetricName("accuracy").evaluate(expected);
      assertEquals(accuracy, evaluated.getParam().getDouble(), 0.0, "GlueEvaluator through Connect: " + evaluated);
    } finally {
      client.releaseSession();
      client.shutdown();
    }
  }

  @Test
  void refusesAClassNotInTheServicesFilesWithTheServersError() throws Exception {
    SparkConnectClient client = SparkConnectClient.builder().connectionString("sc://127.0.0.1:" + port).build();
    try {
      Exception e = assertThrows(Exception.class, () -> run(client, MlCommand.newBuilder().setFit(
          MlCommand.Fit.newBuilder().setEstimator(operator("org.mosaicbert.ml.NoSuchEstimator", "x",
              MlOperator.OperatorType.OPERATOR_TYPE_ESTIMATOR)).setDataset(Relation.newBuilder().setSql(
              SQL.newBuilder().setQuery("SELECT 'a' AS text, 1.0 AS label")))).build()));
      assertTrue(e.getMessage().contains("Unsupported ML operator") && e.getMessage().contains("NoSuchEstimator"),
          e.toString());
    } finally {
      client.releaseSession();
      client.shutdown();
    }
  }

  /**
   * What the server asks of each class the services files list: a public no-argument constructor (Java's service
   * loader), a public (String uid) one (the server makes estimators and evaluators so) and a static load(String) (it
   * reads saved stages so). A model made without weights says what to do instead of scoring.
   */
  @Test
  void theServicesFilesListTheStagesWithWhatTheServerCalls() throws Exception {
    Map<Class<?>, Class<?>> listed = Map.of(Estimator.class, MosaicBertEstimator.class,
        Transformer.class, MosaicBertModel.class, Evaluator.class, GlueEvaluator.class);
    for (Map.Entry<Class<?>, Class<?>> e : listed.entrySet()) {
      List<Class<?>> types = ServiceLoader.load(e.getKey()).stream().<Class<?>>map(ServiceLoader.Provider::type)
          .toList();
      assertTrue(types.contains(e.getValue()), e.getKey().getName() + " services: " + types);
      Class<?> stage = e.getValue();
      assertNotNull(stage.getConstructor().newInstance());
      assertNotNull(stage.getConstructor(String.class).newInstance("uid_" + stage.getSimpleName()));
      assertTrue(Modifier.isStatic(stage.getMethod("load", String.class).getModifiers()), stage + ".load");
      assertTrue(Modifier.isStatic(stage.getMethod("read").getModifiers()), stage + ".read");
    }
    Exception e = assertThrows(IllegalStateException.class,
        () -> new MosaicBertModel("empty").transform(spark.sql("SELECT 'a' AS text")));
    assertTrue(e.getMessage().contains("MosaicBertModel empty has no weights"), e.getMessage());
  }

  /** The first rows of an SST-2 file, as a parquet folder a Connect client can name. */
  private static Path sst2Parquet(String split, int rows) throws java.io.IOException {
    Path head = tmp.resolve(split + ".tsv");
    try (java.util.stream.Stream<String> lines = Files.lines(SharedTestData.path("data/glue/SST-2/" + split
        + ".tsv"))) {
      Files.write(head, lines.limit(1 + rows).toList()); // the header and the rows
    }
    Path folder = tmp.resolve(split);
    GlueReader.read(spark, GlueTask.named("SST-2"), head).write().parquet(folder.toString());
    return folder;
  }

  private static void assertSameScores(List<Row> expected, List<Row> scored, String predictionCol) {
    assertEquals(expected.size(), scored.size());
    for (int i = 0; i < expected.size(); i++) {
      Row want = expected.get(i);
      Row got = scored.get(i);
      assertEquals(want.getLong(0), got.<Long>getAs("idx"));
      assertArrayEquals(((Vector) want.get(1)).toArray(), got.<Vector>getAs("rawPrediction").toArray(), 0.0,
          "row " + want.getLong(0) + ": the same logits");
      assertEquals(want.getDouble(2), got.<Double>getAs(predictionCol), 0.0);
    }
  }

  /** The rows of a relation, which the server writes to a parquet folder (this client core reads no results). */
  private static List<Row> scoredThroughConnect(SparkConnectClient client, Relation relation, String name)
      throws Exception {
    Path out = tmp.resolve("scored-" + name);
    execute(client, Plan.newBuilder().setCommand(Command.newBuilder().setWriteOperation(WriteOperation.newBuilder()
        .setInput(relation).setSource("parquet").setPath(out.toString())
        .setMode(WriteOperation.SaveMode.SAVE_MODE_ERROR_IF_EXISTS))).build());
    return spark.read().parquet(out.toString()).orderBy("idx").collectAsList();
  }

  private static Relation transform(String model, MlParams params, Path input) {
    return Relation.newBuilder().setMlRelation(MlRelation.newBuilder().setTransform(MlRelation.Transform.newBuilder()
        .setObjRef(ObjectRef.newBuilder().setId(model)).setParams(params).setInput(parquet(input)))).build();
  }

  private static Relation parquet(Path folder) {
    return Relation.newBuilder().setRead(Read.newBuilder().setDataSource(Read.DataSource.newBuilder()
        .setFormat("parquet").addPaths(folder.toString()))).build();
  }

  private static MlOperator operator(String className, String uid, MlOperator.OperatorType type) {
    return MlOperator.newBuilder().setName(className).setUid(uid).setType(type).build();
  }

  private static MlParams params(Map<String, Object> values) {
    MlParams.Builder params = MlParams.newBuilder();
    values.forEach((name, value) -> {
      Expression.Literal.Builder literal = Expression.Literal.newBuilder();
      if (value instanceof String s) {
        literal.setString(s);
      } else if (value instanceof Long l) {
        literal.setLong(l);
      } else if (value instanceof Double d) {
        literal.setDouble(d);
      } else {
        throw new IllegalArgumentException(name + ": no literal for " + value.getClass());
      }
      params.putParams(name, literal.build());
    });
    return params.build();
  }

  private static MlCommandResult run(SparkConnectClient client, MlCommand command) throws Exception {
    List<ExecutePlanResponse> responses = execute(client, Plan.newBuilder().setCommand(Command.newBuilder()
        .setMlCommand(command)).build());
    return responses.stream().filter(ExecutePlanResponse::hasMlCommandResult).map(
        ExecutePlanResponse::getMlCommandResult).reduce((a, b) -> b).orElseThrow(() -> new AssertionError(
            "no MlCommandResult for " + command.getCommandCase()));
  }

  private static List<ExecutePlanResponse> execute(SparkConnectClient client, Plan plan) throws Exception {
    List<ExecutePlanResponse> responses = new java.util.ArrayList<>();
    try (CloseableIterator<ExecutePlanResponse> it = client.execute(plan, Option.empty())) {
      while (it.hasNext()) {
        responses.add(it.next());
      }
    }
    return responses;
  }
}
