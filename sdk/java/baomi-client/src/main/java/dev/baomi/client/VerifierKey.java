package dev.baomi.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;

/**
 * The public key the audit log signs checkpoints, receipts and erasure certificates with, in
 * its published form {@code <name>+<key id>+<base64(0x01 ‖ Ed25519 key)>}
 * ({@code listSigningKeys}, {@code getCheckpoint}). Take it once from a copy you trust, not
 * from each answer: whoever can change the answers could change the key too.
 */
public final class VerifierKey {
  /** The format of consent receipts. */
  public static final String RECEIPT_FORMAT = "baomi-consent-receipt/1";

  /** The format of erasure certificates. */
  public static final String ERASURE_CERTIFICATE_FORMAT = "baomi-erasure-certificate/1";

  // The DER of an Ed25519 SubjectPublicKeyInfo before its 32 key bytes (RFC 8410).
  private static final byte[] SPKI_PREFIX = HexFormat.of().parseHex("302a300506032b6570032100");

  private final String name;
  private final byte[] id;
  private final PublicKey key;
  private final String text;

  private VerifierKey(String name, byte[] id, PublicKey key, String text) {
    this.name = name;
    this.id = id;
    this.key = key;
    this.text = text;
  }

  /**
   * Reads a verifier key and checks its key id.
   *
   * @throws IllegalArgumentException when it is malformed, or (SM2) not Ed25519
   */
  public static VerifierKey parse(String text) {
    String[] parts = text.split("\\+", 3);
    if (parts.length != 3 || parts[0].isEmpty()) {
      throw new IllegalArgumentException("a verifier key is <name>+<key id>+<key>");
    }
    byte[] raw;
    try {
      raw = Base64.getDecoder().decode(parts[2]);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("the verifier key's key is not base64", e);
    }
    if (raw.length == 0 || raw[0] != 0x01) {
      throw new IllegalArgumentException("only Ed25519 verifier keys are supported (SM2: baomi audit verify)");
    }
    if (raw.length != 33) {
      throw new IllegalArgumentException("the verifier key's Ed25519 key is not 32 bytes");
    }
    byte[] digest = Verification.sha256(concat((parts[0] + "\n").getBytes(StandardCharsets.UTF_8), raw));
    byte[] id = Arrays.copyOf(digest, 4);
    if (!HexFormat.of().formatHex(id).equals(parts[1])) {
      throw new IllegalArgumentException("the verifier key's id does not match its key");
    }
    try {
      PublicKey key =
          KeyFactory.getInstance("Ed25519")
              .generatePublic(new X509EncodedKeySpec(concat(SPKI_PREFIX, Arrays.copyOfRange(raw, 1, 33))));
      return new VerifierKey(parts[0], id, key, text);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("not an Ed25519 key", e);
    }
  }

  /** The key's name: the log's origin. */
  public String name() {
    return name;
  }

  @Override
  public String toString() {
    return text;
  }

  boolean verifies(byte[] signature, byte[] message) {
    try {
      Signature verifier = Signature.getInstance("Ed25519");
      verifier.initVerify(key);
      verifier.update(message);
      return verifier.verify(signature);
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  /** Checks a checkpoint's signed note (C2SP) with this key and returns what it says. */
  public Checkpoint verifyCheckpoint(String note) {
    int end = note.indexOf("\n\n");
    if (end < 0) {
      throw new NotVerifiedException("the checkpoint has no signature block");
    }
    String body = note.substring(0, end + 1);
    String[] lines = body.substring(0, body.length() - 1).split("\n", -1);
    if (lines.length < 3) {
      throw new NotVerifiedException("the checkpoint has no size or root");
    }
    boolean signed = false;
    for (String line : note.substring(end + 2).split("\n")) {
      if (!line.startsWith("\u2014 ")) {
        continue;
      }
      String[] sig = line.substring(2).split(" ", 2);
      if (sig.length != 2 || !sig[0].equals(name)) {
        continue;
      }
      byte[] blob;
      try {
        blob = Base64.getDecoder().decode(sig[1]);
      } catch (IllegalArgumentException e) {
        continue;
      }
      if (blob.length == 68
          && Arrays.equals(Arrays.copyOf(blob, 4), id)
          && verifies(Arrays.copyOfRange(blob, 4, 68), body.getBytes(StandardCharsets.UTF_8))) {
        signed = true;
        break;
      }
    }
    if (!signed) {
      throw new NotVerifiedException("no signature of " + name + " verifies the checkpoint");
    }
    if (!lines[0].equals(name)) {
      throw new NotVerifiedException("the checkpoint is of log " + lines[0] + ", not " + name);
    }
    if (!lines[1].matches("\\d{1,19}")) {
      throw new NotVerifiedException("the checkpoint's size is not a number");
    }
    byte[] root;
    try {
      root = Base64.getDecoder().decode(lines[2]);
    } catch (IllegalArgumentException e) {
      throw new NotVerifiedException("the checkpoint's root is not base64");
    }
    if (root.length != 32) {
      throw new NotVerifiedException("the checkpoint's root is not a SHA-256 hash");
    }
    return new Checkpoint(lines[0], Long.parseUnsignedLong(lines[1]), root, note);
  }

  /**
   * Checks a signed JSON document of {@code format}: its {@code signature} (or one of its
   * {@code signatures}) signs the format, a line break, and the rest of the document in
   * canonical form. Returns the document without its signatures.
   */
  public ObjectNode verifyDocument(JsonNode document, String format) {
    if (document == null || !document.isObject() || !format.equals(document.path("format").asText(null))) {
      throw new NotVerifiedException("the document is not of format " + format);
    }
    ObjectNode body = ((ObjectNode) document).deepCopy();
    List<JsonNode> candidates = new ArrayList<>();
    JsonNode first = body.remove("signature");
    if (first != null) {
      candidates.add(first);
    }
    JsonNode all = body.remove("signatures");
    if (all != null && all.isArray()) {
      all.forEach(candidates::add);
    }
    byte[] message =
        concat((format + "\n").getBytes(StandardCharsets.UTF_8),
            Verification.canonical(body).getBytes(StandardCharsets.UTF_8));
    for (JsonNode candidate : candidates) {
      if (!candidate.path("value").isTextual()) {
        continue;
      }
      byte[] signature;
      try {
        signature = Base64.getDecoder().decode(candidate.get("value").asText());
      } catch (IllegalArgumentException e) {
        continue;
      }
      if (signature.length == 64 && verifies(signature, message)) {
        return body;
      }
    }
    throw new NotVerifiedException("no signature of this key verifies the document");
  }

  /** Checks a consent receipt ({@code getReceipt}) and returns its body. */
  public ObjectNode verifyReceipt(JsonNode receipt) {
    return verifyDocument(receipt, RECEIPT_FORMAT);
  }

  /** Checks an erasure certificate and returns its body. */
  public ObjectNode verifyErasureCertificate(JsonNode certificate) {
    return verifyDocument(certificate, ERASURE_CERTIFICATE_FORMAT);
  }

  static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

}
