package dev.baomi.client;

import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Function;

/** Iterates every item of a paged result, asking for a page only when the last is used up. */
final class Pages {
  private Pages() {}

  static <P, T> Iterable<T> of(
      Function<Long, P> fetch, Function<P, List<T>> items, Function<P, Long> next) {
    return () ->
        new Iterator<>() {
          private Iterator<T> page;
          private Long cursor;
          private boolean last;

          @Override
          public boolean hasNext() {
            while (page == null || !page.hasNext()) {
              if (last) {
                return false;
              }
              P answer = fetch.apply(cursor);
              List<T> found = items.apply(answer);
              page = found == null ? List.<T>of().iterator() : found.iterator();
              cursor = next.apply(answer);
              last = cursor == null;
            }
            return true;
          }

          @Override
          public T next() {
            if (!hasNext()) {
              throw new NoSuchElementException();
            }
            return page.next();
          }
        };
  }
}
