package dev.baomi.client;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/** TLS contexts for {@link BaomiClient.Builder#sslContext}. */
public final class Tls {
  private Tls() {}

  /**
   * A context presenting the client certificate and key in a PKCS#12 file (mutual TLS),
   * trusting the CA certificates of {@code trustStore} (PKCS#12), or the JDK's when it is null.
   */
  public static SSLContext clientCertificate(Path keyStore, char[] password, Path trustStore)
      throws IOException, GeneralSecurityException {
    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(keyStore)) {
      keys.load(in, password);
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, password);
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    if (trustStore == null) {
      tmf.init((KeyStore) null);
    } else {
      KeyStore roots = KeyStore.getInstance("PKCS12");
      try (InputStream in = Files.newInputStream(trustStore)) {
        roots.load(in, null);
      }
      tmf.init(roots);
    }
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    return context;
  }
}
