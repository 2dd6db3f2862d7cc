package agentvault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

var webhookSecret = []byte("0123456789abcdef-webhook")

func TestWebhookNotifier(t *testing.T) {
	var calls atomic.Int32
	got := make(chan agentvault.ApprovalNotice, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable) // two failures, then success
			return
		}
		body, err := agentvault.VerifyWebhook(r, webhookSecret, time.Minute, time.Now())
		if err != nil {
			t.Errorf("VerifyWebhook: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var n agentvault.ApprovalNotice
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("body: %v", err)
		}
		got <- n
	}))
	defer srv.Close()
	wh, err := agentvault.NewWebhookNotifier(srv.URL, webhookSecret)
	require.NoError(t, err)
	wh.Backoff = time.Millisecond
	v, _ := newVault(t, agentvault.WithNotifier(wh))
	createTier(t, v, "app/key", "x", agentvault.TierSensitive)
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, Description: "deploy"})
	n := <-got
	assert.Equal(t, agentvault.EventApprovalRequested, n.Event)
	assert.Equal(t, id, n.Approval.ID)
	assert.Equal(t, "deploy", n.Approval.Description)
	assert.Equal(t, int32(3), calls.Load(), "two retries")
}

func TestWebhookNotifierBounded(t *testing.T) {
	var calls atomic.Int32
	status := http.StatusInternalServerError
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	wh, err := agentvault.NewWebhookNotifier(srv.URL, webhookSecret)
	require.NoError(t, err)
	wh.Backoff, wh.MaxAttempts = time.Millisecond, 4
	err = wh.Notify(ctx, agentvault.ApprovalNotice{Event: "x"})
	assert.Error(t, err)
	assert.Equal(t, int32(4), calls.Load(), "MaxAttempts bounds the retries")

	calls.Store(0)
	status = http.StatusBadRequest
	assert.Error(t, wh.Notify(ctx, agentvault.ApprovalNotice{Event: "x"}))
	assert.Equal(t, int32(1), calls.Load(), "4xx is not retried")

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}))
	defer slow.Close()
	wh2, err := agentvault.NewWebhookNotifier(slow.URL, webhookSecret)
	require.NoError(t, err)
	wh2.Timeout, wh2.MaxAttempts = 50*time.Millisecond, 1
	start := time.Now()
	assert.Error(t, wh2.Notify(context.Background(), agentvault.ApprovalNotice{Event: "x"}))
	assert.Less(t, time.Since(start), 2*time.Second, "the timeout bounds an attempt")

	_, err = agentvault.NewWebhookNotifier("ftp://x", webhookSecret)
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput)
	_, err = agentvault.NewWebhookNotifier(srv.URL, []byte("short"))
	assert.ErrorIs(t, err, agentvault.ErrInvalidInput)
}

func TestVerifyWebhookRejects(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set(agentvault.WebhookTimestampHeader, "1")
	req.Header.Set(agentvault.WebhookSignatureHeader, "sha256=00")
	_, err := agentvault.VerifyWebhook(req, webhookSecret, time.Minute, time.Unix(1, 0))
	assert.Error(t, err, "bad signature")
	_, err = agentvault.VerifyWebhook(req, webhookSecret, time.Minute, time.Unix(1000, 0))
	assert.Error(t, err, "stale timestamp")
}

// TestWebhookNotifierRefusesRedirect: issue 18 — a webhook answering with a
// redirect to another host must not make the notifier re-send the signed
// body there; a 3xx is a failure, not retried.
func TestWebhookNotifierRefusesRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			http.Redirect(w, r, other.URL+"/steal", code)
		}))
		for _, client := range []*http.Client{nil, {}} { // the default client and a caller's
			calls.Store(0)
			wh, err := agentvault.NewWebhookNotifier(srv.URL, webhookSecret)
			require.NoError(t, err)
			wh.Backoff, wh.Client = time.Millisecond, client
			err = wh.Notify(ctx, agentvault.ApprovalNotice{Event: "x"})
			require.Error(t, err, "Notify through a %d redirect", code)
			assert.Contains(t, err.Error(), "redirects are not followed")
			assert.Equal(t, int32(1), calls.Load(), "a redirect is not retried")
		}
		srv.Close()
	}
	assert.Zero(t, elsewhere.Load(), "the signed body reached the redirect's target")
}

// TestNotifierBoundedByCallerDeadline: issue 18 — with a webhook that never
// answers, RequestToken under a caller's deadline must not outlive it: the
// Notifier gets the caller's context (its deadline and cancellation), and a
// WebhookNotifier stops at the deadline without retrying.
func TestNotifierBoundedByCallerDeadline(t *testing.T) {
	var mu sync.Mutex
	var deadlines []time.Time
	spy := agentvault.NotifierFunc(func(c context.Context, n agentvault.ApprovalNotice) error {
		d, ok := c.Deadline()
		if !ok {
			t.Errorf("Notifier context for %s has no deadline", n.Event)
		}
		mu.Lock()
		deadlines = append(deadlines, d)
		mu.Unlock()
		return nil
	})
	release := make(chan struct{})
	var calls atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	wh, err := agentvault.NewWebhookNotifier(hang.URL, webhookSecret) // 10 s per attempt, 3 attempts
	require.NoError(t, err)

	v, _ := newVault(t, agentvault.WithNotifier(spy), agentvault.WithNotifier(wh))
	createTier(t, v, "app/key", "x", agentvault.TierSensitive)
	deadline := time.Now().Add(300 * time.Millisecond)
	c, cancel := context.WithDeadline(bob, deadline)
	defer cancel()
	_, err = v.RequestToken(c, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	require.ErrorIs(t, err, agentvault.ErrApprovalRequired, "the request is stored whatever the notifier does")
	mu.Lock()
	if assert.Len(t, deadlines, 1) {
		assert.WithinRange(t, deadlines[0], deadline.Add(-time.Second), deadline, "the Notifier's deadline is the caller's, less a reserve")
	}
	mu.Unlock()
	assert.Equal(t, int32(1), calls.Load(), "the webhook was not retried past the caller's deadline")
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventApprovalRequested})
	require.NoError(t, err)
	assert.Len(t, evs, 1, "the request's audit event is written")

	c, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = wh.Notify(c, agentvault.ApprovalNotice{Event: "x"})
	assert.ErrorIs(t, err, context.DeadlineExceeded, "WebhookNotifier.Notify past its caller's deadline")
}

// capturedRequest is a webhook request as an eavesdropper would record it.
type capturedRequest struct {
	header http.Header
	body   []byte
}

func (c capturedRequest) replay(t *testing.T, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(c.body))
	require.NoError(t, err)
	req.Header = c.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// TestVerifyWebhookOnceRefusesReplay: issue 18 — a captured webhook request
// verifies again with VerifyWebhook while its timestamp is fresh;
// VerifyWebhookOnce with a ReplayCache refuses it by the notice's signed
// id, which stays the same across retries of one notice and differs
// between notices.
func TestVerifyWebhookOnceRefusesReplay(t *testing.T) {
	cache := agentvault.NewReplayCache(2 * time.Minute)
	var mu sync.Mutex
	var captured []capturedRequest
	var ids []string
	var replays atomic.Int32
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		captured = append(captured, capturedRequest{r.Header.Clone(), body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first delivery fails and is retried
			return
		}
		body, err := agentvault.VerifyWebhookOnce(r, webhookSecret, time.Minute, time.Now(), cache.Seen)
		if errors.Is(err, agentvault.ErrWebhookReplay) {
			replays.Add(1)
			w.WriteHeader(http.StatusConflict)
			return
		}
		if !assert.NoError(t, err, "VerifyWebhookOnce") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var n agentvault.ApprovalNotice
		require.NoError(t, json.Unmarshal(body, &n))
		mu.Lock()
		ids = append(ids, n.ID)
		mu.Unlock()
	}))
	defer srv.Close()
	wh, err := agentvault.NewWebhookNotifier(srv.URL, webhookSecret)
	require.NoError(t, err)
	wh.Backoff = time.Millisecond
	v, _ := newVault(t, agentvault.WithNotifier(wh))
	createTier(t, v, "app/key", "x", agentvault.TierSensitive)
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	_, err = v.Approve(alice, id)
	require.NoError(t, err)

	mu.Lock()
	require.Len(t, captured, 3, "requested (failed, retried), granted")
	require.Len(t, ids, 2)
	assert.NotEqual(t, ids[0], ids[1], "two notices, two ids")
	var first, retry agentvault.ApprovalNotice
	require.NoError(t, json.Unmarshal(captured[0].body, &first))
	require.NoError(t, json.Unmarshal(captured[1].body, &retry))
	assert.Equal(t, first.ID, retry.ID, "a retry carries its notice's id")
	assert.Regexp(t, `^ntf_[0-9a-f]{24}$`, first.ID)
	replayed := captured[2]
	mu.Unlock()

	// The replayed request still passes the signature and freshness check...
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(replayed.body))
	req.Header = replayed.header.Clone()
	_, err = agentvault.VerifyWebhook(req, webhookSecret, time.Minute, time.Now())
	require.NoError(t, err, "VerifyWebhook alone accepts a replay")
	// ...but not the replay check.
	resp := replayed.replay(t, srv.URL)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, int32(1), replays.Load())

	cache.Forget(ids[1])
	assert.Equal(t, http.StatusOK, replayed.replay(t, srv.URL).StatusCode, "accepted again after Forget")

	// A signed body without an id is refused.
	var noID capturedRequest
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		noID = capturedRequest{r.Header.Clone(), body}
	}))
	defer rec.Close()
	wh, err = agentvault.NewWebhookNotifier(rec.URL, webhookSecret)
	require.NoError(t, err)
	require.NoError(t, wh.NotifyExpiry(ctx, agentvault.ExpiryNotice{Event: "x"}))
	req = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(noID.body))
	req.Header = noID.header
	_, err = agentvault.VerifyWebhookOnce(req, webhookSecret, time.Minute, time.Now(), cache.Seen)
	assert.ErrorContains(t, err, "no notice id")
}

// TestExpiredReadNotifierBoundedByCallerDeadline: issue 18 — the sibling
// path of TestNotifierBoundedByCallerDeadline: the first refused read of an
// expired secret sends the "expired" notice under the reader's deadline,
// not without one.
func TestExpiredReadNotifierBoundedByCallerDeadline(t *testing.T) {
	clk := newClock()
	var got []bool
	spy := agentvault.ExpiryNotifierFunc(func(c context.Context, n agentvault.ExpiryNotice) error {
		_, ok := c.Deadline()
		got = append(got, ok)
		select { // a webhook that never answers
		case <-c.Done():
			return c.Err()
		case <-time.After(5 * time.Second):
			return errors.New("timed out")
		}
	})
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(spy))
	expiring(t, v, "a/b", clk.Now().Add(time.Hour))
	clk.Add(time.Hour)
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err := v.GetSecret(c, "a/b")
	require.ErrorIs(t, err, agentvault.ErrExpired)
	assert.Equal(t, []bool{true}, got, "the notifier had the reader's deadline")
	assert.Equal(t, []string{"secret.expired service denied secret_expired"}, expiredEvents(t, v), "the read is audited")
}
