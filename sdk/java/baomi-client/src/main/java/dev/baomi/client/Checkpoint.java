package dev.baomi.client;

/**
 * A checkpoint whose signature verified: the log held {@code size} events with this Merkle
 * root. Keep {@code note} to hold the log to it later ({@code getConsistencyProof}).
 *
 * @param origin the log's name
 * @param size how many events the tree holds
 * @param root its root hash (RFC 9162)
 * @param note the signed note as received
 */
public record Checkpoint(String origin, long size, byte[] root, String note) {}
