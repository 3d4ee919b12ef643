package baomi

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

// testKey is a log key made for the test, with its published verifier key.
func testKey(t *testing.T, name string) (ed25519.PrivateKey, string) {
	t.Helper()
	public, private, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := append([]byte{0x01}, public...)
	id := sha256.Sum256(append([]byte(name+"\n"), raw...))
	return private, fmt.Sprintf("%s+%s+%s", name, hex.EncodeToString(id[:4]), base64.StdEncoding.EncodeToString(raw))
}

func signNote(private ed25519.PrivateKey, verifier, body string) string {
	key, _ := ParseVerifierKey(verifier)
	blob := append(key.id[:], ed25519.Sign(private, []byte(body))...)
	return body + "\n\u2014 " + key.name + " " + base64.StdEncoding.EncodeToString(blob) + "\n"
}

// The reference Merkle tree hash and audit path of RFC 9162 §2.1.1 and §2.1.3.1, written
// from the RFC's definitions, recursively.
func mth(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		h := LeafHash(leaves[0])
		return h[:]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return nodeHash(mth(leaves[:k]), mth(leaves[k:]))
}

func path(m int, leaves [][]byte) [][]byte {
	if len(leaves) == 1 {
		return nil
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	if m < k {
		return append(path(m, leaves[:k]), mth(leaves[k:]))
	}
	return append(path(m-k, leaves[k:]), mth(leaves[:k]))
}

func TestInclusionProofsOfEveryLeafOfSmallTrees(t *testing.T) {
	private, verifier := testKey(t, "test/log")
	key, err := ParseVerifierKey(verifier)
	if err != nil {
		t.Fatal(err)
	}
	for size := 1; size <= 9; size++ {
		var leaves [][]byte
		for i := 0; i < size; i++ {
			leaves = append(leaves, []byte(fmt.Sprintf(`{"seq":%d}`, i)))
		}
		root := base64.StdEncoding.EncodeToString(mth(leaves))
		cp, err := key.VerifyCheckpoint(signNote(private, verifier, fmt.Sprintf("test/log\n%d\n%s\n", size, root)))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < size; i++ {
			var hashes []string
			for _, h := range path(i, leaves) {
				hashes = append(hashes, base64.StdEncoding.EncodeToString(h))
			}
			event := string(leaves[i])
			leaf := LeafHash(leaves[i])
			proof := InclusionProof{
				Seq: int64(i), LeafIndex: int64(i), TreeSize: int64(size), Event: &event,
				LeafHash: base64.StdEncoding.EncodeToString(leaf[:]), Proof: hashes,
			}
			if err := VerifyInclusion(&proof, cp); err != nil {
				t.Fatalf("size %d leaf %d: %v", size, i, err)
			}
			// Another position, another event, another size, a path cut short: refused.
			forged := proof
			forged.LeafIndex = int64((i + 1) % size)
			if size > 1 && VerifyInclusion(&forged, cp) == nil {
				t.Fatalf("size %d leaf %d: moved", size, i)
			}
			other := event + " "
			forged = proof
			forged.Event = &other
			if !errors.Is(VerifyInclusion(&forged, cp), ErrNotVerified) {
				t.Fatalf("size %d leaf %d: another event", size, i)
			}
			forged = proof
			forged.TreeSize++
			if VerifyInclusion(&forged, cp) == nil {
				t.Fatalf("size %d leaf %d: another size", size, i)
			}
			if len(hashes) > 0 {
				forged = proof
				forged.Proof = hashes[:len(hashes)-1]
				if VerifyInclusion(&forged, cp) == nil {
					t.Fatalf("size %d leaf %d: a short path", size, i)
				}
			}
		}
	}
}

func TestCheckpointsVerifyOnlyWithTheirKey(t *testing.T) {
	private, verifier := testKey(t, "test/log")
	_, stranger := testKey(t, "test/log")
	body := "test/log\n3\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"
	note := signNote(private, verifier, body)
	key, _ := ParseVerifierKey(verifier)
	other, _ := ParseVerifierKey(stranger)
	cp, err := key.VerifyCheckpoint(note)
	if err != nil || cp.Size != 3 || cp.Origin != "test/log" {
		t.Fatalf("%v %v", cp, err)
	}
	if _, err := other.VerifyCheckpoint(note); !errors.Is(err, ErrNotVerified) {
		t.Fatal("another key verified it")
	}
	altered := bytes.Replace([]byte(note), []byte("\n3\n"), []byte("\n4\n"), 1)
	if _, err := key.VerifyCheckpoint(string(altered)); !errors.Is(err, ErrNotVerified) {
		t.Fatal("an altered size verified")
	}
	_, otherLog := testKey(t, "other/log")
	otherKey, _ := ParseVerifierKey(otherLog)
	if _, err := otherKey.VerifyCheckpoint(note); err == nil {
		t.Fatal("another log's key verified it")
	}
}

func TestVerifierKeysAreChecked(t *testing.T) {
	_, verifier := testKey(t, "test/log")
	if _, err := ParseVerifierKey(verifier); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseVerifierKey("test/log+00000000" + verifier[len("test/log+00000000"):]); err == nil {
		t.Fatal("a wrong key id was accepted")
	}
	sm2 := "test/log+01020304+" + base64.StdEncoding.EncodeToString(append([]byte{0xff, 0x04}, make([]byte, 64)...))
	if _, err := ParseVerifierKey(sm2); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("SM2: %v", err)
	}
}

func TestSignedDocuments(t *testing.T) {
	private, verifier := testKey(t, "test/log")
	key, _ := ParseVerifierKey(verifier)
	body := map[string]any{
		"format": ReceiptFormat, "subject": "u-1", "at": json.Number("1796579659136"),
		"purpose":  map[string]any{"id": "marketing", "version": json.Number("2")},
		"evidence": "开关 \"on\"\n", "guardian": nil,
	}
	var canonical bytes.Buffer
	writeCanonical(&canonical, body)
	signature := ed25519.Sign(private, append([]byte(ReceiptFormat+"\n"), canonical.Bytes()...))
	signed := func(doc map[string]any) []byte {
		raw, _ := json.Marshal(doc)
		return raw
	}
	withSignature := map[string]any{}
	for k, v := range body {
		withSignature[k] = v
	}
	withSignature["signature"] = map[string]any{"alg": "Ed25519", "key": verifier, "value": base64.StdEncoding.EncodeToString(signature)}
	got, err := key.VerifyReceipt(signed(withSignature))
	if err != nil || got["subject"] != "u-1" {
		t.Fatalf("%v %v", got, err)
	}
	// Another signature first (the log signs with SM2 too): one of them is enough.
	withSignature["signatures"] = []any{
		map[string]any{"alg": "SM2", "value": base64.StdEncoding.EncodeToString(make([]byte, 64))},
		withSignature["signature"],
	}
	withSignature["signature"] = map[string]any{"alg": "SM2", "value": "AAAA"}
	if _, err := key.VerifyReceipt(signed(withSignature)); err != nil {
		t.Fatal(err)
	}
	withSignature["subject"] = "u-2"
	if _, err := key.VerifyReceipt(signed(withSignature)); !errors.Is(err, ErrNotVerified) {
		t.Fatal("an altered receipt verified")
	}
	if _, err := key.VerifyErasureCertificate(signed(withSignature)); !errors.Is(err, ErrNotVerified) {
		t.Fatal("a receipt verified as a certificate")
	}
}

func TestCanonicalTextIsSerdeJsons(t *testing.T) {
	var out bytes.Buffer
	writeCanonical(&out, map[string]any{
		"b": "a\u0001\"\\\n\t<>&é\u2028\u007f", "a": []any{json.Number("1"), true, nil}, "é": map[string]any{},
	})
	want := "{\"a\":[1,true,null],\"b\":\"a\\u0001\\\"\\\\\\n\\t<>&é\u2028\u007f\",\"é\":{}}"
	if out.String() != want {
		t.Fatalf("%s\n%s", out.String(), want)
	}
}
