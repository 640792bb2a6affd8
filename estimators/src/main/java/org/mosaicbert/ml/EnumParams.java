package org.mosaicbert.ml;

import java.util.Arrays;
import java.util.Locale;

/**
 * An enum kept in a string param, as MLlib saves params (so saved stages load whatever the enum becomes): a constant's
 * value is its name in lower case, parsed once into the constant.
 */
final class EnumParams {
  private EnumParams() {}

  static String paramValue(Enum<?> constant) {
    return constant.name().toLowerCase(Locale.ROOT);
  }

  /** Every value of {@code type}, for a param's validator and for messages. */
  static String[] paramValues(Class<? extends Enum<?>> type) {
    return Arrays.stream(type.getEnumConstants()).map(EnumParams::paramValue).toArray(String[]::new);
  }

  /** The constant of param {@code param}'s value; an unknown value is named with the ones there are. */
  static <E extends Enum<E>> E parse(Class<E> type, String param, String value) {
    for (E constant : type.getEnumConstants()) {
      if (paramValue(constant).equals(value)) {
        return constant;
      }
    }
    throw new IllegalArgumentException(param + " must be one of " + Arrays.toString(paramValues(type)) + ", not '"
        + value + "'");
  }
}
