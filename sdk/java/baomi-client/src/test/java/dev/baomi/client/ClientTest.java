package dev.baomi.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.baomi.client.model.CiphertextResults;
import dev.baomi.client.model.EncryptRequest;
import dev.baomi.client.model.EncryptRequestItem;
import dev.baomi.client.model.EventView;
import dev.baomi.client.model.GetDataParams;
import dev.baomi.client.model.ListEventsParams;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The transport against scripted answers: retries, Retry-After, errors, chunks, headers, pages. */
class ClientTest {
  private static final ObjectMapper MAPPER = BaomiClient.mapper();

  /** One scripted answer: status, headers and body of the answer to a request. */
  interface Answer {
    void answer(HttpExchange exchange, byte[] body) throws IOException;
  }

  private HttpServer server;
  private final List<Answer> answers = new CopyOnWriteArrayList<>();
  private final List<HttpExchange> requests = new CopyOnWriteArrayList<>();
  private final List<byte[]> bodies = new CopyOnWriteArrayList<>();

  private BaomiClient client(Answer... script) throws IOException {
    answers.addAll(List.of(script));
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", exchange -> {
      byte[] body = exchange.getRequestBody().readAllBytes();
      if (exchange.getRequestURI().getPath().equals("/openapi.json")) {
        // A server whose batches hold two items.
        reply(exchange, 200, "{\"components\":{\"schemas\":{\"EncryptRequest\":{\"properties\":{\"items\":{\"maxItems\":2}}}}}}");
        return;
      }
      requests.add(exchange);
      bodies.add(body);
      if (answers.isEmpty()) {
        reply(exchange, 418, "");
      } else {
        answers.remove(0).answer(exchange, body);
      }
    });
    // A thread per request: a slow answer does not hold up the next request.
    server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
    server.start();
    return BaomiClient.builder("http://127.0.0.1:" + server.getAddress().getPort())
        .apiKey("bm_k_secret")
        .retries(3, Duration.ofMillis(1), Duration.ofSeconds(2))
        .build();
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop(0);
    }
  }

  static void reply(HttpExchange exchange, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
    if (bytes.length > 0) {
      exchange.getResponseBody().write(bytes);
    }
    exchange.close();
  }

  static Answer problem(int status, String code, Integer retryAfter) {
    return (exchange, body) -> {
      exchange.getResponseHeaders().set("Content-Type", "application/problem+json");
      exchange.getResponseHeaders().set("X-Request-Id", "req-1");
      if (retryAfter != null) {
        exchange.getResponseHeaders().set("Retry-After", retryAfter.toString());
      }
      reply(exchange, status, "{\"type\":\"urn:baomi:problem:" + code + "\",\"title\":\"t\",\"status\":" + status
          + ",\"code\":\"" + code + "\",\"detail\":\"what went wrong\",\"scope\":\"key\"}");
    };
  }

  static Answer ok(String json) {
    return (exchange, body) -> reply(exchange, 200, json);
  }

  static final Answer ECHO_ITEMS = (exchange, body) -> {
    ObjectNode out = MAPPER.createObjectNode();
    for (JsonNode item : MAPPER.readTree(body).get("items")) {
      out.withArray("items").addObject().put("ciphertext", "ct:" + item.get("value").asText());
    }
    reply(exchange, 200, out.toString());
  };

  static EncryptRequest items(String... values) {
    List<EncryptRequestItem> items = new ArrayList<>();
    for (String v : values) {
      items.add(EncryptRequestItem.of("text", "u", v));
    }
    return EncryptRequest.of(items);
  }

  @Test
  void idempotentCallsAreRetriedOn503() throws IOException {
    BaomiClient c = client(problem(503, ErrorCodes.SERVICE_DATABASE_UNAVAILABLE, null), ok("{\"status\":\"ok\",\"version\":\"1\"}"));
    assertEquals("ok", c.healthz().status());
    assertEquals(2, requests.size());
  }

  @Test
  void otherCallsAreNotRetried() throws IOException {
    BaomiClient c = client(problem(503, ErrorCodes.SERVICE_DATABASE_UNAVAILABLE, null), ok("{\"items\":[]}"));
    BaomiException e = assertThrows(BaomiException.class, () -> c.encrypt(items("a")));
    assertEquals(ErrorCodes.SERVICE_DATABASE_UNAVAILABLE, e.code());
    assertEquals(1, requests.size());
  }

  @Test
  void retryAfterIsHonouredUpToTheLongestWait() throws IOException {
    BaomiClient c = client(problem(429, ErrorCodes.QUOTA_RATE_LIMITED, 1), ok("{\"status\":\"ok\"}"),
        problem(429, ErrorCodes.QUOTA_EXCEEDED, 3600));
    long start = System.nanoTime();
    c.healthz();
    assertTrue(System.nanoTime() - start >= 1_000_000_000L);
    assertEquals(2, requests.size());
    // A quota spent for the hour is the caller's to handle, at once.
    start = System.nanoTime();
    BaomiException e = assertThrows(BaomiException.class, c::healthz);
    assertEquals(ErrorCodes.QUOTA_EXCEEDED, e.code());
    assertEquals(Duration.ofHours(1), e.retryAfter().orElseThrow());
    assertEquals(3, requests.size());
    assertTrue(System.nanoTime() - start < 1_000_000_000L);
  }

  @Test
  void retriesStop() throws IOException {
    Answer busy = problem(503, ErrorCodes.SERVICE_NOT_READY, 0);
    BaomiClient c = client(busy, busy, busy, busy, ok("{}"));
    assertThrows(BaomiException.class, c::healthz);
    assertEquals(4, requests.size());
  }

  @Test
  void problemsAreTypedByTheirCode() throws IOException {
    BaomiClient c = client(problem(403, ErrorCodes.AUTH_VIEW_NOT_GRANTED, null), (exchange, body) -> reply(exchange, 431, ""));
    BaomiException e = assertThrows(BaomiException.class, c::listPurposes);
    assertEquals(403, e.status());
    assertEquals("auth.view_not_granted", e.code());
    assertEquals("what went wrong", e.detail());
    assertEquals("req-1", e.requestId());
    assertEquals("key", e.problem().get("scope").asText());
    assertEquals("http.431", assertThrows(BaomiException.class, c::listPurposes).code());
  }

  @Test
  void batchesAreChunkedToTheServersLimitInOrder() throws IOException {
    BaomiClient c = client(ECHO_ITEMS, ECHO_ITEMS, ECHO_ITEMS);
    CiphertextResults got = c.encrypt(items("a", "b", "c", "d", "e").withKeyring("k"));
    assertEquals(3, requests.size());
    for (int i = 0; i < 5; i++) {
      assertEquals("ct:" + "abcde".charAt(i), got.items().get(i).ciphertext());
    }
    JsonNode last = MAPPER.readTree(bodies.get(2));
    assertEquals(1, last.get("items").size());
    assertEquals("k", last.get("keyring").asText());
  }

  @Test
  void aFailedChunkKeepsTheResultsBeforeIt() throws IOException {
    BaomiClient c = client(ECHO_ITEMS, problem(413, ErrorCodes.REQUEST_TOO_LARGE, null));
    BatchException e = assertThrows(BatchException.class, () -> c.encrypt(items("a", "b", "c")));
    assertEquals(2, e.sent());
    assertEquals(2, e.partial().get("items").size());
    assertEquals(ErrorCodes.REQUEST_TOO_LARGE, e.error().code());
  }

  @Test
  void headers() throws IOException {
    BaomiClient c = client(ok("{\"purposes\":[]}"), ok("{\"purposes\":[]}")).withOperator("agent-1");
    c.listPurposes(CallOption.requestId("corr-7"), CallOption.operatorRole("fraud"));
    c.listPurposes(CallOption.operator("agent-2"));
    var first = requests.get(0).getRequestHeaders();
    var second = requests.get(1).getRequestHeaders();
    assertEquals("Bearer bm_k_secret", first.getFirst("Authorization"));
    assertEquals("agent-1", first.getFirst("X-Baomi-Operator"));
    assertEquals("corr-7", first.getFirst("X-Request-Id"));
    assertEquals("fraud", first.getFirst("X-Baomi-Operator-Role"));
    assertEquals("agent-2", second.getFirst("X-Baomi-Operator"));
    assertNull(second.getFirst("X-Request-Id"));
  }

  @Test
  void pathAndQueryAreEscaped() throws IOException {
    BaomiClient c = client(ok("{}"));
    c.getData("u/1 ?", GetDataParams.of("loan").withView("plain"));
    var uri = requests.get(0).getRequestURI();
    assertEquals("/v1/subjects/u%2F1%20%3F/data", uri.getRawPath());
    assertEquals("purpose=loan&view=plain", uri.getRawQuery());
  }

  @Test
  void pagesAreWalkedByCursor() throws IOException {
    BaomiClient c = client(ok("{\"events\":[{\"seq\":9},{\"seq\":8}],\"next_cursor\":8}"),
        ok("{\"events\":[{\"seq\":7}],\"next_cursor\":7}"), ok("{\"events\":[]}"));
    List<Long> seen = new ArrayList<>();
    for (EventView e : c.allEvents(ListEventsParams.of().withLimit(2L))) {
      seen.add(e.seq());
    }
    assertEquals(List.of(9L, 8L, 7L), seen);
    assertEquals("cursor=8&limit=2", sorted(requests.get(1).getRequestURI().getRawQuery()));
  }

  @Test
  void stoppingEarlyAsksForNoFurtherPage() throws IOException {
    BaomiClient c = client(ok("{\"events\":[{\"seq\":9}],\"next_cursor\":9}"), ok("{\"events\":[]}"));
    Iterator<EventView> events = c.allEvents(ListEventsParams.of()).iterator();
    assertTrue(events.hasNext());
    events.next();
    assertEquals(1, requests.size());
  }

  @Test
  void timeoutsEndAnAttemptAndOnlyIdempotentCallsTryAgain() throws IOException {
    Answer slow = (exchange, body) -> {
      try {
        Thread.sleep(400);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      reply(exchange, 200, "{\"status\":\"late\"}");
    };
    client(slow, ok("{\"status\":\"ok\"}"), slow);
    BaomiClient quick = BaomiClient.builder("http://127.0.0.1:" + server.getAddress().getPort())
        .timeout(Duration.ofMillis(100)).retries(3, Duration.ofMillis(1), Duration.ofSeconds(1)).build();
    assertEquals("ok", quick.healthz().status());
    assertEquals(2, requests.size());
    assertThrows(java.io.UncheckedIOException.class, () -> quick.encrypt(items("a")));
    assertEquals(3, requests.size());
  }

  static String sorted(String query) {
    List<String> parts = new ArrayList<>(List.of(query.split("&")));
    parts.sort(null);
    return String.join("&", parts);
  }
}
