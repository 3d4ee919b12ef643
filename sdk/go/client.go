// Package baomi is the Go client of Baomi, the personal-data protection service: one method
// per call of the v1 API (generated from the server's OpenAPI document), with API keys,
// subject tokens and client certificates, timeouts, retries of idempotent calls on 503 and
// 429 (honouring Retry-After), batches chunked to the server's limit, errors typed by
// their stable code, and the verification of the audit trail's proofs and of signed
// receipts on the client, so that a client need not take the server's word.
//
// It uses the standard library only.
package baomi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is this SDK's version, sent in the User-Agent.
const Version = "0.1.0"

// DefaultBatchLimit is the batch size used when the server does not say its own
// (`max_batch_items`, 1,000 by default).
const DefaultBatchLimit = 1000

// Client calls one Baomi server with one credential. It is safe for concurrent use.
// Derive a client with another credential or operator with [Client.With]: the two share
// their connections.
type Client struct {
	base       *url.URL
	http       *http.Client
	credential string
	operator   string
	retries    int
	backoff    time.Duration
	maxWait    time.Duration
	limits     *batchLimit
}

// batchLimit is the server's largest batch, asked once and shared by derived clients.
type batchLimit struct {
	mu    sync.Mutex
	fixed int
	known int
}

// Option configures a [Client].
type Option func(*Client) error

// New returns a client of the server at baseURL (`https://baomi.internal:8443`).
// Without options it sends no credential, times out after 30 seconds, and retries an
// idempotent call three times.
func New(baseURL string, opts ...Option) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("baomi: the base URL is not an absolute URL")
	}
	c := &Client{
		base:    base,
		http:    &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()},
		retries: 3,
		backoff: 200 * time.Millisecond,
		maxWait: 30 * time.Second,
		limits:  &batchLimit{},
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// With returns a copy of the client with more options (another credential, another
// operator), sharing the connections and what it learned of the server.
func (c *Client) With(opts ...Option) (*Client, error) {
	derived := *c
	for _, opt := range opts {
		if err := opt(&derived); err != nil {
			return nil, err
		}
	}
	return &derived, nil
}

// WithAPIKey authenticates as an API key (`bm_<id>_<secret>`).
func WithAPIKey(secret string) Option {
	return func(c *Client) error {
		c.credential = secret
		return nil
	}
}

// WithSubjectToken authenticates as a subject token (`bmst_…`), for an end user's own
// calls (`/v1/me`).
func WithSubjectToken(token string) Option {
	return WithAPIKey(token)
}

// WithOperator names the platform staff member every call acts for
// (`X-Baomi-Operator`, recorded in the audit trail); [Operator] overrides it per call.
func WithOperator(operator string) Option {
	return func(c *Client) error {
		c.operator = operator
		return nil
	}
}

// WithTimeout bounds each attempt of a call (30 seconds by default).
func WithTimeout(timeout time.Duration) Option {
	return func(c *Client) error {
		// A copy: a derived client's timeout is not its parent's.
		client := *c.http
		client.Timeout = timeout
		c.http = &client
		return nil
	}
}

// WithHTTPClient sends through the given client (its transport, its timeout).
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) error {
		c.http = h
		return nil
	}
}

// WithTLS sets the TLS configuration: a private CA in RootCAs, and the client
// certificate a key bound to one must present (mutual TLS) in Certificates.
func WithTLS(config *tls.Config) Option {
	return func(c *Client) error {
		transport, ok := c.http.Transport.(*http.Transport)
		if !ok {
			return fmt.Errorf("baomi: WithTLS needs an *http.Transport")
		}
		transport = transport.Clone()
		transport.TLSClientConfig = config
		client := *c.http
		client.Transport = transport
		c.http = &client
		return nil
	}
}

// WithClientCertificate presents the certificate and key in the PEM files (mutual TLS),
// trusting the system's roots, or only those in caFile when it is not empty.
func WithClientCertificate(certFile, keyFile, caFile string) Option {
	return func(c *Client) error {
		config, err := clientTLS(certFile, keyFile, caFile)
		if err != nil {
			return err
		}
		return WithTLS(config)(c)
	}
}

// WithRetries sets how often an idempotent call is sent again after a 503, a 429 or a
// failed connection (3 by default; 0 never), the first wait (doubled each time, with
// jitter), and the longest Retry-After honoured: a longer one (a quota spent for the
// hour) is returned at once as the error it is.
func WithRetries(times int, backoff, maxWait time.Duration) Option {
	return func(c *Client) error {
		if times < 0 || backoff < 0 || maxWait < 0 {
			return fmt.Errorf("baomi: negative retry settings")
		}
		c.retries, c.backoff, c.maxWait = times, backoff, maxWait
		return nil
	}
}

// WithBatchLimit sets the largest batch sent in one request, instead of asking the
// server (its OpenAPI document says its `max_batch_items`).
func WithBatchLimit(items int) Option {
	return func(c *Client) error {
		if items < 1 {
			return fmt.Errorf("baomi: a batch limit must be positive")
		}
		c.limits = &batchLimit{fixed: items}
		return nil
	}
}

// CallOption sets a header of one call.
type CallOption func(*callOptions)

type callOptions struct {
	requestID    string
	operator     string
	operatorRole string
}

// RequestID sends your correlation id (`X-Request-Id`, 1–64 of `A-Za-z0-9-_.`); the audit
// events of the call carry it.
func RequestID(id string) CallOption {
	return func(o *callOptions) { o.requestID = id }
}

// Operator names the staff member this call acts for (`X-Baomi-Operator`).
func Operator(operator string) CallOption {
	return func(o *callOptions) { o.operator = operator }
}

// OperatorRole picks another of the key's masking roles for this call
// (`X-Baomi-Operator-Role`).
func OperatorRole(role string) CallOption {
	return func(o *callOptions) { o.operatorRole = role }
}

// Ptr returns a pointer to v, for the optional members of requests.
func Ptr[T any](v T) *T {
	return &v
}

// request is one call, as the generated methods describe it.
type request struct {
	method     string
	path       string
	query      url.Values
	body       any
	idempotent bool
}

// do sends a call, retrying it when it is idempotent and the server asks to, and decodes
// a 2xx answer into out (a *[]byte takes the body as it is).
func (c *Client) do(ctx context.Context, r request, out any, opts []CallOption) error {
	var o callOptions
	for _, opt := range opts {
		opt(&o)
	}
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("baomi: encoding the request: %w", err)
		}
	}
	// The generated methods escape each path parameter themselves.
	target := c.base.String() + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		status, header, body, err := c.send(ctx, r.method, target, payload, o)
		if err != nil {
			if r.idempotent && attempt < c.retries && ctx.Err() == nil {
				if waitErr := sleep(ctx, c.wait(attempt)); waitErr != nil {
					return waitErr
				}
				continue
			}
			return fmt.Errorf("baomi: %s %s: %w", r.method, r.path, err)
		}
		if status >= 200 && status < 300 {
			return decode(body, out)
		}
		problem := problemOf(status, header, body)
		if r.idempotent && attempt < c.retries && (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) {
			wait := c.wait(attempt)
			if problem.RetryAfter > 0 {
				if problem.RetryAfter > c.maxWait {
					return problem
				}
				wait = problem.RetryAfter
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		return problem
	}
}

func (c *Client) send(ctx context.Context, method, target string, payload []byte, o callOptions) (int, http.Header, []byte, error) {
	var reader io.Reader
	if payload != nil {
		reader = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return 0, nil, nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "baomi-go/"+Version)
	if c.credential != "" {
		req.Header.Set("Authorization", "Bearer "+c.credential)
	}
	if operator := firstNonEmpty(o.operator, c.operator); operator != "" {
		req.Header.Set("X-Baomi-Operator", operator)
	}
	if o.operatorRole != "" {
		req.Header.Set("X-Baomi-Operator-Role", o.operatorRole)
	}
	if o.requestID != "" {
		req.Header.Set("X-Request-Id", o.requestID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, body, nil
}

// wait is the pause before retry number attempt+1: the backoff doubled each time, with up
// to half of it again at random so that many clients do not retry in step.
func (c *Client) wait(attempt int) time.Duration {
	d := c.backoff << min(attempt, 10)
	if d <= 0 {
		return 0
	}
	return d + time.Duration(rand.Int64N(int64(d)/2+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func decode(body []byte, out any) error {
	switch out := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*out = body
		return nil
	default:
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("baomi: decoding the answer: %w", err)
		}
		return nil
	}
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// eachChunk sends items in chunks of at most the server's batch limit, in order, and stops
// at the first chunk that fails. An empty batch is sent as it is (the server says why it
// refuses it).
func eachChunk[T any](ctx context.Context, c *Client, items []T, send func([]T) error) error {
	limit := c.batchLimit(ctx)
	if len(items) <= limit {
		return send(items)
	}
	for start := 0; start < len(items); start += limit {
		if err := send(items[start:min(start+limit, len(items))]); err != nil {
			return &BatchError{Sent: start, Err: err}
		}
	}
	return nil
}

// BatchError is the failure of one chunk of a batch larger than the server's limit: the
// items before Sent were answered (the method returns their results with the error), the
// rest were not sent.
type BatchError struct {
	Sent int
	Err  error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("baomi: the batch failed after %d items: %v", e.Sent, e.Err)
}

// Unwrap returns the chunk's error.
func (e *BatchError) Unwrap() error { return e.Err }

// batchLimit is the server's `max_batch_items`, read once from its OpenAPI document
// (DefaultBatchLimit when it cannot be read).
func (c *Client) batchLimit(ctx context.Context) int {
	l := c.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fixed > 0 {
		return l.fixed
	}
	if l.known > 0 {
		return l.known
	}
	l.known = DefaultBatchLimit
	var doc struct {
		Components struct {
			Schemas struct {
				EncryptRequest struct {
					Properties struct {
						Items struct {
							MaxItems int `json:"maxItems"`
						} `json:"items"`
					} `json:"properties"`
				} `json:"EncryptRequest"`
			} `json:"schemas"`
		} `json:"components"`
	}
	var raw []byte
	if err := c.do(ctx, request{method: "GET", path: "/openapi.json", idempotent: true}, &raw, nil); err == nil {
		if json.Unmarshal(raw, &doc) == nil && doc.Components.Schemas.EncryptRequest.Properties.Items.MaxItems > 0 {
			l.known = doc.Components.Schemas.EncryptRequest.Properties.Items.MaxItems
		}
	}
	return l.known
}

// Error is a problem the server answered (`application/problem+json`), typed by its
// stable code. Test for a code with [IsCode].
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the stable, machine-readable code (`auth.view_not_granted`).
	Code Code
	// Title is the kind of problem.
	Title string
	// Detail says what went wrong in this request; never personal information.
	Detail string
	// RequestID names the request in the server's log and the audit trail.
	RequestID string
	// RetryAfter is how long the server asked to wait (429 and 503).
	RetryAfter time.Duration
	// Members holds every member of the problem, among them a quota's `limit` and `scope`.
	Members map[string]json.RawMessage
}

func (e *Error) Error() string {
	return fmt.Sprintf("baomi: %d %s: %s (request %s)", e.Status, e.Code, e.Detail, e.RequestID)
}

// IsCode reports whether err is (or wraps) a problem with the given code.
func IsCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func problemOf(status int, header http.Header, body []byte) *Error {
	e := &Error{Status: status, RequestID: header.Get("X-Request-Id"), Members: map[string]json.RawMessage{}}
	_ = json.Unmarshal(body, &e.Members)
	text := func(name string) string {
		var s string
		_ = json.Unmarshal(e.Members[name], &s)
		return s
	}
	e.Code, e.Title, e.Detail = Code(text("code")), text("title"), text("detail")
	if e.Code == "" {
		// Not a problem document: a proxy's answer, or hyper's refusal before Baomi.
		e.Code, e.Title = "http."+Code(strconv.Itoa(status)), http.StatusText(status)
	}
	if id := text("request_id"); id != "" {
		e.RequestID = id
	}
	if seconds, err := strconv.Atoi(header.Get("Retry-After")); err == nil && seconds >= 0 {
		e.RetryAfter = time.Duration(seconds) * time.Second
	}
	return e
}
