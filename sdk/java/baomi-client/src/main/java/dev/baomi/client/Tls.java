package dev.baomi.client;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/** TLS contexts for {@link BaomiClient.Builder#sslContext}, from PKCS#12 files. */
public final class Tls {
  private Tls() {}

  /**
   * A context presenting the client certificate and key of {@code keyStore} (mutual TLS), and
   * trusting the CA certificates of {@code trustStore}, or the JDK's when it is null.
   */
  public static SSLContext clientCertificate(
      Path keyStore, char[] keyPassword, Path trustStore, char[] trustPassword)
      throws IOException, GeneralSecurityException {
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(load(keyStore, keyPassword), keyPassword);
    return context(kmf.getKeyManagers(), trustStore, trustPassword);
  }

  /** A context presenting no certificate and trusting the CA certificates of {@code trustStore}. */
  public static SSLContext trusting(Path trustStore, char[] password) throws IOException, GeneralSecurityException {
    return context(null, trustStore, password);
  }

  private static SSLContext context(KeyManager[] keys, Path trustStore, char[] password)
      throws IOException, GeneralSecurityException {
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trustStore == null ? null : load(trustStore, password));
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(keys, tmf.getTrustManagers(), null);
    return context;
  }

  private static KeyStore load(Path file, char[] password) throws IOException, GeneralSecurityException {
    KeyStore store = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(file)) {
      store.load(in, password);
    }
    return store;
  }
}
