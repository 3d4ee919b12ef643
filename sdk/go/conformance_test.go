package baomi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The conformance scenario (sdk/conformance/scenario.json) against a real server: the
// release binary named by SDK_SERVER_BIN, on a random port, with a fresh SQLite
// database, and with the fresh PostgreSQL database SDK_DATABASE_URL names when it is set
// (CI sets it). (Not BAOMI_ variables: the server takes those as settings.)
func TestConformance(t *testing.T) {
	bin := os.Getenv("SDK_SERVER_BIN")
	if bin == "" {
		t.Fatal("set SDK_SERVER_BIN to the release binary (cargo build --release; target/release/baomi)")
	}
	raw, err := os.ReadFile(filepath.Join("..", "conformance", "scenario.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("sqlite", func(t *testing.T) {
		runScenario(t, startServer(t, bin, ""), raw)
	})
	url := os.Getenv("SDK_DATABASE_URL")
	if url == "" && os.Getenv("REQUIRE_POSTGRES") != "" {
		t.Fatal("REQUIRE_POSTGRES is set but SDK_DATABASE_URL is not")
	}
	if url != "" {
		t.Run("postgresql", func(t *testing.T) {
			runScenario(t, startServer(t, bin, url), raw)
		})
	}
}

type server struct {
	base  string
	admin string
}

// startServer runs `baomi serve --dev` on a free port with a fresh data directory and
// returns its address and the bootstrap admin key it printed.
func startServer(t *testing.T, bin, databaseURL string) server {
	return startServerWith(t, bin, databaseURL, nil, http.DefaultClient, "http")
}

// startServerWith is startServer with more settings in the environment, the client that
// asks whether it is ready, and the scheme it serves.
func startServerWith(t *testing.T, bin, databaseURL string, settings []string, probe *http.Client, scheme string) server {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	data := t.TempDir()
	args := []string{"serve", "--dev", "--listen", addr, "--data-dir", data}
	if databaseURL != "" {
		args = append(args, "--database-url", databaseURL)
	}
	logPath := filepath.Join(data, "server.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// A fresh server: none of the caller's BAOMI_ settings.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BAOMI_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, settings...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
	})
	base := scheme + "://" + addr
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		resp, err := probe.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 60*time.Second {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("the server did not become ready:\n%s", out)
		}
	}
	out, _ := os.ReadFile(logPath)
	admin := regexp.MustCompile(`bm_[A-Za-z0-9_-]+`).Find(out)
	if admin == nil {
		t.Fatalf("no bootstrap admin key in the server's output:\n%s", out)
	}
	return server{base: base, admin: string(admin)}
}

type scenario struct {
	Client struct {
		BatchLimit          int `json:"batch_limit"`
		Retries             int `json:"retries"`
		MaxRetryWaitSeconds int `json:"max_retry_wait_seconds"`
	} `json:"client"`
	Steps []json.RawMessage `json:"steps"`
}

// step is one call of the scenario, its variables substituted.
type step struct {
	Name      string            `json:"name"`
	Call      string            `json:"call"`
	As        string            `json:"as"`
	Operator  string            `json:"operator"`
	RequestID string            `json:"request_id"`
	Path      map[string]string `json:"path"`
	Query     map[string]any    `json:"query"`
	Body      json.RawMessage   `json:"body"`
	Args      map[string]any    `json:"args"`
	Expect    struct {
		Result   map[string]any `json:"result"`
		Count    map[string]int `json:"count"`
		MinCount map[string]int `json:"min_count"`
		Error    *struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		} `json:"error"`
		Members []string `json:"members"`
	} `json:"expect"`
	Save map[string]string `json:"save"`
}

func (s step) options() []CallOption {
	var opts []CallOption
	if s.Operator != "" {
		opts = append(opts, Operator(s.Operator))
	}
	if s.RequestID != "" {
		opts = append(opts, RequestID(s.RequestID))
	}
	return opts
}

func runScenario(t *testing.T, srv server, raw []byte) {
	var sc scenario
	if err := json.Unmarshal(raw, &sc); err != nil {
		t.Fatal(err)
	}
	base, err := New(srv.base,
		WithBatchLimit(sc.Client.BatchLimit),
		WithRetries(sc.Client.Retries, 100*time.Millisecond, time.Duration(sc.Client.MaxRetryWaitSeconds)*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"admin": srv.admin}
	ctx := context.Background()
	for i, rawStep := range sc.Steps {
		s := substitute(t, rawStep, vars)
		label := fmt.Sprintf("step %d (%s: %s)", i+1, s.Call, s.Name)
		client := base
		if s.As != "none" {
			secret, ok := vars[s.As].(string)
			if !ok {
				t.Fatalf("%s: no credential saved as %q", label, s.As)
			}
			client, _ = base.With(WithAPIKey(secret))
		}
		result, err := call(ctx, client, s)
		check(t, label, s, result, err, vars)
	}
}

// substitute replaces `${name}` in a step: a whole string by the saved value as it is
// (a number, an object), and inside a longer string by its text.
func substitute(t *testing.T, raw json.RawMessage, vars map[string]any) step {
	t.Helper()
	var tree any
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	if err := decoder.Decode(&tree); err != nil {
		t.Fatal(err)
	}
	pattern := regexp.MustCompile(`\$\{(\w+)\}`)
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, item := range v {
				v[k] = walk(item)
			}
			return v
		case []any:
			for i, item := range v {
				v[i] = walk(item)
			}
			return v
		case string:
			if m := pattern.FindStringSubmatch(v); m != nil && m[0] == v {
				value, ok := vars[m[1]]
				if !ok {
					t.Fatalf("no value saved as %q", m[1])
				}
				return value
			}
			return pattern.ReplaceAllStringFunc(v, func(ref string) string {
				return fmt.Sprint(vars[ref[2:len(ref)-1]])
			})
		default:
			return v
		}
	}
	tree = walk(tree)
	// Path parameters are text, whatever the saved value was.
	if m, ok := tree.(map[string]any); ok {
		if path, ok := m["path"].(map[string]any); ok {
			for k, v := range path {
				path[k] = fmt.Sprint(v)
			}
		}
	}
	substituted, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	var s step
	if err := json.Unmarshal(substituted, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// call runs a step: a generated operation by its name, or one of the client-side
// helpers the scenario names.
func call(ctx context.Context, c *Client, s step) (any, error) {
	switch s.Call {
	case "verify_receipt":
		key, err := ParseVerifierKey(fmt.Sprint(s.Args["verifier_key"]))
		if err != nil {
			return nil, err
		}
		document := s.Args["document"].(map[string]any)
		if tamper, ok := s.Args["tamper"].(map[string]any); ok {
			for k, v := range tamper {
				document[k] = v
			}
		}
		raw, err := json.Marshal(document)
		if err != nil {
			return nil, err
		}
		return key.VerifyReceipt(raw)
	case "prove_inclusion":
		key, err := ParseVerifierKey(fmt.Sprint(s.Args["verifier_key"]))
		if err != nil {
			return nil, err
		}
		seq, err := strconv.ParseInt(fmt.Sprint(s.Args["seq"]), 10, 64)
		if err != nil {
			return nil, err
		}
		if s.Args["tamper"] != true {
			inclusion, err := c.ProveInclusion(ctx, seq, key)
			if err != nil {
				return nil, err
			}
			return inclusion.Proof, nil
		}
		// The event altered, and its leaf hash with it: only the path to the signed
		// root can tell.
		inclusion, err := c.ProveInclusion(ctx, seq, key)
		if err != nil {
			return nil, err
		}
		forged := *inclusion.Proof
		event := *forged.Event + " "
		leaf := LeafHash([]byte(event))
		forged.Event = &event
		forged.LeafHash = base64Std(leaf[:])
		return nil, VerifyInclusion(&forged, inclusion.Checkpoint)
	case "all_events":
		var params ListEventsParams
		if err := decodeQuery(s.Query, &params); err != nil {
			return nil, err
		}
		var all []EventView
		for event, err := range c.AllEvents(ctx, params, s.options()...) {
			if err != nil {
				return nil, err
			}
			all = append(all, event)
		}
		return all, nil
	}
	op, ok := operations[s.Call]
	if !ok {
		return nil, fmt.Errorf("the SDK has no operation %q", s.Call)
	}
	return op(ctx, c, s)
}

// check holds a step's outcome to its expectations and saves what it asks to.
func check(t *testing.T, label string, s step, result any, err error, vars map[string]any) {
	t.Helper()
	if want := s.Expect.Error; want != nil {
		var apiErr *Error
		switch {
		case err == nil:
			t.Fatalf("%s: succeeded, expected %s", label, want.Code)
		case errors.As(err, &apiErr):
			if string(apiErr.Code) != want.Code || (want.Status != 0 && apiErr.Status != want.Status) {
				t.Fatalf("%s: got %v, expected %d %s", label, err, want.Status, want.Code)
			}
			for _, member := range s.Expect.Members {
				if _, ok := apiErr.Members[member]; !ok {
					t.Fatalf("%s: the problem has no %q: %v", label, member, apiErr.Members)
				}
			}
		case errors.Is(err, ErrNotVerified):
			if want.Code != "not_verified" {
				t.Fatalf("%s: got %v, expected %s", label, err, want.Code)
			}
		default:
			t.Fatalf("%s: %v", label, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	tree := normalize(t, result)
	for path, want := range s.Expect.Result {
		got, ok := at(tree, path)
		if !ok || !sameJSON(got, want) {
			t.Fatalf("%s: %s is %v, expected %v", label, path, got, want)
		}
	}
	for path, n := range s.Expect.Count {
		if got := length(tree, path); got != n {
			t.Fatalf("%s: %s has %d items, expected %d", label, path, got, n)
		}
	}
	for path, n := range s.Expect.MinCount {
		if got := length(tree, path); got < n {
			t.Fatalf("%s: %s has %d items, expected at least %d", label, path, got, n)
		}
	}
	for name, path := range s.Save {
		value, ok := at(tree, path)
		if !ok {
			t.Fatalf("%s: nothing at %q to save", label, path)
		}
		vars[name] = value
	}
}

// normalize turns a typed result into plain JSON values (numbers kept as written), so
// that a member the SDK's types dropped is missed by the checks.
func normalize(t *testing.T, result any) any {
	raw, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	if err := decoder.Decode(&tree); err != nil {
		t.Fatal(err)
	}
	return tree
}

// at follows a dotted path (`items.0.value`; empty: the value itself).
func at(tree any, path string) (any, bool) {
	if path == "" {
		return tree, true
	}
	for _, part := range strings.Split(path, ".") {
		switch node := tree.(type) {
		case map[string]any:
			next, ok := node[part]
			if !ok {
				return nil, false
			}
			tree = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			tree = node[i]
		default:
			return nil, false
		}
	}
	return tree, true
}

func length(tree any, path string) int {
	v, _ := at(tree, path)
	items, _ := v.([]any)
	return len(items)
}

func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// decodeQuery reads a step's query into a method's parameters (their field names are
// the query's names).
func decodeQuery(query map[string]any, params any) error {
	raw, err := json.Marshal(query)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, params)
}

func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("not a number: %q", s))
	}
	return n
}

func base64Std(b []byte) string {
	return base64.StdEncoding.EncodeToString(b)
}
