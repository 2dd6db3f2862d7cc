package agentvault

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ApprovalNotice tells approvers about an approval request: its opening
// (approval.requested), its last needed approval (approval.granted), a
// denial or cancellation (approval.denied) or its expiry
// (approval.timed_out). It holds no secret.
//
// ID identifies the notice: one approval's one event has the same ID in
// every process and on every retry (an expiry notice's ID works the same
// way), so a receiver can de-duplicate deliveries and refuse replays by it
// (see VerifyWebhookOnce).
//
// While the request is pending, Statement and DenyStatement hold the
// statements an approver signs to approve or deny it (see
// ApprovalStatement), so that a receiver (a chat bot, a web page) can
// collect a signature from a human and pass it to ApproveSigned or
// DenySigned.
type ApprovalNotice struct {
	ID            string   `json:"id"`
	Event         string   `json:"event"`
	Approval      Approval `json:"approval"`
	Statement     string   `json:"statement,omitempty"`
	DenyStatement string   `json:"deny_statement,omitempty"`
}

// Notifier is told about approval requests and decisions. The vault calls
// it synchronously after the change is stored, with the caller's context,
// its deadline brought forward by half the time left (at most a second) so
// that the call can still write its audit event: when that context ends
// delivery stops, and the call that made the change returns within the
// caller's deadline. An error is ignored by the vault (the change stands; approvers
// can still find the request with ListApprovals), so a Notifier should
// also bound its own time. Implementations must be safe for concurrent use. A Notifier that also implements ExpiryNotifier
// (as WebhookNotifier does) is told about expiry notices too.
type Notifier interface {
	Notify(ctx context.Context, n ApprovalNotice) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n ApprovalNotice) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n ApprovalNotice) error { return f(ctx, n) }

func (v *AgentVault) notify(ctx context.Context, event string, rec *approvalRecord) {
	if len(v.opts.access.notifiers) == 0 || rec == nil {
		return
	}
	id := v.recordMAC("approval-notice-id", rec.ID, []byte(event))
	n := ApprovalNotice{ID: "ntf_" + hex.EncodeToString(id[:12]), Event: event, Approval: rec.public(v.opts.now())}
	if n.Approval.State == ApprovalPending {
		n.Statement, n.DenyStatement = string(v.statement(rec, DecisionApprove)), string(v.statement(rec, DecisionDeny))
	}
	ctx, cancel := notifyContext(ctx)
	defer cancel()
	for _, nt := range v.opts.access.notifiers {
		_ = nt.Notify(ctx, n)
	}
}

// notifyReserveMax bounds the time kept back from notifiers for the rest of
// the caller's operation (its audit event): half the time left, at most
// this.
const notifyReserveMax = time.Second

// notifyContext returns the context notifiers get: ctx, with its deadline
// (if any) brought forward as described on Notifier.
func notifyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, d.Add(-min(time.Until(d)/2, notifyReserveMax)))
}

// Webhook headers.
const (
	WebhookSignatureHeader = "X-Agentvault-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	WebhookTimestampHeader = "X-Agentvault-Timestamp" // Unix seconds, part of the signed message
	WebhookEventHeader     = "X-Agentvault-Event"
)

// WebhookNotifier POSTs each ApprovalNotice (and ExpiryNotice) as JSON to
// a URL, signed with HMAC-SHA256 so the receiver can check it came from the
// vault and is fresh: the signature header is "sha256=" + hex(HMAC(secret,
// timestamp + "." + body)), with the timestamp header in Unix seconds
// (VerifyWebhook checks both). The body's "id" names the notice, the same
// on every retry: a receiver that refuses ids it has seen (VerifyWebhookOnce
// with a ReplayCache) is safe from a captured request replayed within the
// allowed skew. A request that fails (network error, 5xx or 429) is
// retried with a growing pause, up to MaxAttempts in all; 2xx is success;
// other statuses are not retried. Redirects are never followed (a 3xx is a
// failure): the signed body goes only to URL. Delivery stops when the
// caller's context ends.
//
// Set its fields before first use; it is then safe for concurrent use.
type WebhookNotifier struct {
	URL         string
	Secret      []byte        // the HMAC key shared with the receiver (at least 16 bytes)
	Client      *http.Client  // default: a client with Timeout
	Timeout     time.Duration // per attempt; default 10s
	MaxAttempts int           // default 3
	Backoff     time.Duration // pause before the 2nd attempt, doubling; default 500ms
	Now         func() time.Time
}

// NewWebhookNotifier returns a WebhookNotifier with the defaults, checking
// the URL (http or https) and the secret (at least 16 bytes).
func NewWebhookNotifier(rawURL string, secret []byte) (*WebhookNotifier, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: webhook URL must be an absolute http or https URL", ErrInvalidInput)
	}
	if len(secret) < 16 {
		return nil, fmt.Errorf("%w: webhook secret must be at least 16 bytes", ErrInvalidInput)
	}
	return &WebhookNotifier{URL: rawURL, Secret: append([]byte(nil), secret...)}, nil
}

// Notify delivers n, retrying as described on WebhookNotifier.
func (w *WebhookNotifier) Notify(ctx context.Context, n ApprovalNotice) error {
	return w.send(ctx, n.Event, n)
}

// NotifyExpiry delivers an expiry notice the same way (the event header is
// n.Event: secret.expiring or secret.expired). WebhookNotifier is thus
// also an ExpiryNotifier.
func (w *WebhookNotifier) NotifyExpiry(ctx context.Context, n ExpiryNotice) error {
	return w.send(ctx, n.Event, n)
}

var _ ExpiryNotifier = (*WebhookNotifier)(nil)

func (w *WebhookNotifier) send(ctx context.Context, event string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	attempts, pause := w.MaxAttempts, w.Backoff
	if attempts <= 0 {
		attempts = 3
	}
	if pause <= 0 {
		pause = 500 * time.Millisecond
	}
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			pause *= 2
		}
		retry, err := w.post(ctx, event, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			break
		}
	}
	return fmt.Errorf("agentvault: webhook: %w", last)
}

func (w *WebhookNotifier) post(ctx context.Context, event string, body []byte) (retry bool, err error) {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(WebhookTimestampHeader, ts)
	req.Header.Set(WebhookSignatureHeader, "sha256="+webhookMAC(w.Secret, ts, body))
	req.Header.Set(WebhookEventHeader, event)
	client := http.Client{Timeout: timeout}
	if w.Client != nil {
		client = *w.Client
	}
	client.CheckRedirect = noRedirects
	resp, err := client.Do(req)
	if err != nil {
		// The URL may carry credentials: report the failure without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("status %d", resp.StatusCode)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return false, fmt.Errorf("status %d (redirects are not followed)", resp.StatusCode)
	}
	return false, fmt.Errorf("status %d", resp.StatusCode)
}

// noRedirects makes an http.Client return a redirect response as it is,
// so that the signed body is never re-sent to another URL.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func webhookMAC(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a received webhook request's signature and that its
// timestamp is within maxSkew of now; receivers call it before trusting the
// body. It returns the body. It does not stop a captured request from being
// replayed while its timestamp is fresh: VerifyWebhookOnce does.
func VerifyWebhook(r *http.Request, secret []byte, maxSkew time.Duration, now time.Time) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	ts := r.Header.Get(WebhookTimestampHeader)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errors.New("agentvault: webhook: missing or bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxSkew || d < -maxSkew {
		return nil, errors.New("agentvault: webhook: timestamp outside the allowed skew")
	}
	want := "sha256=" + webhookMAC(secret, ts, body)
	if !hmac.Equal([]byte(r.Header.Get(WebhookSignatureHeader)), []byte(want)) {
		return nil, errors.New("agentvault: webhook: bad signature")
	}
	return body, nil
}
