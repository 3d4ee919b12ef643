package dev.baomi.client.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;

/**
 * A Baomi server for integration tests: the release binary ({@code SDK_SERVER_BIN}, or the
 * path given) started with {@code serve --dev} on a free port, with a fresh data directory
 * (SQLite) or the database URL given, and the bootstrap admin key it printed. None of the
 * caller's {@code BAOMI_} settings reach it. Never for real data: {@code --dev} keeps the
 * unseal passphrase beside the database.
 */
public final class LocalServer implements AutoCloseable {
  private static final Pattern ADMIN_KEY = Pattern.compile("bm_[A-Za-z0-9_-]+");

  private final Process process;
  private final Path data;
  private final String base;
  private final String adminKey;

  private LocalServer(Process process, Path data, String base, String adminKey) {
    this.process = process;
    this.data = data;
    this.base = base;
    this.adminKey = adminKey;
  }

  /** Starts the binary {@code SDK_SERVER_BIN} names, on SQLite or {@code databaseUrl}. */
  public static LocalServer start(String databaseUrl) {
    String binary = System.getenv("SDK_SERVER_BIN");
    if (binary == null || binary.isEmpty()) {
      throw new IllegalStateException(
          "set SDK_SERVER_BIN to the release binary (cargo build --release; target/release/baomi)");
    }
    return start(Path.of(binary), databaseUrl);
  }

  /** Starts {@code binary} on SQLite, or on {@code databaseUrl} (a fresh database). */
  public static LocalServer start(Path binary, String databaseUrl) {
    return start(binary, databaseUrl, Map.of(), null);
  }

  /**
   * Starts {@code binary} with more settings ({@code BAOMI_TLS__CERT_FILE}, …); it serves
   * HTTPS when {@code trusting} is given, the context readiness is asked through.
   */
  public static LocalServer start(Path binary, String databaseUrl, Map<String, String> settings, SSLContext trusting) {
    try {
      int port;
      try (ServerSocket socket = new ServerSocket()) {
        socket.bind(new InetSocketAddress("127.0.0.1", 0));
        port = socket.getLocalPort();
      }
      Path data = Files.createTempDirectory("baomi-test-");
      Path log = data.resolve("server.log");
      ProcessBuilder builder =
          new ProcessBuilder(
              binary.toString(), "serve", "--dev", "--listen", "127.0.0.1:" + port, "--data-dir", data.toString());
      if (databaseUrl != null) {
        builder.command().add("--database-url");
        builder.command().add(databaseUrl);
      }
      builder.environment().keySet().removeIf(k -> k.startsWith("BAOMI_"));
      builder.environment().putAll(settings);
      builder.redirectErrorStream(true).redirectOutput(log.toFile());
      Process process = builder.start();
      String base = (trusting == null ? "http" : "https") + "://127.0.0.1:" + port;
      HttpClient http =
          trusting == null ? HttpClient.newHttpClient() : HttpClient.newBuilder().sslContext(trusting).build();
      Instant deadline = Instant.now().plus(Duration.ofSeconds(60));
      while (true) {
        try {
          HttpResponse<Void> ready =
              http.send(HttpRequest.newBuilder(URI.create(base + "/readyz")).build(), HttpResponse.BodyHandlers.discarding());
          if (ready.statusCode() == 200) {
            break;
          }
        } catch (IOException e) {
          // Not listening yet.
        }
        if (Instant.now().isAfter(deadline) || !process.isAlive()) {
          process.destroyForcibly();
          throw new IllegalStateException("the server did not become ready:\n" + Files.readString(log));
        }
        Thread.sleep(100);
      }
      Matcher admin = ADMIN_KEY.matcher(Files.readString(log));
      if (!admin.find()) {
        process.destroyForcibly();
        throw new IllegalStateException("no bootstrap admin key in the server's output");
      }
      return new LocalServer(process, data, base, admin.group());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** The server's base URL. */
  public String base() {
    return base;
  }

  /** The bootstrap admin key. */
  public String adminKey() {
    return adminKey;
  }

  @Override
  public void close() {
    process.destroyForcibly();
    try {
      process.waitFor();
      try (Stream<Path> files = Files.walk(data)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
