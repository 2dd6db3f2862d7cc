package agentvault

import (
	"time"

	"github.com/agentvault/agentvault/kms"
)

// Option configures New. Every option has a documented default.
type Option func(*options)

type options struct {
	actor        string
	now          func() time.Time
	maxValueSize int
	cacheSize    int
	cacheMaxAge  time.Duration
	initTimeout  time.Duration
	maxRetries   int
	previous     []kms.KeyProvider

	access    accessOptions    // tokens, approvals, agents, audit: see access_options.go
	lifecycle lifecycleOptions // rotation, retention, expiry notices, scheduler: see lifecycle.go
}

func defaultOptions() options {
	return options{
		actor:        "unknown",
		now:          time.Now,
		maxValueSize: DefaultMaxValueSize,
		cacheSize:    4096,
		cacheMaxAge:  10 * time.Minute,
		initTimeout:  30 * time.Second,
		maxRetries:   1000,
		access:       defaultAccessOptions(),
		lifecycle:    defaultLifecycleOptions(),
	}
}

// WithActor sets the actor recorded as created_by when the context carries
// none (see ContextWithActor). Default "unknown". New fails with
// ErrInvalidInput unless actor is a valid name (as ContextWithActor).
func WithActor(actor string) Option { return func(o *options) { o.actor = actor } }

// WithClock sets the time source, for tests and simulations. Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithMaxValueSize sets the largest secret value accepted, in bytes.
// Default 64 KiB (DefaultMaxValueSize); at most 16 MiB.
func WithMaxValueSize(n int) Option { return func(o *options) { o.maxValueSize = n } }

// WithKeyCache bounds the in-memory cache of unwrapped data keys (and of
// authenticated records), which keeps the KeyProvider off the read path:
// at most size entries, each used for at most maxAge after it was
// unwrapped. size 0 disables caching (every read then calls the
// KeyProvider). Default 4096 entries, 10 minutes.
func WithKeyCache(size int, maxAge time.Duration) Option {
	return func(o *options) { o.cacheSize, o.cacheMaxAge = size, maxAge }
}

// WithInitTimeout bounds the work New does on the backend and KeyProvider
// (reading or creating the vault's configuration). Default 30 seconds.
func WithInitTimeout(d time.Duration) Option { return func(o *options) { o.initTimeout = d } }

// WithMaxRetries bounds how often a write retries after losing a race with
// another writer before it gives up with ErrConflict. Default 1000.
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = n } }

// GetOption selects what GetSecret returns.
type GetOption func(*getOptions)

type getOptions struct {
	version string
}

// AtVersion makes GetSecret return version v ("v1", "v2", …) instead of the
// active one. v may also be "previous" (PreviousVersion): the version that
// was active before the last rotation, while its grace period lasts (see
// UpdateSecretInput.GracePeriod and RotateSecret); after the grace ends it
// fails with ErrNotFound. An expired secret is refused at every version.
func AtVersion(v string) GetOption { return func(o *getOptions) { o.version = v } }
