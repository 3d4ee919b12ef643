package dev.baomi.spring;

import dev.baomi.client.BaomiClient;
import dev.baomi.client.ErrorCodes;
import dev.baomi.client.model.CiphertextRequestItem;
import dev.baomi.client.model.CiphertextResult;
import dev.baomi.client.model.CiphertextResults;
import dev.baomi.client.model.DecryptRequest;
import dev.baomi.client.model.EncryptRequest;
import dev.baomi.client.model.EncryptRequestItem;
import dev.baomi.client.model.ItemProblem;
import dev.baomi.client.model.ValueResult;
import dev.baomi.client.model.ValueResults;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * Seals and opens the {@link Encrypted} fields of entities in place, one Baomi call for a
 * whole batch of entities: what the MyBatis interceptor does around each statement, and what
 * application code may call itself.
 */
public final class FieldEncryptor {
  /** Every Baomi ciphertext starts so; a value that does not is plaintext to seal. */
  static final String CIPHERTEXT_PREFIX = "bm:";

  private final BaomiClient client;
  private final BaomiProperties.Persistence settings;
  private final Shown shown = new Shown();
  private final ClassValue<Shape> shapes =
      new ClassValue<>() {
        @Override
        protected Shape computeValue(Class<?> type) {
          return Shape.of(type);
        }
      };

  /** An encryptor calling Baomi with {@code client}, reading as {@code settings} say. */
  public FieldEncryptor(BaomiClient client, BaomiProperties.Persistence settings) {
    this.client = client;
    this.settings = settings;
  }

  /** Where an entity class keeps its subject and its encrypted fields. */
  private record Shape(Field subject, List<Field> fields) {
    static Shape of(Class<?> type) {
      Field subject = null;
      List<Field> fields = new ArrayList<>();
      for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
        for (Field f : c.getDeclaredFields()) {
          if (f.isAnnotationPresent(Encrypted.class)) {
            if (f.getType() != String.class) {
              throw new IllegalStateException(type.getName() + "." + f.getName() + ": @Encrypted fields are Strings");
            }
            f.setAccessible(true);
            fields.add(f);
          }
          if (f.isAnnotationPresent(SubjectId.class) && subject == null) {
            f.setAccessible(true);
            subject = f;
          }
        }
      }
      if (!fields.isEmpty() && subject == null) {
        throw new IllegalStateException(type.getName() + " has @Encrypted fields but no @SubjectId");
      }
      return new Shape(subject, fields);
    }
  }

  /** One field of one entity. */
  private record Slot(Object entity, Field field, String subject, String value) {
    String name() {
      return field.getAnnotation(Encrypted.class).value();
    }

    String key() {
      return field.getName();
    }

    void set(String v) {
      try {
        field.set(entity, v);
      } catch (IllegalAccessException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /** Whether the object is an entity with encrypted fields. */
  public boolean handles(Object entity) {
    return entity != null && !shapes.get(entity.getClass()).fields().isEmpty();
  }

  /**
   * The fields to seal ({@code sealed} false: plaintext, and values shown before, which
   * {@link #seal} maps back to their ciphertext) or to open ({@code sealed} true: ciphertexts).
   */
  private List<Slot> slots(Collection<?> entities, boolean sealed) {
    List<Slot> slots = new ArrayList<>();
    for (Object entity : entities) {
      if (!handles(entity)) {
        continue;
      }
      Shape shape = shapes.get(entity.getClass());
      try {
        Object subject = shape.subject().get(entity);
        for (Field f : shape.fields()) {
          String value = (String) f.get(entity);
          boolean wasShown = !sealed && shown.of(entity, f.getName()) != null;
          if (!wasShown && (value == null || value.startsWith(CIPHERTEXT_PREFIX) != sealed)) {
            continue;
          }
          if (subject == null) {
            throw new IllegalStateException(entity.getClass().getName() + ": the @SubjectId is null");
          }
          slots.add(new Slot(entity, f, subject.toString(), value));
        }
      } catch (IllegalAccessException e) {
        throw new IllegalStateException(e);
      }
    }
    return slots;
  }

  /**
   * Seals the plaintext of every encrypted field, in one call; returns what puts the plaintext
   * back (after the statement, so that the caller's objects are as they were). Nothing is
   * changed when Baomi refuses any value.
   */
  public Runnable seal(Collection<?> entities) {
    List<Slot> all = slots(entities, false);
    if (all.isEmpty()) {
      return () -> {};
    }
    // A value as it was shown (masked, plain, or null outside the purpose) is its ciphertext
    // again; anything else is new data to seal.
    List<Slot> fresh = new ArrayList<>();
    List<String> ciphertexts = new ArrayList<>();
    for (Slot s : all) {
      Shown.Field before = shown.of(s.entity(), s.key());
      boolean sealedAlready = s.value() != null && s.value().startsWith(CIPHERTEXT_PREFIX);
      boolean unchanged = sealedAlready || before != null && Objects.equals(before.shown(), s.value());
      ciphertexts.add(sealedAlready ? s.value() : unchanged ? before.ciphertext() : null);
      if (!unchanged && s.value() != null) {
        fresh.add(s);
      }
    }
    if (!fresh.isEmpty()) {
      List<EncryptRequestItem> items = new ArrayList<>();
      for (Slot s : fresh) {
        items.add(EncryptRequestItem.of(s.name(), s.subject(), s.value()));
      }
      CiphertextResults answer = client.encrypt(EncryptRequest.of(items));
      List<CiphertextResult> results = answer.items();
      for (int i = 0; i < fresh.size(); i++) {
        refuse(results.get(i).error(), fresh.get(i));
      }
      for (int i = 0, j = 0; i < all.size(); i++) {
        if (ciphertexts.get(i) == null && all.get(i).value() != null) {
          ciphertexts.set(i, results.get(j++).ciphertext());
        }
      }
    }
    for (int i = 0; i < all.size(); i++) {
      Slot s = all.get(i);
      s.set(ciphertexts.get(i));
      if (ciphertexts.get(i) != null) {
        shown.remember(s.entity(), s.key(), s.value(), ciphertexts.get(i));
      }
    }
    return () -> all.forEach(s -> s.set(s.value()));
  }

  /**
   * Opens every sealed field, in one call, under the purpose and view in force
   * ({@link BaomiScope}, else the configured ones). A field outside the purpose's PI
   * categories is set to null; any other refusal (a withdrawn consent) throws
   * {@link BaomiFieldException}, and no field is opened.
   */
  public void open(Collection<?> entities) {
    List<Slot> slots = slots(entities, true);
    if (slots.isEmpty()) {
      return;
    }
    String[] scope = BaomiScope.current();
    String purpose = scope != null && scope[0] != null ? scope[0] : settings.getPurpose();
    String view = scope != null && scope[1] != null ? scope[1] : settings.getView();
    if (purpose == null) {
      throw new IllegalStateException("baomi.persistence.purpose is not set: reads need a purpose");
    }
    List<CiphertextRequestItem> items = new ArrayList<>();
    for (Slot s : slots) {
      items.add(CiphertextRequestItem.of(s.value(), s.name(), s.subject()));
    }
    ValueResults answer = client.decrypt(DecryptRequest.of(items, purpose).withView(view));
    List<ValueResult> results = answer.items();
    for (int i = 0; i < slots.size(); i++) {
      ItemProblem problem = results.get(i).error();
      if (problem == null || !problem.code().equals(ErrorCodes.AUTH_FIELD_NOT_GRANTED)) {
        refuse(problem, slots.get(i));
      }
    }
    for (int i = 0; i < slots.size(); i++) {
      // A field outside the purpose's PI categories is not the reader's: null, not its ciphertext.
      Slot s = slots.get(i);
      String value = results.get(i).error() == null ? results.get(i).value() : null;
      s.set(value);
      shown.remember(s.entity(), s.key(), value, s.value());
    }
  }

  private static void refuse(ItemProblem problem, Slot slot) {
    if (problem != null) {
      throw new BaomiFieldException(problem.code(), slot.name(), problem.detail());
    }
  }
}
