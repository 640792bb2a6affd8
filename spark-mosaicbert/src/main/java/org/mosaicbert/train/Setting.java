package org.mosaicbert.train;

import java.io.Serializable;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * One training setting, declared once in {@link TrainingSettings}: its estimator param, its recipe key, its
 * command-line flag, its type, default, valid values and one line of doc. The recipe reader, the command line and its
 * help, the estimator's params, the checks of a resume and the plan the trainer gets all come from this declaration.
 *
 * @param <T> Integer, Long, Double or String
 */
public final class Setting<T> implements Serializable {
  /** The kinds of run that read a setting, each with its recipe keys and flags. */
  public enum Run { PRETRAINING, FINETUNING, GLUE }

  /** How a recipe writes a value, where it is not the plain value. */
  public enum RecipeForm {
    PLAIN("%s"),
    /** The first number of a list of two (optimizer.betas). */
    FIRST_OF_PAIR("the first of %s"),
    /** The second number of a list of two. */
    SECOND_OF_PAIR("the second of %s"),
    /** A share of the run, {@code 0.06dur} (scheduler.t_warmup). */
    SHARE_OF_RUN("%s as 0.06dur"),
    /** The steps of a {@code max_duration}: {@code Nba}, {@code Nsp} over the global batch; {@code Nep} means 0. */
    DURATION_STEPS("%s as Nba, or Nsp over the global batch"),
    /** The epochs of a {@code max_duration} in {@code Nep}; absent in other units. */
    DURATION_EPOCHS("%s as Nep");

    private final String words;

    RecipeForm(String words) {
      this.words = words;
    }

    /** How a recipe writes the value of {@code key} in this form, for help: "the first of optimizer.betas". */
    public String describe(String key) {
      return String.format(words, key);
    }
  }

  private final Class<T> type;
  private final String param;
  private final String recipeKey;
  private final String flag;
  private final T defaultValue;
  private final Range range;
  private final List<String> choices;
  private final String doc;
  private final RecipeForm recipeForm;
  private final Set<Run> runs;
  private final boolean freeOnResume;

  private Setting(Class<T> type, String param, String recipeKey, String flag, T defaultValue, Range range,
      List<String> choices, String doc, RecipeForm recipeForm, Set<Run> runs, boolean freeOnResume) {
    this.type = type;
    this.param = param;
    this.recipeKey = recipeKey;
    this.flag = flag;
    this.defaultValue = defaultValue;
    this.range = range;
    this.choices = choices;
    this.doc = doc;
    this.recipeForm = recipeForm;
    this.runs = runs;
    this.freeOnResume = freeOnResume;
  }

  /** A whole number in {@code range}. */
  static Setting<Integer> integer(String param, String recipeKey, String flag, int defaultValue, Range range,
      String doc) {
    return new Setting<>(Integer.class, param, recipeKey, flag, defaultValue, range, List.of(), doc, RecipeForm.PLAIN,
        EnumSet.allOf(Run.class), false);
  }

  /** A whole number in {@code range}, too large for an int. */
  static Setting<Long> longInteger(String param, String recipeKey, String flag, long defaultValue, Range range,
      String doc) {
    return new Setting<>(Long.class, param, recipeKey, flag, defaultValue, range, List.of(), doc, RecipeForm.PLAIN,
        EnumSet.allOf(Run.class), false);
  }

  /** A real number in {@code range}. */
  static Setting<Double> real(String param, String recipeKey, String flag, double defaultValue, Range range,
      String doc) {
    return new Setting<>(Double.class, param, recipeKey, flag, defaultValue, range, List.of(), doc, RecipeForm.PLAIN,
        EnumSet.allOf(Run.class), false);
  }

  /** A text: one of {@code choices} when they are given, else any text (a preset or a path). */
  static Setting<String> text(String param, String recipeKey, String flag, String defaultValue, List<String> choices,
      String doc) {
    return new Setting<>(String.class, param, recipeKey, flag, defaultValue, Range.ANY, List.copyOf(choices), doc,
        RecipeForm.PLAIN, EnumSet.allOf(Run.class), false);
  }

  /** This setting, written in a recipe in {@code form}. */
  Setting<T> writtenAs(RecipeForm form) {
    return new Setting<>(type, param, recipeKey, flag, defaultValue, range, choices, doc, form, runs, freeOnResume);
  }

  /** This setting, read by these kinds of run only. */
  Setting<T> onlyIn(Run first, Run... rest) {
    return new Setting<>(type, param, recipeKey, flag, defaultValue, range, choices, doc, recipeForm,
        EnumSet.of(first, rest), freeOnResume);
  }

  /** This setting, which may change when a run resumes: it changes how the run goes, not what it computes. */
  Setting<T> freeOnResume() {
    return new Setting<>(type, param, recipeKey, flag, defaultValue, range, choices, doc, recipeForm, runs, true);
  }

  public Class<T> type() {
    return type;
  }

  /** The estimator's param name, and the name in checkpoints and saved settings. */
  public String param() {
    return param;
  }

  /** The key in a recipe (MosaicML's where one exists), dotted for nesting: {@code optimizer.lr}. */
  public String recipeKey() {
    return recipeKey;
  }

  /** The command-line flag, without its leading dashes. */
  public String flag() {
    return flag;
  }

  public T defaultValue() {
    return defaultValue;
  }

  public Range range() {
    return range;
  }

  /** The values allowed for a text; empty when any text is. */
  public List<String> choices() {
    return choices;
  }

  public String doc() {
    return doc;
  }

  public RecipeForm recipeForm() {
    return recipeForm;
  }

  public boolean readBy(Run run) {
    return runs.contains(run);
  }

  /** Whether a resume may change it without saying so (threads, checkpoint interval, logging, timeouts). */
  public boolean isFreeOnResume() {
    return freeOnResume;
  }

  /**
   * {@code value} as this setting's type, checked against its range or choices; a number that is not whole where one
   * must be, or out of range, is an {@link IllegalArgumentException} saying what is allowed (the caller names where
   * the value came from).
   */
  public T check(Object value) {
    if (type == String.class) {
      String text = value.toString();
      if (!choices.isEmpty() && !choices.contains(text)) {
        throw new IllegalArgumentException("'" + text + "' must be one of " + choices);
      }
      return type.cast(text);
    }
    double number;
    if (value instanceof Number n) {
      number = n.doubleValue();
    } else {
      try {
        number = Double.parseDouble(value.toString().trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("'" + value + "' is not a number");
      }
    }
    if (!range.contains(number)) {
      throw new IllegalArgumentException(format(number) + " must be " + range.describe());
    }
    if (type == Double.class) {
      return type.cast(number);
    }
    if (type == Long.class && (value instanceof Long || value instanceof Integer)) {
      return type.cast(((Number) value).longValue());
    }
    if (type == Long.class && value instanceof String text && text.trim().matches("-?\\d{1,19}")) {
      try {
        return type.cast(Long.parseLong(text.trim())); // exactly: beyond 2^53 a double rounds
      } catch (NumberFormatException e) {
        // too large: refused below
      }
    }
    double most = type == Integer.class ? Integer.MAX_VALUE : Long.MAX_VALUE;
    if (number != Math.rint(number) || Math.abs(number) >= most) {
      throw new IllegalArgumentException(format(number) + " must be a whole number of magnitude below " + (long) most);
    }
    return type.cast(type == Integer.class ? (Object) (int) number : (Object) (long) number);
  }

  /** A number as a person writes it: whole numbers without ".0", others as Java prints a double. */
  static String format(double number) {
    return number == Math.rint(number) && !Double.isInfinite(number)
        ? new java.math.BigDecimal(number).toPlainString() : Double.toString(number);
  }

  @Override
  public String toString() {
    return param;
  }

  /**
   * The numbers a setting allows: from {@code low} to {@code high}, each end in or out.
   */
  public record Range(double low, boolean lowIncluded, double high, boolean highIncluded) implements Serializable {
    static final Range ANY = new Range(Double.NEGATIVE_INFINITY, true, Double.POSITIVE_INFINITY, true);

    static Range atLeast(double low) {
      return new Range(low, true, Double.POSITIVE_INFINITY, true);
    }

    static Range above(double low) {
      return new Range(low, false, Double.POSITIVE_INFINITY, true);
    }

    /** From {@code low} to {@code high}, both included. */
    static Range between(double low, double high) {
      return new Range(low, true, high, true);
    }

    /** From {@code low} (included) up to {@code high} (excluded). */
    static Range upTo(double low, double high) {
      return new Range(low, true, high, false);
    }

    /** Between {@code low} and {@code high}, both excluded. */
    static Range strictlyBetween(double low, double high) {
      return new Range(low, false, high, false);
    }

    public boolean contains(double x) {
      return (lowIncluded ? x >= low : x > low) && (highIncluded ? x <= high : x < high);
    }

    /** "at least 1", "in (0, 1)", "any number". */
    public String describe() {
      boolean noLow = low == Double.NEGATIVE_INFINITY;
      boolean noHigh = high == Double.POSITIVE_INFINITY;
      if (noLow && noHigh) {
        return "a number";
      }
      if (noHigh) {
        return (lowIncluded ? "at least " : "above ") + format(low);
      }
      return String.format(Locale.ROOT, "in %s%s, %s%s", lowIncluded ? "[" : "(", format(low), format(high),
          highIncluded ? "]" : ")");
    }
  }
}
