package dev.baomi.client;

/** A signature, a proof or a signed document that does not hold. */
public final class NotVerifiedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  NotVerifiedException(String message) {
    super(message);
  }
}
