package agentvault_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
