package baomi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fake is a server that answers each request with the next of its scripted answers and
// records what it was sent.
type fake struct {
	mu       sync.Mutex
	answers  []func(w http.ResponseWriter, r *http.Request, body []byte)
	requests []*http.Request
	bodies   [][]byte
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/openapi.json" {
		// A server whose batches hold two items.
		_, _ = w.Write([]byte(`{"components":{"schemas":{"EncryptRequest":{"properties":{"items":{"maxItems":2}}}}}}`))
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.bodies = append(f.bodies, body)
	if len(f.answers) == 0 {
		f.mu.Unlock()
		http.Error(w, "no more answers", http.StatusTeapot)
		return
	}
	answer := f.answers[0]
	f.answers = f.answers[1:]
	f.mu.Unlock()
	// Answered outside the lock: a slow answer does not hold up the next request.
	answer(w, r, body)
}

func problem(status int, code string, retryAfter int) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("X-Request-Id", "req-1")
		if retryAfter >= 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"type": "urn:baomi:problem:" + code, "title": "t", "status": status, "code": code,
			"detail": "what went wrong", "scope": "key",
		})
	}
}

func answer(v any) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// echoItems answers an encrypt with one ciphertext per item, naming the item's value.
func echoItems(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req EncryptRequest
	_ = json.Unmarshal(body, &req)
	var out CiphertextResults
	for _, item := range req.Items {
		out.Items = append(out.Items, CiphertextResult{Ciphertext: Ptr("ct:" + item.Value)})
	}
	_ = json.NewEncoder(w).Encode(out)
}

func newFake(t *testing.T, answers ...func(http.ResponseWriter, *http.Request, []byte)) (*fake, *Client) {
	t.Helper()
	f := &fake{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, WithAPIKey("bm_k_secret"), WithRetries(3, time.Millisecond, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestIdempotentCallsAreRetriedOn503(t *testing.T) {
	f, c := newFake(t, problem(503, "service.database_unavailable", -1), answer(Health{Status: "ok"}))
	got, err := c.Healthz(context.Background())
	if err != nil || got.Status != "ok" || len(f.requests) != 2 {
		t.Fatalf("got %v %v after %d requests", got, err, len(f.requests))
	}
}

func TestOtherCallsAreNotRetried(t *testing.T) {
	f, c := newFake(t, problem(503, "service.database_unavailable", -1), answer(CiphertextResults{}))
	_, err := c.Encrypt(context.Background(), EncryptRequest{Items: []EncryptRequestItem{{SubjectID: "u", Field: "mobile", Value: "1"}}})
	if !IsCode(err, CodeServiceDatabaseUnavailable) || len(f.requests) != 1 {
		t.Fatalf("got %v after %d requests", err, len(f.requests))
	}
}

func TestRetryAfterIsHonouredUpToTheLongestWait(t *testing.T) {
	f, c := newFake(t, problem(429, "quota.rate_limited", 1), answer(Health{Status: "ok"}))
	start := time.Now()
	if _, err := c.Healthz(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second || len(f.requests) != 2 {
		t.Fatalf("retried after %v, %d requests", waited, len(f.requests))
	}

	// A quota spent for the hour is the caller's to handle, at once.
	f, c = newFake(t, problem(429, "quota.exceeded", 3600))
	start = time.Now()
	_, err := c.Healthz(context.Background())
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != CodeQuotaExceeded || apiErr.RetryAfter != time.Hour ||
		len(f.requests) != 1 || time.Since(start) > time.Second {
		t.Fatalf("got %v after %d requests", err, len(f.requests))
	}
}

func TestRetriesStop(t *testing.T) {
	f, c := newFake(t, problem(503, "service.not_ready", 0), problem(503, "service.not_ready", 0),
		problem(503, "service.not_ready", 0), problem(503, "service.not_ready", 0), answer(Health{}))
	_, err := c.Healthz(context.Background())
	if !IsCode(err, CodeServiceNotReady) || len(f.requests) != 4 {
		t.Fatalf("got %v after %d requests", err, len(f.requests))
	}
}

func TestProblemsAreTypedByTheirCode(t *testing.T) {
	_, c := newFake(t, problem(403, "auth.view_not_granted", -1))
	_, err := c.ListPurposes(context.Background())
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("not an *Error: %v", err)
	}
	if apiErr.Status != 403 || apiErr.Code != CodeAuthViewNotGranted || apiErr.Detail != "what went wrong" ||
		apiErr.RequestID != "req-1" || string(apiErr.Members["scope"]) != `"key"` {
		t.Fatalf("%+v", apiErr)
	}
	if !IsCode(err, CodeAuthViewNotGranted) || IsCode(err, CodeAuthForbidden) {
		t.Fatal("IsCode")
	}
}

func TestAnswersThatAreNotProblems(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(431) })
	_, err := c.ListPurposes(context.Background())
	if !IsCode(err, "http.431") {
		t.Fatalf("got %v", err)
	}
}

func TestBatchesAreChunkedToTheServersLimitInOrder(t *testing.T) {
	f, c := newFake(t, echoItems, echoItems, echoItems)
	items := []EncryptRequestItem{}
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		items = append(items, EncryptRequestItem{SubjectID: "u", Field: "text", Value: v})
	}
	got, err := c.Encrypt(context.Background(), EncryptRequest{Items: items, Keyring: Ptr("k")})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != 3 {
		t.Fatalf("%d requests", len(f.requests))
	}
	for i, v := range []string{"a", "b", "c", "d", "e"} {
		if *got.Items[i].Ciphertext != "ct:"+v {
			t.Fatalf("item %d is %s", i, *got.Items[i].Ciphertext)
		}
	}
	var sent EncryptRequest
	_ = json.Unmarshal(f.bodies[2], &sent)
	if len(sent.Items) != 1 || *sent.Keyring != "k" {
		t.Fatalf("the last chunk: %s", f.bodies[2])
	}
}

func TestAFailedChunkKeepsTheResultsBeforeIt(t *testing.T) {
	_, c := newFake(t, echoItems, problem(413, "request.too_large", -1))
	items := make([]EncryptRequestItem, 3)
	got, err := c.Encrypt(context.Background(), EncryptRequest{Items: items})
	var batchErr *BatchError
	if !errors.As(err, &batchErr) || batchErr.Sent != 2 || !IsCode(err, CodeRequestTooLarge) {
		t.Fatalf("got %v", err)
	}
	if got == nil || len(got.Items) != 2 {
		t.Fatalf("the first chunk's results: %v", got)
	}
}

func TestHeaders(t *testing.T) {
	f, c := newFake(t, answer(PurposeList{}), answer(PurposeList{}))
	c, _ = c.With(WithOperator("agent-1"))
	_, _ = c.ListPurposes(context.Background(), RequestID("corr-7"), OperatorRole("fraud"))
	_, _ = c.ListPurposes(context.Background(), Operator("agent-2"))
	first, second := f.requests[0].Header, f.requests[1].Header
	if first.Get("Authorization") != "Bearer bm_k_secret" || first.Get("X-Baomi-Operator") != "agent-1" ||
		first.Get("X-Request-Id") != "corr-7" || first.Get("X-Baomi-Operator-Role") != "fraud" {
		t.Fatalf("first: %v", first)
	}
	if second.Get("X-Baomi-Operator") != "agent-2" || second.Get("X-Request-Id") != "" {
		t.Fatalf("second: %v", second)
	}
}

func TestQueryAndPathAreEscaped(t *testing.T) {
	f, c := newFake(t, answer(SubjectData{}))
	_, _ = c.GetData(context.Background(), "u/1 ?", GetDataParams{Purpose: "loan", View: Ptr("plain")})
	r := f.requests[0]
	if r.URL.EscapedPath() != "/v1/subjects/u%2F1%20%3F/data" || r.URL.Query().Get("purpose") != "loan" ||
		r.URL.Query().Get("view") != "plain" || r.URL.Query().Has("fields") {
		t.Fatalf("%s %s", r.URL.EscapedPath(), r.URL.RawQuery)
	}
}

func TestPagesAreWalkedByCursor(t *testing.T) {
	page := func(seqs []int64, next *int64) func(http.ResponseWriter, *http.Request, []byte) {
		events := []EventView{}
		for _, s := range seqs {
			events = append(events, EventView{Seq: s})
		}
		return answer(EventPage{Events: events, NextCursor: next})
	}
	f, c := newFake(t, page([]int64{9, 8}, Ptr(int64(8))), page([]int64{7}, Ptr(int64(7))), page(nil, nil))
	var seen []int64
	for event, err := range c.AllEvents(context.Background(), ListEventsParams{Limit: Ptr(int64(2))}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, event.Seq)
	}
	if len(seen) != 3 || seen[2] != 7 || len(f.requests) != 3 || f.requests[1].URL.Query().Get("cursor") != "8" {
		t.Fatalf("%v after %d requests", seen, len(f.requests))
	}

	// Stopping early asks for no further page.
	f, c = newFake(t, page([]int64{9, 8}, Ptr(int64(8))), page([]int64{7}, nil))
	for range c.AllEvents(context.Background(), ListEventsParams{}) {
		break
	}
	if len(f.requests) != 1 {
		t.Fatalf("%d requests", len(f.requests))
	}
}

func TestTimeoutsEndAnAttemptAndOnlyIdempotentCallsTryAgain(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(300 * time.Millisecond)
		answer(Health{Status: "late"})(w, r, body)
	}
	f, c := newFake(t, slow, answer(Health{Status: "ok"}))
	quick, _ := c.With(WithTimeout(50 * time.Millisecond))
	got, err := quick.Healthz(context.Background())
	if err != nil || got.Status != "ok" || len(f.requests) != 2 {
		t.Fatalf("got %v %v after %d requests", got, err, len(f.requests))
	}
	if c.http.Timeout != 30*time.Second {
		t.Fatal("the parent's timeout changed")
	}

	f, c = newFake(t, slow, answer(CiphertextResults{}))
	quick, _ = c.With(WithTimeout(50 * time.Millisecond))
	_, err = quick.Encrypt(context.Background(), EncryptRequest{Items: make([]EncryptRequestItem, 1)})
	var apiErr *Error
	if err == nil || errors.As(err, &apiErr) || len(f.requests) != 1 {
		t.Fatalf("got %v after %d requests", err, len(f.requests))
	}
}
