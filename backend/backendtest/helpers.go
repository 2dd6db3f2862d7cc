package backendtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/agentvault/agentvault/backend"
)

// Increment adds one to the decimal counter stored at key (a missing key
// counts as zero) with a conditional Put, retrying on ErrConflict until it
// succeeds or ctx is done, and returns the counter's new value. Concurrent
// calls, from any number of goroutines or processes sharing the store, never
// lose an increment and never return the same value twice.
func Increment(ctx context.Context, b backend.Backend, key string) (int64, error) {
	var n int64
	err := Update(ctx, b, key, func(old []byte, exists bool) ([]byte, error) {
		n = 0
		if exists {
			v, err := strconv.ParseInt(string(old), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("backendtest: counter %q holds %q: %w", key, trunc(old), err)
			}
			n = v
		}
		n++
		return strconv.AppendInt(nil, n, 10), nil
	})
	return n, err
}

// ReadCounter returns the counter Increment maintains at key; zero if the
// key does not exist.
func ReadCounter(ctx context.Context, b backend.Backend, key string) (int64, error) {
	v, _, err := b.Get(ctx, key)
	if errors.Is(err, backend.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("backendtest: counter %q holds %q: %w", key, trunc(v), err)
	}
	return n, nil
}

// Append adds item to the end of the newline-separated list stored at key
// (a missing key is an empty list) with a conditional Put, retrying on
// ErrConflict until it succeeds or ctx is done. item must not contain a
// newline. Concurrent calls never lose or duplicate an item.
func Append(ctx context.Context, b backend.Backend, key, item string) error {
	if strings.Contains(item, "\n") {
		return fmt.Errorf("backendtest: list item %q contains a newline", item)
	}
	return Update(ctx, b, key, func(old []byte, _ bool) ([]byte, error) {
		v := make([]byte, 0, len(old)+len(item)+1)
		v = append(v, old...)
		v = append(v, item...)
		return append(v, '\n'), nil
	})
}

// ReadList returns the items Append stored at key, in order; nil if the key
// does not exist.
func ReadList(ctx context.Context, b backend.Backend, key string) ([]string, error) {
	v, _, err := b.Get(ctx, key)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s, ok := strings.CutSuffix(string(v), "\n")
	if !ok {
		return nil, fmt.Errorf("backendtest: list %q does not end in a newline", key)
	}
	return strings.Split(s, "\n"), nil
}

// Update performs one read-modify-write of key: it reads the current value
// (exists is false and old is nil when the key is missing), stores what
// modify returns with a conditional Put, and starts again from the read on
// ErrConflict, until the Put succeeds, modify or the backend returns another
// error, or ctx is done. modify may be called several times.
func Update(ctx context.Context, b backend.Backend, key string, modify func(old []byte, exists bool) ([]byte, error)) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("backendtest: update %q after %d conflicts: %w", key, attempt, err)
		}
		old, rev, err := b.Get(ctx, key)
		exists := err == nil
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			return err
		}
		if !exists {
			old, rev = nil, 0
		}
		v, err := modify(old, exists)
		if err != nil {
			return err
		}
		_, err = b.Put(ctx, key, v, rev)
		if err == nil {
			return nil
		}
		if !errors.Is(err, backend.ErrConflict) {
			return err
		}
		backoff(attempt)
	}
}

// backoff yields after the first few conflicts, then sleeps a random,
// growing time up to a millisecond, so that writers in other processes get
// their turn.
func backoff(attempt int) {
	if attempt < 3 {
		runtime.Gosched()
		return
	}
	limit := time.Microsecond << min(attempt, 10)
	time.Sleep(rand.N(limit) + 1)
}
