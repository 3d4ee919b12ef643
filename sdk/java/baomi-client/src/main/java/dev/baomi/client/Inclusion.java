package dev.baomi.client;

import dev.baomi.client.model.InclusionProof;

/**
 * An event proven to be in the log.
 *
 * @param checkpoint the checkpoint, verified with your key
 * @param proof the proof that leads from the event to its root
 */
public record Inclusion(Checkpoint checkpoint, InclusionProof proof) {}
