package dev.baomi.spring;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.HashMap;
import java.util.Map;

/**
 * What each entity's encrypted fields were last shown as (a masked value, a plain one, or null
 * outside the purpose) and the ciphertext behind it, held weakly by the entity's identity. A
 * value written back unchanged is the stored ciphertext again, never new data: a masked
 * {@code 138****8000}, or a null the purpose did not cover, saved with the rest of an entity
 * must not replace the number.
 */
final class Shown {
  /** One field's last shown value and its ciphertext. */
  record Field(String shown, String ciphertext) {}

  private static final class Key extends WeakReference<Object> {
    private final int hash;

    Key(Object entity, ReferenceQueue<Object> queue) {
      super(entity, queue);
      this.hash = System.identityHashCode(entity);
    }

    @Override
    public int hashCode() {
      return hash;
    }

    @Override
    public boolean equals(Object other) {
      return other instanceof Key k && k.get() != null && k.get() == get();
    }
  }

  private final ReferenceQueue<Object> queue = new ReferenceQueue<>();
  private final Map<Key, Map<String, Field>> byEntity = new HashMap<>();

  private void expunge() {
    for (Reference<?> gone; (gone = queue.poll()) != null; ) {
      byEntity.remove(gone);
    }
  }

  synchronized void remember(Object entity, String field, String shown, String ciphertext) {
    expunge();
    byEntity.computeIfAbsent(new Key(entity, queue), k -> new HashMap<>()).put(field, new Field(shown, ciphertext));
  }

  /** The field's last shown value and ciphertext, or null if it was never shown. */
  synchronized Field of(Object entity, String field) {
    expunge();
    Map<String, Field> fields = byEntity.get(new Key(entity, null));
    return fields == null ? null : fields.get(field);
  }
}
