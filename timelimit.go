package agentvault

import (
	"fmt"
	"math"
	"time"
)

// The vault stores instants as int64 Unix nanoseconds, which cover
// 1677-09-21 to 2262-04-11 (UTC). An instant outside that range, or a
// duration that reaches past its end, would wrap around into the past: an
// expiry in year 2500 would be stored as one in 1915 and the secret would
// be expired at once. Every time and duration the vault accepts is checked
// against these limits (ErrInvalidInput naming the limit), and every
// instant it computes is saturated at them.
var (
	minStoredTime = time.Unix(0, math.MinInt64)
	maxStoredTime = time.Unix(0, math.MaxInt64)
)

// storableTime checks that t can be stored; what names the field.
func storableTime(what string, t time.Time) error {
	if t.After(maxStoredTime) || t.Before(minStoredTime) {
		return fmt.Errorf("%w: %s %s is out of range: times must be between %s and %s (int64 Unix nanoseconds)", ErrInvalidInput,
			what, t.UTC().Format(time.RFC3339), minStoredTime.UTC().Format(time.RFC3339), maxStoredTime.UTC().Format(time.RFC3339))
	}
	return nil
}

// storableSpan checks that now + d can be stored; what names the duration.
func storableSpan(what string, now time.Time, d time.Duration) error {
	if d > 0 && now.Add(d).After(maxStoredTime) {
		return fmt.Errorf("%w: %s %v from now ends after %s, the latest time the vault can store (int64 Unix nanoseconds)", ErrInvalidInput,
			what, d, maxStoredTime.UTC().Format(time.RFC3339))
	}
	return nil
}

// nanosAfter returns now + d as Unix nanoseconds, saturated at the
// storable range instead of wrapping around.
func nanosAfter(now time.Time, d time.Duration) int64 {
	return saturatedNanos(now.Add(d))
}

// saturatedNanos returns t as Unix nanoseconds, clamped to the storable range.
func saturatedNanos(t time.Time) int64 {
	switch {
	case t.After(maxStoredTime):
		return math.MaxInt64
	case t.Before(minStoredTime):
		return math.MinInt64
	}
	return t.UnixNano()
}

// validateSpans checks the durations set by options, which the vault adds
// to the current time: each must end within the storable range.
func (o *options) validateSpans() error {
	now := o.now()
	a := &o.access
	spans := []struct {
		what string
		d    time.Duration
	}{
		{"default token TTL", a.tokenTTL},
		{"approval TTL", a.policy.TTL},
		{"sensitive approval delay plus approval TTL", a.policy.Sensitive.Delay + max(a.policy.TTL, 0)},
		{"critical approval delay plus approval TTL", a.policy.Critical.Delay + max(a.policy.TTL, 0)},
		{"lifecycle lease", o.lifecycle.lease},
		{"rotation retry", o.lifecycle.rotationRetry},
	}
	for i := range a.rules {
		if err := storableSpan("approval rule delay", now, a.rules[i].rule.Delay); err != nil {
			return err
		}
	}
	for _, s := range spans {
		if s.d < 0 {
			continue // a sum that overflowed is caught by its parts
		}
		if err := storableSpan(s.what, now, s.d); err != nil {
			return err
		}
	}
	return storableSpan("approval delay", now, max(a.policy.Sensitive.Delay, a.policy.Critical.Delay))
}
