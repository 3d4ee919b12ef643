package dev.baomi.client;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * One chunk of a batch larger than the server's limit failed: {@link #partial()} holds the
 * answers of the chunks before it (the items before {@link #sent()}); the rest were not sent.
 * The cause is the chunk's {@link BaomiException}.
 */
public final class BatchException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int sent;
  private final transient JsonNode partial;

  BatchException(int sent, JsonNode partial, BaomiException cause) {
    super("the batch failed after " + sent + " items: " + cause.getMessage(), cause);
    this.sent = sent;
    this.partial = partial;
  }

  /** How many items were answered before the failed chunk. */
  public int sent() {
    return sent;
  }

  /** The answers of the chunks before it, as the API's JSON (null if none). */
  public JsonNode partial() {
    return partial;
  }

  /** The chunk's error. */
  public BaomiException error() {
    return (BaomiException) getCause();
  }
}
