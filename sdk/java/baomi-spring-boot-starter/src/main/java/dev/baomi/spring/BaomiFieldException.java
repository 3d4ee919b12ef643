package dev.baomi.spring;

/**
 * Baomi refused one encrypted field of an entity: its value is not of its type
 * ({@code vault.invalid_value}) when written, or its read is not allowed
 * ({@code consent.withdrawn}, {@code auth.field_not_granted}, …). The message names the field
 * and the code, never the value.
 */
public final class BaomiFieldException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String code;
  private final String field;

  BaomiFieldException(String code, String field, String detail) {
    super(field + ": " + code + " (" + detail + ")");
    this.code = code;
    this.field = field;
  }

  /** The stable code ({@code consent.withdrawn}); compare with {@code ErrorCodes}. */
  public String code() {
    return code;
  }

  /** Baomi's name of the field. */
  public String field() {
    return field;
  }
}
