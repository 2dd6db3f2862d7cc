package agentvault

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/agentvault/agentvault/internal/record"
)

// EventSecretExpiring is the event of an expiry notice (7 days or 1 day
// before a secret expires): the ExpiryNotice's Event, the webhook's event
// header, and the audit event recorded when the notice is delivered
// (Reason "notice_7d" or "notice_1d").
const EventSecretExpiring = "secret.expiring"

// The notices of a secret's expiry, and when they are due.
const (
	Notice7d      = "7d"      // due 7 days before the expiry
	Notice1d      = "1d"      // due 1 day before the expiry
	NoticeExpired = "expired" // due at the expiry
)

// ExpiryNotice tells about a secret's coming or passed expiry. It holds no
// secret value. ID is the same for every delivery of one notice (a repeat
// after a crash, see CheckExpirations), so receivers can drop duplicates.
type ExpiryNotice struct {
	ID        string     `json:"id"`
	Event     string     `json:"event"`  // EventSecretExpiring or EventSecretExpired
	Notice    string     `json:"notice"` // Notice7d, Notice1d or NoticeExpired
	Path      string     `json:"path"`
	Type      SecretType `json:"type"`
	Tier      AccessTier `json:"tier"`
	Version   string     `json:"version"` // the active version
	ExpiresAt time.Time  `json:"expires_at"`
	Attempt   int        `json:"attempt"` // 1, or more when a crashed delivery is retried
}

// ExpiryNotifier is told about expiry notices. Add one with
// WithExpiryNotifier; a Notifier given to WithNotifier that also implements
// ExpiryNotifier (WebhookNotifier does) receives them too. An error makes
// the vault retry the notice at the next pass (to every notifier).
// Implementations must be safe for concurrent use and bound their own time
// (below the claim lease, WithLifecycleLease).
type ExpiryNotifier interface {
	NotifyExpiry(ctx context.Context, n ExpiryNotice) error
}

// ExpiryNotifierFunc adapts a function to ExpiryNotifier.
type ExpiryNotifierFunc func(ctx context.Context, n ExpiryNotice) error

// NotifyExpiry calls f.
func (f ExpiryNotifierFunc) NotifyExpiry(ctx context.Context, n ExpiryNotice) error { return f(ctx, n) }

// WithExpiryNotifier adds an ExpiryNotifier told about expiry notices.
// Default none (besides WithNotifier notifiers that implement it).
func WithExpiryNotifier(n ExpiryNotifier) Option {
	return func(o *options) { o.lifecycle.notifiers = append(o.lifecycle.notifiers, n) }
}

func (v *AgentVault) expiryNotifiers() []ExpiryNotifier {
	out := append([]ExpiryNotifier(nil), v.opts.lifecycle.notifiers...)
	for _, n := range v.opts.access.notifiers {
		if en, ok := n.(ExpiryNotifier); ok {
			out = append(out, en)
		}
	}
	return out
}

// ExpiryReport reports a CheckExpirations pass.
type ExpiryReport struct {
	Checked int            `json:"checked"` // secrets with an expiry examined
	Sent    []ExpiryNotice `json:"sent"`    // notices this call delivered
	Expired []string       `json:"expired"` // paths whose expiry this call recorded (secret.expired)
	Failed  int            `json:"failed"`  // notices whose delivery failed (retried at the next pass)
}

// CheckExpirations sends the expiry notices that are due and records the
// expiries that have passed, for every secret: the 7-day notice from 7 days
// before a secret's expiry (exactly: at ExpiresAt−7×24h, not a nanosecond
// earlier), the 1-day notice from 1 day before, and at the expiry a
// secret.expired audit event (actor system, Reason "notice_expired") and an
// "expired" notice, unless a refused read got there first (its own
// secret.expired event, outcome denied, is then the record). Each
// is done once per expiry instant: extending or clearing the expiry re-arms
// them. When a pass comes late, only the latest notice due is sent (the
// 1-day notice supersedes a 7-day one not yet sent; no notice is sent
// after the expiry, only the expired record).
//
// Call it from your own cron, or let Run call it. Any number of processes
// may call it at once: every notice is claimed in the backend (a
// create-only write) before it is sent and marked done after, so it is sent
// once. A notice whose sender crashed is retried once its claim's lease
// (WithLifecycleLease) has passed, so a restart loses none; a crash between
// delivering a notice and marking it done therefore repeats it (at least
// once, never lost; the repeat has the same ID). A failed delivery is
// retried at the next pass.
//
// With no ExpiryNotifier configured, notices are not claimed nor sent; the
// expired record still is.
func (v *AgentVault) CheckExpirations(ctx context.Context) (*ExpiryReport, error) {
	rep := &ExpiryReport{Sent: []ExpiryNotice{}, Expired: []string{}}
	now := v.opts.now()
	notifiers := v.expiryNotifiers()
	var errs []error
	err := v.scan(ctx, func(path string, rec *record.Secret) error {
		if rec.ExpiresAt == 0 {
			return nil
		}
		rep.Checked++
		kind := noticeDue(rec.ExpiresAt, now)
		if kind == "" || (kind != NoticeExpired && len(notifiers) == 0) {
			return nil
		}
		n, sent, err := v.deliver(ctx, rec, kind, notifiers, true)
		switch {
		case err != nil:
			rep.Failed++
			errs = append(errs, opErr("notice", path, "", err))
		case sent && kind == NoticeExpired:
			rep.Expired = append(rep.Expired, path)
			if len(notifiers) > 0 {
				rep.Sent = append(rep.Sent, n)
			}
		case sent:
			rep.Sent = append(rep.Sent, n)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return rep, &Error{Op: "check expirations", Err: errors.Join(errs...)}
	}
	return rep, nil
}

// noticeDue returns the notice due at now for an expiry at exp (Unix
// nanoseconds), or "".
func noticeDue(exp int64, now time.Time) string {
	e := time.Unix(0, exp)
	switch {
	case !now.Before(e):
		return NoticeExpired
	case !now.Before(e.Add(-24 * time.Hour)):
		return Notice1d
	case !now.Before(e.Add(-7 * 24 * time.Hour)):
		return Notice7d
	}
	return ""
}

func noticeKey(path string, exp int64, kind string) string {
	return claimPrefix + "notice/" + path + "/" + strconv.FormatInt(exp, 10) + "/" + kind
}

// deliver claims, sends and marks one notice. sent reports whether this
// call delivered it (false: done or owned elsewhere).
func (v *AgentVault) deliver(ctx context.Context, rec *record.Secret, kind string, notifiers []ExpiryNotifier, audit bool) (n ExpiryNotice, sent bool, err error) {
	key := noticeKey(rec.Path, rec.ExpiresAt, kind)
	c, err := v.acquire(ctx, key)
	if c == nil || err != nil {
		return n, false, err
	}
	tier, _ := tierFromRank(rec.Tier)
	n = ExpiryNotice{
		ID: noticeID(v, key), Event: EventSecretExpiring, Notice: kind, Path: rec.Path, Type: SecretType(rec.Type),
		Tier: tier, Version: FormatVersion(rec.Active), ExpiresAt: timeUTC(rec.ExpiresAt), Attempt: c.attempt,
	}
	if kind == NoticeExpired {
		n.Event = EventSecretExpired
	}
	for _, nt := range notifiers {
		if err := nt.NotifyExpiry(ctx, n); err != nil {
			v.release(ctx, c)
			return n, false, err
		}
	}
	if audit {
		sctx := asSystem(ctx)
		e := v.lifecycleEvent(sctx, n.Event, rec.Path)
		e.Version, e.Type, e.Tier = n.Version, n.Type, n.Tier
		e.finish(nil)
		e.Reason = "notice_" + kind
		_ = v.emit(sctx, e)
	}
	return n, true, v.done(ctx, c)
}

// noticeID derives a notice's stable id from its claim key: the same in
// every process, and not revealing the path by itself.
func noticeID(v *AgentVault, key string) string {
	sum := v.recordMAC("notice-id", key, nil)
	return "ntc_" + hex.EncodeToString(sum[:12])
}

// expiredRead records the expiry of rec on the first refused read, when no
// scheduler pass did yet (once per expiry instant, claimed as in
// CheckExpirations): the read's own secret.expired event (outcome denied)
// is the audit record, and the "expired" notice is sent from here.
func (v *AgentVault) expiredRead(ctx context.Context, rec *record.Secret) {
	key := noticeKey(rec.Path, rec.ExpiresAt, NoticeExpired)
	if v.opts.lifecycle.st.isDone(key) {
		return
	}
	// The caller's context bounds the delivery, as for approval notices
	// (see Notifier): a notice not sent now is sent by a later
	// CheckExpirations.
	ctx, cancel := notifyContext(ctx)
	defer cancel()
	_, _, _ = v.deliver(ctx, rec, NoticeExpired, v.expiryNotifiers(), false)
}
