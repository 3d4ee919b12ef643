package dev.baomi.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.time.Duration;

/** Reads a non-2xx answer into a {@link BaomiException}. */
final class Problems {
  private Problems() {}

  static BaomiException of(ObjectMapper mapper, HttpResponse<byte[]> response) {
    JsonNode problem;
    try {
      problem = mapper.readTree(response.body());
    } catch (IOException e) {
      problem = null;
    }
    if (problem == null || !problem.isObject()) {
      problem = MissingNode.getInstance();
    }
    int status = response.statusCode();
    // Not a problem document: a proxy's answer, or the HTTP library's refusal before Baomi.
    String code = problem.path("code").isTextual() ? problem.get("code").asText() : "http." + status;
    String requestId =
        problem.path("request_id").isTextual()
            ? problem.get("request_id").asText()
            : response.headers().firstValue("X-Request-Id").orElse(null);
    Duration retryAfter =
        response.headers().firstValue("Retry-After")
            .filter(v -> v.trim().matches("\\d+"))
            .map(v -> Duration.ofSeconds(Long.parseLong(v.trim())))
            .orElse(null);
    return new BaomiException(
        status, code, problem.path("detail").asText(""), requestId, retryAfter, problem);
  }
}
