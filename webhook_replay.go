package agentvault

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// ErrWebhookReplay is returned (wrapped) by VerifyWebhookOnce when a
// correctly signed, fresh request carries a notice id already seen: a
// captured request replayed, or a retry of a delivery already received.
var ErrWebhookReplay = errors.New("agentvault: webhook: notice already received")

// maxNoticeID bounds the id VerifyWebhookOnce accepts.
const maxNoticeID = 128

// VerifyWebhookOnce is VerifyWebhook with replay protection. After checking
// the signature and the timestamp, it reads the notice's id (the "id" field
// of the signed JSON body, as in ApprovalNotice and ExpiryNotice) and asks
// seen(id), which must report whether the id was received before and
// record it, atomically. A seen id fails with ErrWebhookReplay; a body
// without an id fails too. It returns the body.
//
// seen must remember an id for at least 2×maxSkew, the longest time one
// signed request passes the timestamp check. ReplayCache.Seen does, in
// memory, for a receiver in one process; receivers in several processes
// need a shared store (for example Redis SET key NX with that expiry).
//
// The vault retries a delivery that failed (5xx, 429, network error) with
// the same id: a receiver that answers with such an error after seen
// recorded the id should forget it (ReplayCache.Forget), or the retry is
// refused as a replay. A receiver that gets ErrWebhookReplay should answer
// 2xx if the original may have been handled, so the vault stops retrying.
func VerifyWebhookOnce(r *http.Request, secret []byte, maxSkew time.Duration, now time.Time, seen func(id string) bool) ([]byte, error) {
	body, err := VerifyWebhook(r, secret, maxSkew, now)
	if err != nil {
		return nil, err
	}
	var n struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &n); err != nil || n.ID == "" || len(n.ID) > maxNoticeID {
		return nil, errors.New("agentvault: webhook: body has no notice id")
	}
	if seen(n.ID) {
		return nil, fmt.Errorf("%w: %s", ErrWebhookReplay, n.ID)
	}
	return body, nil
}

// ReplayCache is an in-memory set of the notice ids a webhook receiver
// has accepted, each kept for the window given to NewReplayCache, for
// VerifyWebhookOnce. It is safe for concurrent use; the zero value is not
// usable.
type ReplayCache struct {
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	until map[string]time.Time // id → when it may be forgotten
	sweep time.Time            // when expired ids are next dropped
}

// NewReplayCache returns a ReplayCache keeping each id for window, which
// should be at least twice the maxSkew given to VerifyWebhookOnce.
func NewReplayCache(window time.Duration) *ReplayCache {
	return &ReplayCache{window: window, now: time.Now, until: make(map[string]time.Time)}
}

// Seen reports whether id was recorded within the window, and records it
// if not.
func (c *ReplayCache) Seen(id string) bool {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.sweep) {
		for k, t := range c.until {
			if now.After(t) {
				delete(c.until, k)
			}
		}
		c.sweep = now.Add(c.window)
	}
	if t, ok := c.until[id]; ok && !now.After(t) {
		return true
	}
	c.until[id] = now.Add(c.window)
	return false
}

// Forget drops id, so that a retry of its delivery is accepted again.
func (c *ReplayCache) Forget(id string) {
	c.mu.Lock()
	delete(c.until, id)
	c.mu.Unlock()
}
