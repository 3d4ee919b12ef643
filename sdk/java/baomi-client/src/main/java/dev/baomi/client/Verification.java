package dev.baomi.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.baomi.client.model.InclusionProof;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;

/** Inclusion proofs (RFC 9162) and the canonical JSON the server signs. */
public final class Verification {
  private Verification() {}

  static byte[] sha256(byte[]... parts) {
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      for (byte[] part : parts) {
        digest.update(part);
      }
      return digest.digest();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** An event's leaf in the log's tree: SHA-256(0x00 ‖ the event's text). */
  public static byte[] leafHash(String event) {
    return sha256(new byte[] {0}, event.getBytes(StandardCharsets.UTF_8));
  }

  private static byte[] node(byte[] left, byte[] right) {
    return sha256(new byte[] {1}, left, right);
  }

  private static byte[] base64(String text, String what) {
    try {
      return Base64.getDecoder().decode(text);
    } catch (IllegalArgumentException e) {
      throw new NotVerifiedException(what + " is not base64");
    }
  }

  /**
   * Checks that an inclusion proof puts its event in the tree of a verified checkpoint
   * (RFC 9162 §2.1.3.2), and that the event, when the proof carries it, is its leaf.
   *
   * @throws NotVerifiedException when it does not
   */
  public static void verifyInclusion(InclusionProof proof, Checkpoint checkpoint) {
    long size = proof.treeSize();
    long index = proof.leafIndex();
    if (size != checkpoint.size()) {
      throw new NotVerifiedException(
          "the proof is for a tree of " + size + " events, the checkpoint of " + checkpoint.size());
    }
    byte[] leaf = base64(proof.leafHash(), "the leaf hash");
    if (leaf.length != 32) {
      throw new NotVerifiedException("the leaf hash is not a SHA-256 hash");
    }
    if (proof.event() != null && !Arrays.equals(leafHash(proof.event()), leaf)) {
      throw new NotVerifiedException("the event is not the leaf the proof is for");
    }
    if (index < 0 || index >= size) {
      throw new NotVerifiedException("the leaf index is outside the tree");
    }
    long fn = index;
    long sn = size - 1;
    byte[] r = leaf;
    for (String encoded : proof.proof()) {
      byte[] p = base64(encoded, "a hash of the path");
      if (p.length != 32 || sn == 0) {
        throw new NotVerifiedException("the audit path is malformed");
      }
      if ((fn & 1) == 1 || fn == sn) {
        r = node(p, r);
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      } else {
        r = node(r, p);
      }
      fn >>= 1;
      sn >>= 1;
    }
    if (sn != 0 || !Arrays.equals(r, checkpoint.root())) {
      throw new NotVerifiedException("the audit path does not lead to the checkpoint's root");
    }
  }

  /**
   * A JSON value as the server signs it: object keys sorted (by their UTF-8 bytes), no
   * whitespace, strings escaped as serde_json escapes them (control characters only).
   */
  public static String canonical(JsonNode value) {
    StringBuilder out = new StringBuilder();
    write(out, value);
    return out.toString();
  }

  private static void write(StringBuilder out, JsonNode value) {
    if (value.isObject()) {
      List<String> keys = new ArrayList<>();
      Iterator<String> names = value.fieldNames();
      names.forEachRemaining(keys::add);
      keys.sort(
          (a, b) ->
              Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8)));
      out.append('{');
      for (int i = 0; i < keys.size(); i++) {
        if (i > 0) {
          out.append(',');
        }
        string(out, keys.get(i));
        out.append(':');
        write(out, value.get(keys.get(i)));
      }
      out.append('}');
    } else if (value.isArray()) {
      out.append('[');
      for (int i = 0; i < value.size(); i++) {
        if (i > 0) {
          out.append(',');
        }
        write(out, value.get(i));
      }
      out.append(']');
    } else if (value.isTextual()) {
      string(out, value.asText());
    } else if (value.isIntegralNumber()) {
      out.append(value.bigIntegerValue());
    } else {
      out.append(value.toString());
    }
  }

  private static void string(StringBuilder out, String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\b' -> out.append("\\b");
        case '\f' -> out.append("\\f");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }
}
