package dev.baomi.client;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.baomi.client.model.GetInclusionProofParams;
import dev.baomi.client.model.InclusionProof;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Collectors;
import javax.net.ssl.SSLContext;

/**
 * Calls one Baomi server with one credential: one method per call of the v1 API (generated
 * from the server's OpenAPI document, in {@link BaomiOperations}).
 *
 * <p>Idempotent calls are sent again after a 503, a 429 or a failed connection, waiting a
 * backoff doubled each time or what {@code Retry-After} says, up to the longest wait (a quota
 * spent for the hour is thrown at once). Batches larger than the server's limit are sent in
 * chunks, in order. Problems are thrown as {@link BaomiException}s with their stable code.
 * Thread-safe; {@link #withApiKey} and friends derive a client sharing the connections.
 */
public final class BaomiClient extends BaomiOperations {
  /** This SDK's version, sent in the User-Agent. */
  public static final String VERSION = "0.1.0";

  /** The batch size used when the server does not say its own ({@code max_batch_items}). */
  public static final int DEFAULT_BATCH_LIMIT = 1000;

  private static final Duration PROOF_WAIT = Duration.ofSeconds(10);

  private final String base;
  private final HttpClient http;
  private final ObjectMapper mapper;
  private final String credential;
  private final String operator;
  private final Duration timeout;
  private final int retries;
  private final Duration backoff;
  private final Duration maxRetryWait;
  private final int[] batchLimit;

  private BaomiClient(Builder b, HttpClient http, ObjectMapper mapper, int[] batchLimit) {
    this.base = b.baseUrl.replaceAll("/+$", "");
    this.http = http;
    this.mapper = mapper;
    this.credential = b.credential;
    this.operator = b.operator;
    this.timeout = b.timeout;
    this.retries = b.retries;
    this.backoff = b.backoff;
    this.maxRetryWait = b.maxRetryWait;
    this.batchLimit = batchLimit;
  }

  /** The JSON mapping the client uses: unknown members ignored, absent ones left null. */
  public static ObjectMapper mapper() {
    return new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
  }

  /** A builder of a client of the server at {@code baseUrl} ({@code https://baomi.internal:8443}). */
  public static Builder builder(String baseUrl) {
    return new Builder(baseUrl);
  }

  /** A client like this one authenticating with an API key, sharing the connections. */
  public BaomiClient withApiKey(String apiKey) {
    return derive(apiKey, operator);
  }

  /** A client like this one authenticating with a subject token, sharing the connections. */
  public BaomiClient withSubjectToken(String token) {
    return derive(token, operator);
  }

  /** A client like this one acting for another operator, sharing the connections. */
  public BaomiClient withOperator(String operator) {
    return derive(credential, operator);
  }

  private BaomiClient derive(String credential, String operator) {
    Builder b = new Builder(base);
    b.credential = credential;
    b.operator = operator;
    b.timeout = timeout;
    b.retries = retries;
    b.backoff = backoff;
    b.maxRetryWait = maxRetryWait;
    return new BaomiClient(b, http, mapper, batchLimit);
  }

  /** Builds a {@link BaomiClient}. */
  public static final class Builder {
    private final String baseUrl;
    private String credential;
    private String operator;
    private Duration timeout = Duration.ofSeconds(30);
    private int retries = 3;
    private Duration backoff = Duration.ofMillis(200);
    private Duration maxRetryWait = Duration.ofSeconds(30);
    private Integer fixedBatchLimit;
    private SSLContext sslContext;

    private Builder(String baseUrl) {
      this.baseUrl = Objects.requireNonNull(baseUrl, "baseUrl");
    }

    /** Authenticates as an API key ({@code bm_<id>_<secret>}). */
    public Builder apiKey(String apiKey) {
      this.credential = apiKey;
      return this;
    }

    /** Authenticates as a subject token ({@code bmst_…}), for an end user's own calls. */
    public Builder subjectToken(String token) {
      this.credential = token;
      return this;
    }

    /** The staff member every call acts for ({@code X-Baomi-Operator}). */
    public Builder operator(String operator) {
      this.operator = operator;
      return this;
    }

    /** Bounds each attempt of a call (30 s by default). */
    public Builder timeout(Duration timeout) {
      this.timeout = timeout;
      return this;
    }

    /**
     * Retries of idempotent calls (3 by default; 0 never), the first wait (200 ms, doubled each
     * time, with jitter), and the longest {@code Retry-After} honoured (30 s).
     */
    public Builder retries(int times, Duration backoff, Duration maxRetryWait) {
      if (times < 0 || backoff.isNegative() || maxRetryWait.isNegative()) {
        throw new IllegalArgumentException("negative retry settings");
      }
      this.retries = times;
      this.backoff = backoff;
      this.maxRetryWait = maxRetryWait;
      return this;
    }

    /** The largest batch sent in one request, instead of asking the server. */
    public Builder batchLimit(int items) {
      if (items < 1) {
        throw new IllegalArgumentException("a batch limit must be positive");
      }
      this.fixedBatchLimit = items;
      return this;
    }

    /**
     * The TLS context: a private CA in its trust managers, and the client certificate a key
     * bound to one must present (mutual TLS) in its key managers ({@link Tls#clientCertificate}).
     */
    public Builder sslContext(SSLContext context) {
      this.sslContext = context;
      return this;
    }

    /** The client. */
    public BaomiClient build() {
      HttpClient.Builder http = HttpClient.newBuilder().connectTimeout(timeout);
      if (sslContext != null) {
        http.sslContext(sslContext);
      }
      int[] limit = {fixedBatchLimit == null ? 0 : fixedBatchLimit};
      return new BaomiClient(this, http.build(), mapper(), limit);
    }
  }

  @Override
  protected <T> T send(Call call, Class<T> type) {
    if (call.batchRequest == null) {
      return decode(attempts(call, encode(call.body)), type);
    }
    ObjectNode body = mapper.valueToTree(call.body);
    ArrayNode items = (ArrayNode) body.get(call.batchRequest);
    int limit = batchLimit();
    if (items == null || items.size() <= limit) {
      return decode(attempts(call, encode(body)), type);
    }
    ObjectNode merged = null;
    for (int start = 0; start < items.size(); start += limit) {
      ObjectNode chunk = body.deepCopy();
      ArrayNode part = chunk.putArray(call.batchRequest);
      for (int i = start; i < Math.min(start + limit, items.size()); i++) {
        part.add(items.get(i));
      }
      ObjectNode answer;
      try {
        answer = (ObjectNode) readTree(attempts(call, encode(chunk)));
      } catch (BaomiException e) {
        throw new BatchException(start, merged, e);
      }
      if (merged == null) {
        merged = answer;
      } else {
        ((ArrayNode) merged.get(call.batchResponse)).addAll((ArrayNode) answer.get(call.batchResponse));
      }
    }
    try {
      return mapper.treeToValue(merged, type);
    } catch (IOException e) {
      throw new UncheckedIOException("decoding the answer", e);
    }
  }

  private byte[] encode(Object body) {
    if (body == null) {
      return null;
    }
    try {
      return mapper.writeValueAsBytes(body);
    } catch (IOException e) {
      throw new UncheckedIOException("encoding the request", e);
    }
  }

  private JsonNode readTree(byte[] bytes) {
    try {
      return mapper.readTree(bytes);
    } catch (IOException e) {
      throw new UncheckedIOException("decoding the answer", e);
    }
  }

  @SuppressWarnings("unchecked")
  private <T> T decode(byte[] bytes, Class<T> type) {
    if (type == Void.class) {
      return null;
    }
    if (type == byte[].class) {
      return (T) bytes;
    }
    if (type == JsonNode.class) {
      return (T) readTree(bytes);
    }
    try {
      return mapper.readValue(bytes, type);
    } catch (IOException e) {
      throw new UncheckedIOException("decoding the answer", e);
    }
  }

  /** Sends a call, again while it is idempotent and the server asks to; the 2xx body. */
  private byte[] attempts(Call call, byte[] body) {
    HttpRequest request = request(call, body);
    for (int attempt = 0; ; attempt++) {
      Duration wait;
      try {
        HttpResponse<byte[]> response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() / 100 == 2) {
          return response.body();
        }
        BaomiException problem = Problems.of(mapper, response);
        wait = call.idempotent ? retryWait(attempt, problem) : null;
        if (wait == null) {
          throw problem;
        }
      } catch (IOException e) {
        wait = call.idempotent ? retryWait(attempt, null) : null;
        if (wait == null) {
          throw new UncheckedIOException(call.method + " " + call.path, e);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", e);
      }
      try {
        Thread.sleep(wait.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", e);
      }
    }
  }

  /** How long to wait before retry number attempt+1, or null not to retry. */
  private Duration retryWait(int attempt, BaomiException problem) {
    if (attempt >= retries) {
      return null;
    }
    if (problem != null && problem.status() != 429 && problem.status() != 503) {
      return null;
    }
    if (problem != null && problem.retryAfter().isPresent()) {
      Duration asked = problem.retryAfter().get();
      return asked.compareTo(maxRetryWait) <= 0 ? asked : null;
    }
    long pause = backoff.toMillis() << Math.min(attempt, 10);
    return Duration.ofMillis(pause + ThreadLocalRandom.current().nextLong(pause / 2 + 1));
  }

  private HttpRequest request(Call call, byte[] body) {
    String target = base + call.path;
    if (!call.query.isEmpty()) {
      target +=
          "?"
              + call.query.entrySet().stream()
                  .map(e -> Call.escape(e.getKey()) + "=" + Call.escape(e.getValue()))
                  .collect(Collectors.joining("&"));
    }
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(target))
            .timeout(timeout)
            .header("Accept", "application/json, application/problem+json")
            .header("User-Agent", "baomi-java/" + VERSION);
    if (credential != null) {
      b.header("Authorization", "Bearer " + credential);
    }
    String callOperator = null;
    for (CallOption option : call.options) {
      if (option.header.equals("X-Baomi-Operator")) {
        callOperator = option.value;
      } else {
        b.header(option.header, option.value);
      }
    }
    String actingFor = callOperator != null ? callOperator : operator;
    if (actingFor != null) {
      b.header("X-Baomi-Operator", actingFor);
    }
    if (body != null) {
      b.header("Content-Type", "application/json").method(call.method, HttpRequest.BodyPublishers.ofByteArray(body));
    } else {
      b.method(call.method, HttpRequest.BodyPublishers.noBody());
    }
    return b.build();
  }

  /** The server's {@code max_batch_items}, read once from its OpenAPI document. */
  private int batchLimit() {
    synchronized (batchLimit) {
      if (batchLimit[0] == 0) {
        batchLimit[0] = DEFAULT_BATCH_LIMIT;
        try {
          Call call = new Call("GET", "/openapi.json", Map.of(), null, true, null, null, new CallOption[0]);
          JsonNode max =
              readTree(attempts(call, null))
                  .at("/components/schemas/EncryptRequest/properties/items/maxItems");
          if (max.canConvertToInt() && max.asInt() > 0) {
            batchLimit[0] = max.asInt();
          }
        } catch (RuntimeException e) {
          // The default stands.
        }
      }
      return batchLimit[0];
    }
  }

  /**
   * Proves, without trusting the server, that audit event {@code seq} is in the log: verifies
   * the newest checkpoint with {@code key}, asks for the inclusion proof against it and checks
   * the proof. An event not yet under a signed checkpoint is waited for, up to ten seconds.
   */
  public Inclusion proveInclusion(long seq, VerifierKey key, CallOption... options) {
    Instant deadline = Instant.now().plus(PROOF_WAIT);
    while (true) {
      try {
        Checkpoint checkpoint = key.verifyCheckpoint(getCheckpoint(options).note());
        InclusionProof proof =
            getInclusionProof(GetInclusionProofParams.of(seq).withSize(checkpoint.size()), options);
        if (proof.seq() != seq) {
          throw new NotVerifiedException("the proof is for event " + proof.seq() + ", not " + seq);
        }
        Verification.verifyInclusion(proof, checkpoint);
        return new Inclusion(checkpoint, proof);
      } catch (BaomiException e) {
        boolean notYet =
            e.code().equals(ErrorCodes.AUDIT_NO_CHECKPOINT) || e.code().equals(ErrorCodes.AUDIT_NOT_IN_TREE);
        if (!notYet || Instant.now().isAfter(deadline)) {
          throw e;
        }
        try {
          Thread.sleep(250);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted", interrupted);
        }
      }
    }
  }
}
