package dev.baomi.spring;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A {@code String} field of an entity that Baomi keeps: sealed before it is written (the
 * column holds the ciphertext), and opened after it is read, in the view of the configured
 * purpose. The entity names its subject with {@link SubjectId}.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.FIELD)
public @interface Encrypted {
  /**
   * What the value is, as Baomi's fields are named: {@code id_number}, {@code mobile},
   * {@code bank_card}, {@code name}, … optionally with a label ({@code mobile.emergency}).
   */
  String value();
}
