package agentvault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
	"github.com/agentvault/agentvault/kms"
)

// logBackend is a backend with audit logs and batched writes (file, Redis).
type logBackend interface {
	backend.Backend
	backend.Appender
	backend.BatchWriter
}

// logBackends opens a fresh file and Redis backend (Redis skipped when no
// redis-server is installed, unless AGENTVAULT_REQUIRE_REDIS is set).
func logBackends(t *testing.T) map[string]func(t *testing.T) logBackend {
	return map[string]func(t *testing.T) logBackend{
		"file": func(t *testing.T) logBackend {
			fb, err := filebackend.Open(t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { fb.Close() })
			return fb
		},
		"redis": func(t *testing.T) logBackend {
			rb, err := redisbackend.New(redistest.StartServer(t).Client(t))
			require.NoError(t, err)
			return rb
		},
	}
}

// writeAheadChecker checks, at the moment each secret is written, that the
// audit logs already hold its import's write-ahead event, and records
// which Append stored that event (imports into ns/ only). failAppend, when > 0, makes that Append
// (counting from 1) fail without writing anything.
type writeAheadChecker struct {
	logBackend
	t          *testing.T
	appends    atomic.Int64
	failAppend atomic.Int64

	mu           sync.Mutex
	pendingIn    map[string]int64 // path → the Append that stored its write-ahead event
	checked      int              // secrets written (and checked)
	batches      int              // PutMany calls
	batchAppends []int            // per PutMany: how many Appends its write-ahead events came in
}

func newWriteAheadChecker(t *testing.T, b logBackend) *writeAheadChecker {
	return &writeAheadChecker{logBackend: b, t: t, pendingIn: map[string]int64{}}
}

func (w *writeAheadChecker) Append(ctx context.Context, log string, last []byte, records [][]byte) error {
	n := w.appends.Add(1)
	if n == w.failAppend.Load() {
		return errDiskFull
	}
	if err := w.logBackend.Append(ctx, log, last, records); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range records {
		var e agentvault.AuditEvent
		require.NoError(w.t, json.Unmarshal(r, &e))
		if e.Event == agentvault.EventSecretImported && e.Outcome == agentvault.OutcomePending {
			w.pendingIn[e.Path] = n
		}
	}
	return nil
}

// durablePending reads the stored logs (not what Append was given) and
// returns the paths with a pending secret.imported event.
func (w *writeAheadChecker) durablePending(ctx context.Context) map[string]bool {
	out := map[string]bool{}
	names, err := w.logBackend.Logs(ctx, "audit.")
	require.NoError(w.t, err)
	for _, n := range names {
		recs, err := w.logBackend.ReadLog(ctx, n)
		require.NoError(w.t, err)
		for _, r := range recs {
			var e agentvault.AuditEvent
			require.NoError(w.t, json.Unmarshal(r, &e))
			if e.Event == agentvault.EventSecretImported && e.Outcome == agentvault.OutcomePending {
				out[e.Path] = true
			}
		}
	}
	return out
}

func (w *writeAheadChecker) check(ctx context.Context, keys []string) {
	durable := w.durablePending(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		if p, ok := strings.CutPrefix(k, "s/"); ok && strings.HasPrefix(p, "ns/") {
			assert.True(w.t, durable[p], "%s written before its write-ahead event was stored", p)
			w.checked++
		}
	}
}

func (w *writeAheadChecker) Put(ctx context.Context, key string, val []byte, rev int64) (int64, error) {
	w.check(ctx, []string{key})
	return w.logBackend.Put(ctx, key, val, rev)
}

func (w *writeAheadChecker) PutMany(ctx context.Context, writes []backend.Write) ([]backend.WriteResult, error) {
	keys := make([]string, len(writes))
	for i, wr := range writes {
		keys[i] = wr.Key
	}
	w.check(ctx, keys)
	w.mu.Lock()
	appends := map[int64]bool{}
	for _, k := range keys {
		appends[w.pendingIn[strings.TrimPrefix(k, "s/")]] = true
	}
	w.batches++
	w.batchAppends = append(w.batchAppends, len(appends))
	w.mu.Unlock()
	return w.logBackend.PutMany(ctx, writes)
}

func envOf(n int) string {
	var env strings.Builder
	for i := range n {
		fmt.Fprintf(&env, "VAR_%05d=value-%d\n", i, i)
	}
	return env.String()
}

// TestImportAuditBatchedOnLogs: on the file and Redis backends, an import
// of 600 new variables (among concurrent audited reads, whose events join
// the same group writes) stores each batch's write-ahead events with one
// Append, every one durable before its secret is written, and each
// secret's outcome event after it; the chain verifies.
func TestImportAuditBatchedOnLogs(t *testing.T) {
	for name, open := range logBackends(t) {
		t.Run(name, func(t *testing.T) {
			w := newWriteAheadChecker(t, open(t))
			v, err := agentvault.New(w, testKey(t))
			require.NoError(t, err)
			defer v.Close()
			create(t, v, "other/key", "x")
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var reads atomic.Int64
			for range 2 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						_, err := v.GetSecret(ctx, "other/key")
						assert.NoError(t, err)
						reads.Add(1)
					}
				})
			}
			appendsBefore := w.appends.Load()
			res, err := v.ImportEnv(ctx, strings.NewReader(envOf(600)), agentvault.ImportOptions{Namespace: "ns"})
			close(stop)
			wg.Wait()
			require.NoError(t, err)
			assert.Equal(t, 600, res.Created)

			assert.Equal(t, 600, w.checked, "every secret checked when written")
			assert.Equal(t, 3, w.batches, "256 + 256 + 88")
			assert.Equal(t, []int{1, 1, 1}, w.batchAppends, "each batch's write-ahead events came in one Append")
			if reads.Load() == 0 {
				// Without concurrent events: two Appends per batch (write-
				// ahead, outcomes) and the summary.
				assert.EqualValues(t, 7, w.appends.Load()-appendsBefore)
			}

			events, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: "ns/", Event: agentvault.EventSecretImported})
			require.NoError(t, err)
			seen := map[string][]string{}
			for _, e := range events {
				assert.Equal(t, res.ImportID, e.ImportID)
				seen[e.Path] = append(seen[e.Path], string(e.Outcome)+" "+e.Reason+" "+e.Version)
			}
			require.Len(t, seen, 600)
			for p, got := range seen {
				require.Equal(t, []string{"pending created ", "allowed created v1"}, got, p)
			}
			rep, err := v.VerifyAudit(ctx)
			require.NoError(t, err)
			t.Logf("%d events, %d concurrent reads, %d Appends", rep.Events, reads.Load(), w.appends.Load()-appendsBefore)
		})
	}
}

// TestImportStopsWhenBatchAppendFails: on file and Redis, when the Append
// of a batch's write-ahead events fails, nothing of that batch is written
// and the import stops with ErrAuditFailed; the batch before it is
// complete, and running the import again finishes the job.
func TestImportStopsWhenBatchAppendFails(t *testing.T) {
	for name, open := range logBackends(t) {
		t.Run(name, func(t *testing.T) {
			w := newWriteAheadChecker(t, open(t))
			v, err := agentvault.New(w, testKey(t))
			require.NoError(t, err)
			defer v.Close()
			// Appends: batch 1's write-ahead events, its outcomes, batch 2's
			// write-ahead events (fails).
			w.failAppend.Store(w.appends.Load() + 3)
			res, err := v.ImportEnv(ctx, strings.NewReader(envOf(600)), agentvault.ImportOptions{Namespace: "ns"})
			require.ErrorIs(t, err, agentvault.ErrAuditFailed)
			assert.NotContains(t, err.Error(), "value-", "no value in the error")
			require.NotNil(t, res)
			assert.Equal(t, 256, res.Created, "the first batch only")
			keys, err := w.List(ctx, "s/ns/")
			require.NoError(t, err)
			assert.Len(t, keys, 256, "nothing of the second batch is stored")
			_, err = v.GetSecret(ctx, "ns/VAR_00256")
			assert.ErrorIs(t, err, agentvault.ErrNotFound)
			_, err = v.VerifyAudit(ctx)
			require.NoError(t, err, "the chain after the failed Append verifies")

			res, err = v.ImportEnv(ctx, strings.NewReader(envOf(600)), agentvault.ImportOptions{Namespace: "ns"})
			require.NoError(t, err)
			assert.Equal(t, 344, res.Created)
			assert.Equal(t, 256, res.Skipped)
			assert.Equal(t, 600, w.checked)
		})
	}
}

// TestImportOlderPathsAuditTheSame: the paths kept for the benchmarks
// (one secret at a time; batched writes with their events one at a time)
// store the same events as the batched one.
func TestImportOlderPathsAuditTheSame(t *testing.T) {
	for _, path := range []string{"one-by-one", "events-singly"} {
		t.Run(path, func(t *testing.T) {
			w := newWriteAheadChecker(t, logBackends(t)["file"](t))
			v, err := agentvault.New(w, testKey(t))
			require.NoError(t, err)
			defer v.Close()
			res, err := v.ImportEnv(agentvault.ContextWithImportPath(ctx, path), strings.NewReader(envOf(300)), agentvault.ImportOptions{Namespace: "ns"})
			require.NoError(t, err)
			assert.Equal(t, 300, res.Created)
			assert.Equal(t, 300, w.checked)
			if path == "one-by-one" {
				assert.Zero(t, w.batches)
			}
			events, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: "ns/", Event: agentvault.EventSecretImported})
			require.NoError(t, err)
			assert.Len(t, events, 600)
			_, err = v.VerifyAudit(ctx)
			require.NoError(t, err)
		})
	}
}

// countdownKMS fails every Encrypt once left reaches 0.
type countdownKMS struct {
	kms.KeyProvider
	left atomic.Int64
}

func (c *countdownKMS) Encrypt(ctx context.Context, pt, aad []byte) ([]byte, error) {
	if c.left.Add(-1) < 0 {
		return nil, errKMSDown
	}
	return c.KeyProvider.Encrypt(ctx, pt, aad)
}

// TestImportSealFailureInLaterBatch: the next batch is sealed while one is
// written; when sealing fails in it (the KMS goes down after 266 data
// keys), the batch before it is complete, nothing of the failing batch is
// written or audited as pending, and the import again finishes the job.
func TestImportSealFailureInLaterBatch(t *testing.T) {
	for name, open := range logBackends(t) {
		t.Run(name, func(t *testing.T) {
			w := newWriteAheadChecker(t, open(t))
			k := &countdownKMS{KeyProvider: testKey(t)}
			k.left.Store(1 << 30)
			v, err := agentvault.New(w, k)
			require.NoError(t, err)
			defer v.Close()
			k.left.Store(256 + 10)
			res, err := v.ImportEnv(ctx, strings.NewReader(envOf(600)), agentvault.ImportOptions{Namespace: "ns"})
			require.ErrorIs(t, err, errKMSDown)
			assert.Contains(t, err.Error(), "VAR_00266", "the variable that failed")
			assert.Equal(t, 256, res.Created)
			keys, err := w.List(ctx, "s/ns/")
			require.NoError(t, err)
			assert.Len(t, keys, 256)
			assert.Len(t, w.durablePending(ctx), 256, "no write-ahead event for the batch that was not written")

			k.left.Store(1 << 30)
			res, err = v.ImportEnv(ctx, strings.NewReader(envOf(600)), agentvault.ImportOptions{Namespace: "ns"})
			require.NoError(t, err)
			assert.Equal(t, 344, res.Created)
			assert.Equal(t, "value-599", get(t, v, "ns/VAR_00599").Value.Reveal())
			_, err = v.VerifyAudit(ctx)
			require.NoError(t, err)
		})
	}
}
