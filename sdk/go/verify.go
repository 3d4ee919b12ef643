package baomi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Formats of the signed documents the server issues.
const (
	ReceiptFormat            = "baomi-consent-receipt/1"
	ErasureCertificateFormat = "baomi-erasure-certificate/1"
)

// ErrUnsupportedKey is returned for a verifier key of an algorithm this SDK cannot check
// (SM2: check with `baomi audit verify` or an SM2 library).
var ErrUnsupportedKey = errors.New("baomi: only Ed25519 verifier keys are supported")

// ErrNotVerified is wrapped by every failed verification: a signature, a proof or a
// document that does not hold.
var ErrNotVerified = errors.New("baomi: not verified")

func notVerified(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotVerified, fmt.Sprintf(format, args...))
}

// VerifierKey is the public key the audit log signs checkpoints, receipts and erasure
// certificates with, in its published form `<name>+<key id>+<base64(0x01 ‖ Ed25519 key)>`
// (`GET /v1/audit/checkpoint`'s `verifier_key`). Take it once from a copy you trust, not
// from each answer: whoever can change the answers could change the key too.
type VerifierKey struct {
	name   string
	id     [4]byte
	public ed25519.PublicKey
	text   string
}

// ParseVerifierKey reads a verifier key and checks that its key id matches its key.
func ParseVerifierKey(text string) (*VerifierKey, error) {
	parts := strings.SplitN(text, "+", 3)
	if len(parts) != 3 || parts[0] == "" {
		return nil, fmt.Errorf("baomi: a verifier key is <name>+<key id>+<key>")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("baomi: the verifier key's key is not base64")
	}
	if raw[0] != 0x01 {
		return nil, ErrUnsupportedKey
	}
	if len(raw) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("baomi: the verifier key's Ed25519 key is not 32 bytes")
	}
	digest := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	if hex.EncodeToString(digest[:4]) != parts[1] {
		return nil, fmt.Errorf("baomi: the verifier key's id does not match its key")
	}
	k := &VerifierKey{name: parts[0], public: ed25519.PublicKey(raw[1:]), text: text}
	copy(k.id[:], digest[:4])
	return k, nil
}

// Name is the key's name: the log's origin.
func (k *VerifierKey) Name() string { return k.name }

// String is the key in its published form.
func (k *VerifierKey) String() string { return k.text }

// Checkpoint is a checkpoint whose signature verified: the log had Size events, with
// this Merkle root (RFC 9162).
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
	// Note is the signed note as received: keep it to hold the log to it later
	// (`GET /v1/audit/proofs/consistency?note=…`).
	Note string
}

// VerifyCheckpoint checks a checkpoint's signed note (C2SP signed note over a
// tlog-checkpoint) with the key, and returns what it says.
func (k *VerifierKey) VerifyCheckpoint(note string) (*Checkpoint, error) {
	end := strings.Index(note, "\n\n")
	if end < 0 {
		return nil, notVerified("the checkpoint has no signature block")
	}
	body, signatures := note[:end+1], note[end+2:]
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) < 3 {
		return nil, notVerified("the checkpoint has no size or root")
	}
	signed := false
	for _, line := range strings.Split(signatures, "\n") {
		name, blob, ok := strings.Cut(strings.TrimPrefix(line, "\u2014 "), " ")
		if !ok || !strings.HasPrefix(line, "\u2014 ") || name != k.name {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(blob)
		if err != nil || len(raw) != 4+ed25519.SignatureSize || !bytes.Equal(raw[:4], k.id[:]) {
			continue
		}
		if ed25519.Verify(k.public, []byte(body), raw[4:]) {
			signed = true
			break
		}
	}
	if !signed {
		return nil, notVerified("no signature of %s verifies the checkpoint", k.name)
	}
	if lines[0] != k.name {
		return nil, notVerified("the checkpoint is of log %q, not %q", lines[0], k.name)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return nil, notVerified("the checkpoint's size is not a number")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != sha256.Size {
		return nil, notVerified("the checkpoint's root is not a SHA-256 hash")
	}
	cp := &Checkpoint{Origin: lines[0], Size: size, Note: note}
	copy(cp.Root[:], root)
	return cp, nil
}

// LeafHash is an event's leaf in the log's tree: SHA-256(0x00 ‖ the event's text).
func LeafHash(event []byte) [32]byte {
	return sha256.Sum256(append([]byte{0x00}, event...))
}

func nodeHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0x01})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// VerifyInclusion checks that the proof puts its event in the tree of a verified
// checkpoint (RFC 9162 §2.1.3.2), and that the event, when the proof carries it, is the
// leaf it proves.
func VerifyInclusion(proof *InclusionProof, cp *Checkpoint) error {
	if proof.TreeSize < 0 || uint64(proof.TreeSize) != cp.Size {
		return notVerified("the proof is for a tree of %d events, the checkpoint of %d", proof.TreeSize, cp.Size)
	}
	leaf, err := base64.StdEncoding.DecodeString(proof.LeafHash)
	if err != nil || len(leaf) != sha256.Size {
		return notVerified("the leaf hash is not a SHA-256 hash")
	}
	if proof.Event != nil {
		hash := LeafHash([]byte(*proof.Event))
		if !bytes.Equal(hash[:], leaf) {
			return notVerified("the event is not the leaf the proof is for")
		}
	}
	index, size := uint64(proof.LeafIndex), uint64(proof.TreeSize)
	if index >= size {
		return notVerified("the leaf index is outside the tree")
	}
	fn, sn := index, size-1
	r := leaf
	for _, encoded := range proof.Proof {
		p, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(p) != sha256.Size || sn == 0 {
			return notVerified("the audit path is malformed")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || !bytes.Equal(r, cp.Root[:]) {
		return notVerified("the audit path does not lead to the checkpoint's root")
	}
	return nil
}

// Inclusion is an event proven to be in the log: the checkpoint (verified with your key)
// and the proof that leads from the event to its root.
type Inclusion struct {
	Checkpoint *Checkpoint
	Proof      *InclusionProof
}

// ProveInclusion proves, without trusting the server, that audit event seq is in the
// log: it verifies the newest checkpoint with key, asks for the inclusion proof against
// that checkpoint's tree, and checks it. An event not yet under a signed checkpoint (a
// second or so; on a new log, until its first checkpoint) is waited for, up to ten
// seconds.
func (c *Client) ProveInclusion(ctx context.Context, seq int64, key *VerifierKey, opts ...CallOption) (*Inclusion, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		view, err := c.GetCheckpoint(ctx, opts...)
		if IsCode(err, CodeAuditNoCheckpoint) && time.Now().Before(deadline) {
			if err := sleep(ctx, 250*time.Millisecond); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		cp, err := key.VerifyCheckpoint(view.Note)
		if err != nil {
			return nil, err
		}
		proof, err := c.GetInclusionProof(ctx, GetInclusionProofParams{Seq: seq, Size: Ptr(int64(cp.Size))}, opts...)
		if IsCode(err, CodeAuditNotInTree) && time.Now().Before(deadline) {
			if err := sleep(ctx, 250*time.Millisecond); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if proof.Seq != seq {
			return nil, notVerified("the proof is for event %d, not %d", proof.Seq, seq)
		}
		if err := VerifyInclusion(proof, cp); err != nil {
			return nil, err
		}
		return &Inclusion{Checkpoint: cp, Proof: proof}, nil
	}
}

// VerifyReceipt checks a consent receipt (`GET /v1/consent/receipts/{id}`, as received)
// with the key, and returns its body (without its signatures).
func (k *VerifierKey) VerifyReceipt(document []byte) (map[string]any, error) {
	return k.VerifyDocument(document, ReceiptFormat)
}

// VerifyErasureCertificate checks an erasure certificate with the key, and returns its
// body.
func (k *VerifierKey) VerifyErasureCertificate(document []byte) (map[string]any, error) {
	return k.VerifyDocument(document, ErasureCertificateFormat)
}

// VerifyDocument checks a signed JSON document of the given format: its `signature` (or
// one of its `signatures`) signs `format`, a line break, and the rest of the document in
// canonical form (keys sorted, no whitespace).
func (k *VerifierKey) VerifyDocument(document []byte, format string) (map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(document))
	decoder.UseNumber()
	var body map[string]any
	if err := decoder.Decode(&body); err != nil {
		return nil, notVerified("the document is not a JSON object")
	}
	if body["format"] != format {
		return nil, notVerified("the document is not of format %s", format)
	}
	candidates := []any{body["signature"]}
	if all, ok := body["signatures"].([]any); ok {
		candidates = append(candidates, all...)
	}
	delete(body, "signature")
	delete(body, "signatures")
	var canonical bytes.Buffer
	writeCanonical(&canonical, body)
	message := append([]byte(format+"\n"), canonical.Bytes()...)
	for _, candidate := range candidates {
		entry, _ := candidate.(map[string]any)
		value, _ := entry["value"].(string)
		signature, err := base64.StdEncoding.DecodeString(value)
		if err == nil && len(signature) == ed25519.SignatureSize && ed25519.Verify(k.public, message, signature) {
			return body, nil
		}
	}
	return nil, notVerified("no signature of this key verifies the document")
}

// writeCanonical writes a JSON value as the server signs it: object keys sorted, no
// whitespace, strings escaped as serde_json escapes them.
func writeCanonical(out *bytes.Buffer, value any) {
	switch v := value.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for key := range v {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		out.WriteByte('{')
		for i, key := range keys {
			if i > 0 {
				out.WriteByte(',')
			}
			writeString(out, key)
			out.WriteByte(':')
			writeCanonical(out, v[key])
		}
		out.WriteByte('}')
	case []any:
		out.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				out.WriteByte(',')
			}
			writeCanonical(out, item)
		}
		out.WriteByte(']')
	case string:
		writeString(out, v)
	case json.Number:
		out.WriteString(v.String())
	case bool:
		out.WriteString(strconv.FormatBool(v))
	case nil:
		out.WriteString("null")
	}
}

func writeString(out *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b == '"':
			out.WriteString(`\"`)
		case b == '\\':
			out.WriteString(`\\`)
		case b == '\b':
			out.WriteString(`\b`)
		case b == '\f':
			out.WriteString(`\f`)
		case b == '\n':
			out.WriteString(`\n`)
		case b == '\r':
			out.WriteString(`\r`)
		case b == '\t':
			out.WriteString(`\t`)
		case b < 0x20:
			out.WriteString(`\u00`)
			out.WriteByte(hexDigits[b>>4])
			out.WriteByte(hexDigits[b&0xf])
		default:
			out.WriteByte(b)
		}
	}
	out.WriteByte('"')
}
