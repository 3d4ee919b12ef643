package dev.baomi.client;

/** A header of one call: its request id, the operator it acts for, the operator's role. */
public final class CallOption {
  final String header;
  final String value;

  private CallOption(String header, String value) {
    this.header = header;
    this.value = value;
  }

  /** Your correlation id ({@code X-Request-Id}); the call's audit events carry it. */
  public static CallOption requestId(String id) {
    return new CallOption("X-Request-Id", id);
  }

  /** The staff member this call acts for ({@code X-Baomi-Operator}). */
  public static CallOption operator(String operator) {
    return new CallOption("X-Baomi-Operator", operator);
  }

  /** Another of the key's masking roles for this call ({@code X-Baomi-Operator-Role}). */
  public static CallOption operatorRole(String role) {
    return new CallOption("X-Baomi-Operator-Role", role);
  }
}
