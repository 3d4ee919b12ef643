package dev.baomi.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.Optional;

/**
 * A problem the server answered ({@code application/problem+json}), with its stable code:
 * compare {@link #code()} with the constants of {@link ErrorCodes}.
 */
public class BaomiException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int status;
  private final String code;
  private final String detail;
  private final String requestId;
  private final transient Duration retryAfter;
  private final transient JsonNode problem;

  BaomiException(
      int status, String code, String detail, String requestId, Duration retryAfter, JsonNode problem) {
    super(status + " " + code + ": " + detail + " (request " + requestId + ")");
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
    this.problem = problem;
  }

  /** The HTTP status. */
  public int status() {
    return status;
  }

  /** The stable code ({@code auth.view_not_granted}); {@code http.<status>} for an answer that is no problem document. */
  public String code() {
    return code;
  }

  /** What went wrong in this request; never personal information. */
  public String detail() {
    return detail;
  }

  /** The request's id in the server's log and the audit trail. */
  public String requestId() {
    return requestId;
  }

  /** How long the server asked to wait (429, 503). */
  public Optional<Duration> retryAfter() {
    return Optional.ofNullable(retryAfter);
  }

  /** The whole problem, with members such as a quota's {@code limit} and {@code scope}. */
  public JsonNode problem() {
    return problem;
  }
}
