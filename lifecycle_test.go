package agentvault_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// sharedStores runs f once per backend kind with a function that opens a
// new handle on one shared store: the memory backend (one instance), the
// file backend (a new Open of one directory each time) and Redis (a new
// client of one real server each time), so the vaults built on the
// handles behave like separate processes.
func sharedStores(t *testing.T, f func(t *testing.T, open func() backend.Backend)) {
	t.Run("mem", func(t *testing.T) {
		b := membackend.New()
		f(t, func() backend.Backend { return b })
	})
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		f(t, func() backend.Backend {
			fb, err := filebackend.Open(dir)
			require.NoError(t, err)
			t.Cleanup(func() { fb.Close() })
			return fb
		})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.StartServer(t)
		f(t, func() backend.Backend {
			rb, err := redisbackend.New(srv.Client(t))
			require.NoError(t, err)
			return rb
		})
	})
}

// vaults opens n vaults on handles of one shared store, with the same
// options each.
func vaults(t *testing.T, n int, open func() backend.Backend, opts ...agentvault.Option) []*agentvault.AgentVault {
	t.Helper()
	out := make([]*agentvault.AgentVault, n)
	for i := range out {
		v, err := agentvault.New(open(), testKey(t), opts...)
		require.NoError(t, err)
		t.Cleanup(func() { v.Close() })
		out[i] = v
	}
	return out
}

func mustVault(t *testing.T, b backend.Backend, opts ...agentvault.Option) *agentvault.AgentVault {
	t.Helper()
	v, err := agentvault.New(b, testKey(t), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	return v
}

// concurrently runs f(i) for i in [0, n) at once and waits.
func concurrently(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// noticeLog is an ExpiryNotifier that records what it is told.
type noticeLog struct {
	mu   sync.Mutex
	got  []agentvault.ExpiryNotice
	fail atomic.Int32 // fail this many calls
	boom atomic.Int32 // panic on this many calls (a "crash" mid-delivery)
}

func (l *noticeLog) NotifyExpiry(_ context.Context, n agentvault.ExpiryNotice) error {
	if l.boom.Add(-1) >= 0 {
		panic("simulated crash")
	}
	if l.fail.Add(-1) >= 0 {
		return assert.AnError
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, n)
	return nil
}

func (l *noticeLog) notices() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, n := range l.got {
		out = append(out, n.Path+" "+n.Notice)
	}
	return out
}

func TestRunScheduler(t *testing.T) {
	clk := newClock()
	log := &noticeLog{}
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(log),
		agentvault.WithSchedulerInterval(5*time.Millisecond))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "a/b", Value: agentvault.StringValue("x"), ExpiresIn: 3 * day})
	require.NoError(t, err)
	c, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(c) }()
	require.Eventually(t, func() bool { return len(log.notices()) == 1 }, 5*time.Second, time.Millisecond)
	clk.Add(2 * day) // 1 day left
	require.Eventually(t, func() bool { return len(log.notices()) == 2 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "Run after cancel")
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	assert.Equal(t, []string{"a/b 7d", "a/b 1d"}, log.notices())
}
