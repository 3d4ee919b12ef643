package dev.baomi.spring;

import jakarta.persistence.PostLoad;
import jakarta.persistence.PostPersist;
import jakarta.persistence.PostUpdate;
import jakarta.persistence.PrePersist;
import jakarta.persistence.PreUpdate;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Field encryption for JPA: name it on an entity ({@code @EntityListeners(BaomiEntityListener.class)})
 * and its {@link Encrypted} fields are sealed before each insert and update (the entity given
 * its plaintext back after), and opened after each load, under the purpose and view in force.
 * Hibernate creates it through Spring, which gives it the {@link FieldEncryptor}.
 *
 * <p>An attribute converter would see one column's value, never the entity, so it could not
 * know whose data it holds; a listener sees the entity. The cost: after a load or a write the
 * entity holds values its persistence context did not store, so a read-write transaction that
 * flushes it writes the same ciphertexts back (no call to Baomi, no change of data: a value
 * as it was shown is its ciphertext again). Read in read-only transactions to avoid that.
 */
public class BaomiEntityListener {
  private final FieldEncryptor encryptor;
  private final ThreadLocal<Map<Object, Runnable>> pending = ThreadLocal.withInitial(IdentityHashMap::new);

  /** The listener, sealing and opening with {@code encryptor}. */
  public BaomiEntityListener(FieldEncryptor encryptor) {
    this.encryptor = encryptor;
  }

  /** Seals the entity's fields before it is written. */
  @PrePersist
  @PreUpdate
  public void seal(Object entity) {
    pending.get().put(entity, encryptor.seal(List.of(entity)));
  }

  /** Gives the entity its plaintext back once it is written. */
  @PostPersist
  @PostUpdate
  public void written(Object entity) {
    Runnable restore = pending.get().remove(entity);
    if (restore != null) {
      restore.run();
    }
  }

  /** Opens the entity's fields once it is loaded. */
  @PostLoad
  public void open(Object entity) {
    encryptor.open(List.of(entity));
  }
}
