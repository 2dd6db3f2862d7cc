package backendtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

func concurrencyCases() []testCase {
	return []testCase{
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ConcurrentAppend", testConcurrentAppend},
		{"ConcurrentPutDeleteList", testConcurrentPutDeleteList},
	}
}

// concurrencyTimeout bounds every concurrency subtest, so that a deadlock
// fails the subtest instead of hanging the test binary.
const concurrencyTimeout = 2 * time.Minute

// goroutines is the number of goroutines ConcurrentIncrements and
// ConcurrentCreate run.
const goroutines = 32

// runGoroutines runs fn(i) for i in [0, n) at once and returns their errors.
func runGoroutines(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrentIncrements(t *testing.T, b backend.Backend) {
	perGoroutine := 10
	if testing.Short() {
		perGoroutine = 3
	}
	ctx, cancel := context.WithTimeout(t.Context(), concurrencyTimeout)
	defer cancel()

	const key = "counter"
	results := make([][]int64, goroutines)
	errs := runGoroutines(goroutines, func(i int) error {
		for range perGoroutine {
			n, err := Increment(ctx, b, key)
			if err != nil {
				return fmt.Errorf("Increment(%q): %w", key, err)
			}
			results[i] = append(results[i], n)
		}
		return nil
	})
	for i, err := range errs {
		require.NoError(t, err, "goroutine %d", i)
	}

	total := int64(goroutines * perGoroutine)
	got, err := ReadCounter(ctx, b, key)
	require.NoError(t, err, "ReadCounter(%q)", key)
	assert.Equal(t, total, got, "counter after %d goroutines x %d increments", goroutines, perGoroutine)

	// No lost update: each increment saw a different value, 1..total.
	all := slices.Concat(results...)
	slices.Sort(all)
	want := make([]int64, total)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, all, "values returned by Increment")
}

func testConcurrentCreate(t *testing.T, b backend.Backend) {
	ctx, cancel := context.WithTimeout(t.Context(), concurrencyTimeout)
	defer cancel()

	const key = "created/once"
	revs := make([]int64, goroutines)
	errs := runGoroutines(goroutines, func(i int) error {
		rev, err := b.Put(ctx, key, fmt.Appendf(nil, "goroutine %d", i), 0)
		revs[i] = rev
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			assert.Equal(t, -1, winner, "Put(%q, rev 0) succeeded in goroutines %d and %d", key, winner, i)
			winner = i
		case errors.Is(err, backend.ErrConflict):
		default:
			t.Errorf("Put(%q, rev 0) in goroutine %d err = %v, want nil or ErrConflict", key, i, err)
		}
	}
	require.NotEqual(t, -1, winner, "Put(%q, rev 0): no goroutine succeeded", key)
	assertStored(t, b, key, fmt.Appendf(nil, "goroutine %d", winner), revs[winner])
}

func testConcurrentAppend(t *testing.T, b backend.Backend) {
	const writers, perWriter = 8, 5
	ctx, cancel := context.WithTimeout(t.Context(), concurrencyTimeout)
	defer cancel()

	const key = "list"
	errs := runGoroutines(writers, func(i int) error {
		for j := range perWriter {
			if err := Append(ctx, b, key, fmt.Sprintf("g%d-%d", i, j)); err != nil {
				return fmt.Errorf("Append(%q): %w", key, err)
			}
		}
		return nil
	})
	for i, err := range errs {
		require.NoError(t, err, "goroutine %d", i)
	}
	items, err := ReadList(ctx, b, key)
	require.NoError(t, err, "ReadList(%q)", key)
	CheckList(t, items, writers, perWriter)
}

// CheckList checks that items, as read back with ReadList, hold exactly the
// items "g<i>-<j>" for writers i in [0, writers) and j in [0, perWriter),
// each once, with every writer's items in order.
func CheckList(t testing.TB, items []string, writers, perWriter int) {
	t.Helper()
	assert.Len(t, items, writers*perWriter, "list length")
	next := make([]int, writers)
	for _, item := range items {
		var i, j int
		if _, err := fmt.Sscanf(item, "g%d-%d", &i, &j); err != nil || i < 0 || i >= writers {
			t.Errorf("list holds unexpected item %q", item)
			continue
		}
		if j != next[i] {
			t.Errorf("list holds %q, want g%d-%d (lost, duplicated or reordered item)", item, i, next[i])
		}
		next[i] = j + 1
	}
	for i, n := range next {
		assert.Equal(t, perWriter, n, "items of writer %d", i)
	}
}

func testConcurrentPutDeleteList(t *testing.T, b backend.Backend) {
	const writers, rounds = 8, 5
	ctx, cancel := context.WithTimeout(t.Context(), concurrencyTimeout)
	defer cancel()

	// A key that stays put while its siblings come and go.
	const keep = "d/shared/keep"
	keepRev := mustPut(t, b, keep, []byte("keep"), 0)

	done := make(chan struct{})
	var readers sync.WaitGroup
	readerErrs := make([]error, 2)
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			keys, err := b.List(ctx, "d/")
			if err != nil {
				readerErrs[0] = fmt.Errorf("List(%q): %w", "d/", err)
				return
			}
			if !slices.Contains(keys, keep) {
				readerErrs[0] = fmt.Errorf("List(%q) = %q, missing %q", "d/", keys, keep)
				return
			}
			if !slices.IsSorted(keys) {
				readerErrs[0] = fmt.Errorf("List(%q) = %q, not sorted", "d/", keys)
				return
			}
		}
	})
	readers.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if v, rev, err := b.Get(ctx, keep); err != nil || string(v) != "keep" || rev != keepRev {
				readerErrs[1] = fmt.Errorf("Get(%q) = %q, %d, %v; want %q, %d, nil", keep, v, rev, err, "keep", keepRev)
				return
			}
			key := fmt.Sprintf("d/shared/w%d/x/k", i%writers)
			if _, _, err := b.Get(ctx, key); err != nil && !errors.Is(err, backend.ErrNotFound) {
				readerErrs[1] = fmt.Errorf("Get(%q): %w", key, err)
				return
			}
		}
	})

	errs := runGoroutines(writers, func(i int) error {
		key := fmt.Sprintf("d/shared/w%d/x/k", i)
		for r := range rounds {
			rev, err := b.Put(ctx, key, []byte("v"), 0)
			if err != nil {
				return fmt.Errorf("round %d: Put(%q, rev 0): %w", r, key, err)
			}
			rev2, err := b.Put(ctx, key, []byte("w"), rev)
			if err != nil {
				return fmt.Errorf("round %d: Put(%q, rev %d): %w", r, key, rev, err)
			}
			if err := b.Delete(ctx, key, rev2); err != nil {
				return fmt.Errorf("round %d: Delete(%q, rev %d): %w", r, key, rev2, err)
			}
		}
		return nil
	})
	close(done)
	readers.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "writer %d", i)
	}
	for i, err := range readerErrs {
		assert.NoError(t, err, "reader %d", i)
	}
	assertList(t, b, "d/", []string{keep})
	assertStored(t, b, keep, []byte("keep"), keepRev)
}
