package filebackend

import "time"

// Option configures Open. Every option states its default.
type Option func(*options)

type options struct {
	now func() time.Time
}

func defaultOptions() options {
	return options{now: time.Now}
}

// WithClock sets the clock whose reading, in Unix nanoseconds, is the
// lowest revision a Put hands out. Revisions stay unique and increasing
// whatever the clock does: a new revision is also above the key's current
// one and the highest one the store has recorded. For tests. Default
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}
