package dev.baomi.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.baomi.client.model.EventView;
import dev.baomi.client.model.InclusionProof;
import dev.baomi.client.model.ListEventsParams;
import dev.baomi.client.testing.LocalServer;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Parameter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The conformance scenario (sdk/conformance/scenario.json) against a real server: the release
 * binary named by SDK_SERVER_BIN, on a random port, with a fresh SQLite database, and with the
 * fresh PostgreSQL database SDK_DATABASE_URL names (CI sets it, with REQUIRE_POSTGRES=1).
 */
class ConformanceTest {
  private static final ObjectMapper MAPPER = BaomiClient.mapper();
  private static final Pattern VARIABLE = Pattern.compile("\\$\\{(\\w+)\\}");

  @Test
  void theScenarioOnSqlite() throws Exception {
    try (LocalServer server = LocalServer.start(null)) {
      run(server);
    }
  }

  @Test
  void theScenarioOnPostgresql() throws Exception {
    String url = System.getenv("SDK_DATABASE_URL");
    if (url == null || url.isEmpty()) {
      if (System.getenv("REQUIRE_POSTGRES") != null) {
        fail("REQUIRE_POSTGRES is set but SDK_DATABASE_URL is not");
      }
      Assumptions.abort("SDK_DATABASE_URL names no fresh PostgreSQL database");
    }
    try (LocalServer server = LocalServer.start(url)) {
      run(server);
    }
  }

  static JsonNode scenario() throws IOException {
    return MAPPER.readTree(Files.readString(Path.of("..", "..", "conformance", "scenario.json")));
  }

  private void run(LocalServer server) throws Exception {
    JsonNode scenario = scenario();
    JsonNode settings = scenario.get("client");
    BaomiClient root =
        BaomiClient.builder(server.base())
            .batchLimit(settings.get("batch_limit").asInt())
            .retries(
                settings.get("retries").asInt(),
                Duration.ofMillis(100),
                Duration.ofSeconds(settings.get("max_retry_wait_seconds").asInt()))
            .build();
    Map<String, JsonNode> saved = new HashMap<>();
    saved.put("admin", JsonNodeFactory.instance.textNode(server.adminKey()));
    int n = 0;
    for (JsonNode raw : scenario.get("steps")) {
      n++;
      JsonNode step = substitute(raw, saved);
      String label = "step " + n + " (" + step.get("call").asText() + ": " + step.get("name").asText() + ")";
      String as = step.get("as").asText();
      BaomiClient client = as.equals("none") ? root : root.withApiKey(saved.get(as).asText());
      Object result = null;
      RuntimeException error = null;
      try {
        result = call(client, step);
      } catch (BaomiException | NotVerifiedException e) {
        error = e;
      }
      check(label, step, result, error, saved);
    }
  }

  /** `${name}`: a whole string becomes the saved value as it is, a part of one its text. */
  static JsonNode substitute(JsonNode node, Map<String, JsonNode> saved) {
    if (node.isObject()) {
      ObjectNode out = JsonNodeFactory.instance.objectNode();
      node.properties().forEach(e -> out.set(e.getKey(), substitute(e.getValue(), saved)));
      return out;
    }
    if (node.isArray()) {
      ArrayNode out = JsonNodeFactory.instance.arrayNode();
      node.forEach(item -> out.add(substitute(item, saved)));
      return out;
    }
    if (node.isTextual()) {
      Matcher whole = VARIABLE.matcher(node.asText());
      if (whole.matches()) {
        return saved.get(whole.group(1));
      }
      Matcher part = VARIABLE.matcher(node.asText());
      StringBuilder out = new StringBuilder();
      while (part.find()) {
        part.appendReplacement(out, Matcher.quoteReplacement(saved.get(part.group(1)).asText()));
      }
      part.appendTail(out);
      return JsonNodeFactory.instance.textNode(out.toString());
    }
    return node;
  }

  static CallOption[] options(JsonNode step) {
    List<CallOption> options = new ArrayList<>();
    if (step.hasNonNull("operator")) {
      options.add(CallOption.operator(step.get("operator").asText()));
    }
    if (step.hasNonNull("request_id")) {
      options.add(CallOption.requestId(step.get("request_id").asText()));
    }
    return options.toArray(new CallOption[0]);
  }

  /** Runs a step: a generated operation by its name, or one of the client-side helpers. */
  static Object call(BaomiClient client, JsonNode step) throws Exception {
    String name = step.get("call").asText();
    JsonNode args = step.path("args");
    switch (name) {
      case "verify_receipt" -> {
        ObjectNode document = ((ObjectNode) args.get("document")).deepCopy();
        if (args.has("tamper")) {
          document.setAll((ObjectNode) args.get("tamper"));
        }
        return VerifierKey.parse(args.get("verifier_key").asText()).verifyReceipt(document);
      }
      case "prove_inclusion" -> {
        VerifierKey key = VerifierKey.parse(args.get("verifier_key").asText());
        Inclusion inclusion = client.proveInclusion(args.get("seq").asLong(), key);
        if (!args.path("tamper").asBoolean(false)) {
          return inclusion.proof();
        }
        // The event altered, and its leaf hash with it: only the path to the root can tell.
        InclusionProof p = inclusion.proof();
        String event = p.event() + " ";
        InclusionProof forged =
            new InclusionProof(
                event,
                Base64.getEncoder().encodeToString(Verification.leafHash(event)),
                p.leafIndex(),
                p.proof(),
                p.pruned(),
                p.seq(),
                p.treeSize());
        Verification.verifyInclusion(forged, inclusion.checkpoint());
        return forged;
      }
      case "all_events" -> {
        ListEventsParams params = MAPPER.convertValue(step.path("query"), ListEventsParams.class);
        List<EventView> all = new ArrayList<>();
        client.allEvents(params, options(step)).forEach(all::add);
        return all;
      }
      default -> {
        return invoke(client, step);
      }
    }
  }

  /** Calls the generated method of that name (its fullest overload), arguments by name. */
  static Object invoke(BaomiClient client, JsonNode step) throws Exception {
    String name = camel(step.get("call").asText());
    Method method =
        Arrays.stream(BaomiOperations.class.getMethods())
            .filter(m -> m.getName().equals(name))
            .max(Comparator.comparingInt(Method::getParameterCount))
            .orElseThrow(() -> new AssertionError("the SDK has no operation " + name));
    Parameter[] parameters = method.getParameters();
    Object[] values = new Object[parameters.length];
    for (int i = 0; i < parameters.length; i++) {
      Parameter p = parameters[i];
      if (p.getType() == CallOption[].class) {
        values[i] = options(step);
      } else if (p.getName().equals("params")) {
        values[i] = MAPPER.convertValue(step.has("query") ? step.get("query") : MAPPER.createObjectNode(), p.getType());
      } else if (p.getName().equals("body")) {
        values[i] = MAPPER.convertValue(step.get("body"), p.getType());
      } else {
        JsonNode value = step.path("path").get(p.getName());
        assertNotNull(value, "no path parameter " + p.getName());
        values[i] = p.getType() == long.class ? value.asLong() : value.asText();
      }
    }
    try {
      return method.invoke(client, values);
    } catch (InvocationTargetException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw e;
    }
  }

  static String camel(String snake) {
    StringBuilder out = new StringBuilder();
    boolean upper = false;
    for (char c : snake.toCharArray()) {
      if (c == '_') {
        upper = true;
      } else {
        out.append(upper ? Character.toUpperCase(c) : c);
        upper = false;
      }
    }
    return out.toString();
  }

  /** The value at a dotted path (`items.0.value`; empty: the value itself). */
  static JsonNode at(JsonNode tree, String path) {
    if (path.isEmpty()) {
      return tree;
    }
    for (String part : path.split("\\.")) {
      tree = tree.isArray() ? tree.path(Integer.parseInt(part)) : tree.path(part);
    }
    return tree;
  }

  static void check(String label, JsonNode step, Object result, RuntimeException error, Map<String, JsonNode> saved)
      throws IOException {
    JsonNode expect = step.path("expect");
    if (expect.has("error")) {
      JsonNode want = expect.get("error");
      assertNotNull(error, label + ": succeeded, expected " + want.get("code").asText());
      if (error instanceof NotVerifiedException) {
        assertEquals("not_verified", want.get("code").asText(), label + ": " + error);
        return;
      }
      BaomiException e = (BaomiException) error;
      assertEquals(want.get("code").asText(), e.code(), label + ": " + e);
      if (want.has("status")) {
        assertEquals(want.get("status").asInt(), e.status(), label + ": " + e);
      }
      for (JsonNode member : expect.path("members")) {
        assertTrue(e.problem().has(member.asText()), label + ": the problem has no " + member.asText());
      }
      return;
    }
    if (error != null) {
      throw new AssertionError(label + ": " + error, error);
    }
    JsonNode tree = MAPPER.valueToTree(result);
    for (Map.Entry<String, JsonNode> e : expect.path("result").properties()) {
      JsonNode got = at(tree, e.getKey());
      assertEquals(
          MAPPER.writeValueAsString(e.getValue()), MAPPER.writeValueAsString(got), label + ": " + e.getKey());
    }
    for (Map.Entry<String, JsonNode> e : expect.path("count").properties()) {
      assertEquals(e.getValue().asInt(), at(tree, e.getKey()).size(), label + ": " + e.getKey());
    }
    for (Map.Entry<String, JsonNode> e : expect.path("min_count").properties()) {
      assertTrue(at(tree, e.getKey()).size() >= e.getValue().asInt(), label + ": " + e.getKey());
    }
    for (Map.Entry<String, JsonNode> e : step.path("save").properties()) {
      JsonNode value = at(tree, e.getValue().asText());
      assertTrue(!value.isMissingNode(), label + ": nothing at " + e.getValue().asText());
      saved.put(e.getKey(), value);
    }
  }
}
