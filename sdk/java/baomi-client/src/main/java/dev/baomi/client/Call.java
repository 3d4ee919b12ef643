package dev.baomi.client;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** One call of the API, as a generated method of {@link BaomiOperations} describes it. */
public final class Call {
  final String method;
  final String path;
  final Map<String, Object> query;
  final Object body;
  final boolean idempotent;
  final String batchRequest;
  final String batchResponse;
  final CallOption[] options;

  Call(
      String method,
      String path,
      Map<String, Object> query,
      Object body,
      boolean idempotent,
      String batchRequest,
      String batchResponse,
      CallOption[] options) {
    this.method = method;
    this.path = path;
    this.query = query;
    this.body = body;
    this.idempotent = idempotent;
    this.batchRequest = batchRequest;
    this.batchResponse = batchResponse;
    this.options = options;
  }

  /** A path parameter or a query name or value, escaped (a space is {@code %20}, a slash {@code %2F}). */
  static String escape(Object value) {
    return URLEncoder.encode(String.valueOf(value), StandardCharsets.UTF_8).replace("+", "%20");
  }
}
