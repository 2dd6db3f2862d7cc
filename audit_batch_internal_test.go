package agentvault

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditSubmitManyJoinsOneBatch: events submitted together while a
// batch is being written join the next batch as one run, in order, among
// single events; the call returns once that batch is written, with the
// errors of its own events only.
func TestAuditSubmitManyJoinsOneBatch(t *testing.T) {
	var st auditWriterState
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]string
	flush := func(events []*AuditEvent, reads []*auditRead) []error {
		// A batch holding a read carries one read (or nil) per event,
		// whatever joined it after the read.
		assert.True(t, reads == nil || len(reads) == len(events), "reads %d, events %d", len(reads), len(events))
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
			if e.Path == "m2" || e.Path == "fail" {
				errs[i] = errors.New("this one failed")
			}
		}
		return errs
	}
	const timeout, tick = 10 * time.Second, time.Millisecond
	pendingLen := func() int {
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.pending == nil {
			return 0
		}
		return len(st.pending.events)
	}
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, st.submit(&AuditEvent{Path: "leader"}, nil, flush)) })
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(batches) == 1 }, timeout, tick)
	wg.Go(func() {
		assert.Error(t, st.submit(&AuditEvent{Path: "fail"}, &auditRead{key: "secret/x", rev: 1}, flush))
	})
	require.Eventually(t, func() bool { return pendingLen() == 1 }, timeout, tick)
	manyDone := make(chan []error, 1)
	wg.Go(func() {
		manyDone <- st.submitMany([]*AuditEvent{{Path: "m1"}, {Path: "m2"}, {Path: "m3"}}, flush)
	})
	require.Eventually(t, func() bool { return pendingLen() == 4 }, timeout, tick)
	wg.Go(func() { assert.NoError(t, st.submit(&AuditEvent{Path: "after"}, nil, flush)) })
	require.Eventually(t, func() bool { return pendingLen() == 5 }, timeout, tick)
	select {
	case errs := <-manyDone:
		t.Fatalf("submitMany returned before its batch was written: %v", errs)
	default:
	}
	close(release)
	wg.Wait()
	errs := <-manyDone
	require.Len(t, errs, 3)
	assert.NoError(t, errs[0])
	assert.Error(t, errs[1], "m2's own error")
	assert.NoError(t, errs[2])
	require.Len(t, batches, 2)
	assert.Equal(t, []string{"fail", "m1", "m2", "m3", "after"}, batches[1])
	assert.False(t, st.flushing)
	assert.Nil(t, st.pending)

	// Nothing in flight: the events are written at once, as one batch.
	errs = st.submitMany([]*AuditEvent{{Path: "a"}, {Path: "m2"}}, flush)
	assert.NoError(t, errs[0])
	assert.Error(t, errs[1])
	assert.Equal(t, []string{"a", "m2"}, batches[2])
}
