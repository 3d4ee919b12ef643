package dev.baomi.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.baomi.client.testing.LocalServer;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Test;

/**
 * Mutual TLS against the release binary serving HTTPS with the test certificates of
 * sdk/conformance/tls and requiring client certificates signed by their CA: the client presents
 * its certificate, and checks the server's against the CA it is given.
 */
class MutualTlsTest {
  private static final Path TLS = Path.of("..", "..", "conformance", "tls").toAbsolutePath().normalize();
  private static final char[] PASSWORD = "changeit".toCharArray();

  @Test
  void aClientCertificateIsPresentedAndTheServerChecked() throws Exception {
    String binary = System.getenv("SDK_SERVER_BIN");
    assertNotNull(binary, "set SDK_SERVER_BIN to the release binary");
    SSLContext trusting = Tls.trusting(TLS.resolve("ca.p12"), PASSWORD);
    Map<String, String> settings =
        Map.of(
            "BAOMI_TLS__CERT_FILE", TLS.resolve("server.pem").toString(),
            "BAOMI_TLS__KEY_FILE", TLS.resolve("server.key").toString(),
            "BAOMI_TLS__CLIENT_CA_FILE", TLS.resolve("ca.pem").toString());
    try (LocalServer server = LocalServer.start(Path.of(binary), null, settings, trusting)) {
      BaomiClient presenting =
          BaomiClient.builder(server.base())
              .apiKey(server.adminKey())
              .sslContext(Tls.clientCertificate(TLS.resolve("client.p12"), PASSWORD, TLS.resolve("ca.p12"), PASSWORD))
              .build();
      assertNotNull(presenting.listPurposes().purposes());

      BaomiClient withoutIt =
          BaomiClient.builder(server.base())
              .apiKey(server.adminKey())
              .sslContext(trusting)
              .retries(0, Duration.ZERO, Duration.ZERO)
              .build();
      BaomiException refused = assertThrows(BaomiException.class, withoutIt::listPurposes);
      assertEquals(ErrorCodes.AUTH_CLIENT_CERTIFICATE_REQUIRED, refused.code());

      // The server's certificate is checked: without the test CA, no connection.
      BaomiClient stranger =
          BaomiClient.builder(server.base()).apiKey(server.adminKey()).retries(0, Duration.ZERO, Duration.ZERO).build();
      assertThrows(UncheckedIOException.class, stranger::listPurposes);
    }
  }
}
