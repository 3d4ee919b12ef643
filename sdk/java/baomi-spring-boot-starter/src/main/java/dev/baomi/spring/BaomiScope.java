package dev.baomi.spring;

import java.util.function.Supplier;

/**
 * Reads of encrypted fields under another purpose or view than the configured ones, for the
 * code inside: {@code BaomiScope.plain(() -> customers.find(id))}.
 */
public final class BaomiScope {
  private static final ThreadLocal<String[]> CURRENT = new ThreadLocal<>();

  private BaomiScope() {}

  /** Runs {@code work} reading in the plain view under the configured purpose. */
  public static <T> T plain(Supplier<T> work) {
    return under(null, "plain", work);
  }

  /** Runs {@code work} reading under {@code purpose} (null: the configured one) in {@code view}. */
  public static <T> T under(String purpose, String view, Supplier<T> work) {
    String[] outer = CURRENT.get();
    CURRENT.set(new String[] {purpose, view});
    try {
      return work.get();
    } finally {
      if (outer == null) {
        CURRENT.remove();
      } else {
        CURRENT.set(outer);
      }
    }
  }

  /** The purpose and view in force here, or null where no scope is open. */
  static String[] current() {
    return CURRENT.get();
  }
}
