package dev.baomi.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.baomi.client.model.InclusionProof;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.Signature;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Verification against a reference written from RFC 9162, with keys made for the test. */
class VerificationTest {
  private static final ObjectMapper MAPPER = BaomiClient.mapper();

  record TestKey(PrivateKey key, String verifier) {}

  static TestKey testKey(String name) throws Exception {
    KeyPair pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    byte[] spki = pair.getPublic().getEncoded();
    byte[] raw = new byte[33];
    raw[0] = 1;
    System.arraycopy(spki, spki.length - 32, raw, 1, 32);
    byte[] id = Arrays.copyOf(Verification.sha256((name + "\n").getBytes(StandardCharsets.UTF_8), raw), 4);
    return new TestKey(pair.getPrivate(), name + "+" + HexFormat.of().formatHex(id) + "+" + Base64.getEncoder().encodeToString(raw));
  }

  static byte[] sign(PrivateKey key, byte[] message) throws Exception {
    Signature s = Signature.getInstance("Ed25519");
    s.initSign(key);
    s.update(message);
    return s.sign();
  }

  static String note(TestKey k, String body) throws Exception {
    String[] parts = k.verifier().split("\\+");
    byte[] blob = VerifierKey.concat(HexFormat.of().parseHex(parts[1]), sign(k.key(), body.getBytes(StandardCharsets.UTF_8)));
    return body + "\n\u2014 " + parts[0] + " " + Base64.getEncoder().encodeToString(blob) + "\n";
  }

  static byte[] node(byte[] l, byte[] r) {
    return Verification.sha256(new byte[] {1}, l, r);
  }

  /** RFC 9162 §2.1.1, recursively. */
  static byte[] mth(List<String> leaves) {
    if (leaves.size() == 1) {
      return Verification.leafHash(leaves.get(0));
    }
    int k = 1;
    while (k * 2 < leaves.size()) {
      k *= 2;
    }
    return node(mth(leaves.subList(0, k)), mth(leaves.subList(k, leaves.size())));
  }

  /** RFC 9162 §2.1.3.1, recursively. */
  static List<byte[]> path(int m, List<String> leaves) {
    if (leaves.size() == 1) {
      return new ArrayList<>();
    }
    int k = 1;
    while (k * 2 < leaves.size()) {
      k *= 2;
    }
    List<byte[]> p;
    if (m < k) {
      p = path(m, leaves.subList(0, k));
      p.add(mth(leaves.subList(k, leaves.size())));
    } else {
      p = path(m - k, leaves.subList(k, leaves.size()));
      p.add(mth(leaves.subList(0, k)));
    }
    return p;
  }

  static String b64(byte[] b) {
    return Base64.getEncoder().encodeToString(b);
  }

  @Test
  void inclusionProofsOfEveryLeafOfSmallTrees() throws Exception {
    TestKey k = testKey("test/log");
    VerifierKey key = VerifierKey.parse(k.verifier());
    for (int size = 1; size <= 9; size++) {
      List<String> leaves = new ArrayList<>();
      for (int i = 0; i < size; i++) {
        leaves.add("{\"seq\":" + i + "}");
      }
      Checkpoint cp = key.verifyCheckpoint(note(k, "test/log\n" + size + "\n" + b64(mth(leaves)) + "\n"));
      for (int i = 0; i < size; i++) {
        List<String> hashes = path(i, leaves).stream().map(VerificationTest::b64).toList();
        String leaf = b64(Verification.leafHash(leaves.get(i)));
        InclusionProof proof = new InclusionProof(leaves.get(i), leaf, (long) i, hashes, false, (long) i, (long) size);
        Verification.verifyInclusion(proof, cp);
        List<InclusionProof> forged = new ArrayList<>();
        forged.add(new InclusionProof(leaves.get(i) + " ", leaf, (long) i, hashes, false, (long) i, (long) size));
        forged.add(new InclusionProof(leaves.get(i), leaf, (long) i, hashes, false, (long) i, (long) size + 1));
        if (size > 1) {
          forged.add(new InclusionProof(leaves.get(i), leaf, (long) ((i + 1) % size), hashes, false, (long) i, (long) size));
        }
        if (!hashes.isEmpty()) {
          forged.add(new InclusionProof(leaves.get(i), leaf, (long) i, hashes.subList(0, hashes.size() - 1), false, (long) i, (long) size));
        }
        for (InclusionProof f : forged) {
          assertThrows(NotVerifiedException.class, () -> Verification.verifyInclusion(f, cp));
        }
      }
    }
  }

  @Test
  void checkpointsVerifyOnlyWithTheirKey() throws Exception {
    TestKey k = testKey("test/log");
    String n = note(k, "test/log\n3\n" + b64(new byte[32]) + "\n");
    Checkpoint cp = VerifierKey.parse(k.verifier()).verifyCheckpoint(n);
    assertEquals(3, cp.size());
    assertEquals("test/log", cp.origin());
    assertThrows(NotVerifiedException.class, () -> VerifierKey.parse(testKey("test/log").verifier()).verifyCheckpoint(n));
    assertThrows(NotVerifiedException.class, () -> VerifierKey.parse(k.verifier()).verifyCheckpoint(n.replaceFirst("\n3\n", "\n4\n")));
    assertThrows(NotVerifiedException.class, () -> VerifierKey.parse(testKey("other/log").verifier()).verifyCheckpoint(n));
  }

  @Test
  void verifierKeysAreChecked() throws Exception {
    String[] parts = testKey("test/log").verifier().split("\\+");
    assertThrows(IllegalArgumentException.class, () -> VerifierKey.parse(parts[0] + "+00000000+" + parts[2]));
    byte[] sm2 = new byte[66];
    sm2[0] = (byte) 0xff;
    sm2[1] = 4;
    assertThrows(IllegalArgumentException.class, () -> VerifierKey.parse("test/log+01020304+" + b64(sm2)));
  }

  @Test
  void signedDocuments() throws Exception {
    TestKey k = testKey("test/log");
    VerifierKey key = VerifierKey.parse(k.verifier());
    ObjectNode body = (ObjectNode) MAPPER.readTree(
        "{\"format\":\"baomi-consent-receipt/1\",\"subject\":\"u-1\",\"at\":1796579659136,"
            + "\"purpose\":{\"id\":\"marketing\",\"version\":2},\"evidence\":\"开关 \\\"on\\\"\\n\",\"guardian\":null}");
    byte[] message = ((VerifierKey.RECEIPT_FORMAT + "\n") + Verification.canonical(body)).getBytes(StandardCharsets.UTF_8);
    ObjectNode document = body.deepCopy();
    document.putObject("signature").put("alg", "Ed25519").put("key", k.verifier()).put("value", b64(sign(k.key(), message)));
    assertEquals("u-1", key.verifyReceipt(document).get("subject").asText());
    // Another algorithm's signature first: one of them is enough.
    ObjectNode both = document.deepCopy();
    both.putArray("signatures").add(MAPPER.createObjectNode().put("alg", "SM2").put("value", b64(new byte[64]))).add(document.get("signature"));
    both.putObject("signature").put("alg", "SM2").put("value", "AAAA");
    assertEquals(2, key.verifyReceipt(both).get("purpose").get("version").asInt());
    ObjectNode altered = document.deepCopy().put("subject", "u-2");
    assertThrows(NotVerifiedException.class, () -> key.verifyReceipt(altered));
    assertThrows(NotVerifiedException.class, () -> key.verifyErasureCertificate(document));
  }

  @Test
  void canonicalTextIsSerdeJsons() throws Exception {
    ObjectNode value = MAPPER.createObjectNode();
    value.put("b", "a\u0001\"\\\n\t<>&é\u2028\u007f");
    value.putArray("a").add(1).add(true).addNull();
    value.putObject("é");
    assertEquals("{\"a\":[1,true,null],\"b\":\"a\\u0001\\\"\\\\\\n\\t<>&é\u2028\u007f\",\"é\":{}}", Verification.canonical(value));
  }
}
