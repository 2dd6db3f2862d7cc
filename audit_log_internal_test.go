package agentvault

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditSubmitGroupsWaitingEvents: events submitted while a batch is
// being written are written together, in one flush, after it; each caller
// returns only once its own batch is written, with its own error.
func TestAuditSubmitGroupsWaitingEvents(t *testing.T) {
	var st auditWriterState
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]string
	flush := func(events []*AuditEvent, _ []*auditRead) []error {
		mu.Lock()
		first := len(batches) == 0
		var names []string
		for _, e := range events {
			names = append(names, e.Path)
		}
		batches = append(batches, names)
		mu.Unlock()
		if first {
			<-release
		}
		errs := make([]error, len(events))
		for i, e := range events {
			if e.Path == "fail" {
				errs[i] = errors.New("this one failed")
			}
		}
		return errs
	}
	const waiting = 7
	const timeout, tick = 10 * time.Second, time.Millisecond
	var wg sync.WaitGroup
	results := make(chan error, waiting+1)
	wg.Go(func() { results <- st.submit(&AuditEvent{Path: "leader"}, nil, flush) })
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(batches) == 1 }, timeout, tick)
	for i := range waiting {
		path := "w"
		if i == 3 {
			path = "fail"
		}
		wg.Go(func() { results <- st.submit(&AuditEvent{Path: path}, nil, flush) })
	}
	require.Eventually(t, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.pending != nil && len(st.pending.events) == waiting
	}, timeout, tick, "the waiting events join one pending batch")
	select {
	case err := <-results:
		t.Fatalf("a submit returned before its batch was written: %v", err)
	default:
	}
	close(release)
	wg.Wait()
	close(results)
	var failed int
	for err := range results {
		if err != nil {
			failed++
		}
	}
	assert.Equal(t, 1, failed, "only the event whose write failed reports an error")
	require.Len(t, batches, 2, "two flushes for %d events", waiting+1)
	assert.Equal(t, []string{"leader"}, batches[0])
	assert.Len(t, batches[1], waiting)
	assert.False(t, st.flushing)
	assert.Nil(t, st.pending)
}

// TestAuditSubmitOwnErrorWithReusedSlice: flush returns its errors in a
// slice it reuses (as flushAudit does); every caller, in a batch of one or
// a batch of many, still gets the error of its own event, not one written
// there by a later flush.
func TestAuditSubmitOwnErrorWithReusedSlice(t *testing.T) {
	var st auditWriterState
	var scratch []error // touched only by the leader, as flushAudit's
	flush := func(events []*AuditEvent, _ []*auditRead) []error {
		scratch = slices.Grow(scratch[:0], len(events))[:len(events)]
		for i, e := range events {
			scratch[i] = errors.New(e.Path)
		}
		return scratch
	}
	const goroutines, each = 8, 300
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				path := fmt.Sprintf("%d-%d", g, i)
				if err := st.submit(&AuditEvent{Path: path}, nil, flush); err == nil || err.Error() != path {
					wrong.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, wrong.Load(), "submits that got another event's error")
}
