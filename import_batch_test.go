package agentvault_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/membackend"
)

// batchCounter counts single Puts of secret records and PutMany calls.
type batchCounter struct {
	*membackend.Backend
	secretPuts, batches atomic.Int64
}

func (c *batchCounter) Put(ctx context.Context, key string, val []byte, rev int64) (int64, error) {
	if strings.HasPrefix(key, "s/") {
		c.secretPuts.Add(1)
	}
	return c.Backend.Put(ctx, key, val, rev)
}

func (c *batchCounter) PutMany(ctx context.Context, w []backend.Write) ([]backend.WriteResult, error) {
	c.batches.Add(1)
	return c.Backend.PutMany(ctx, w)
}

// TestImportWritesNewSecretsInBatches: an import of 600 new variables on
// a backend with BatchWriter writes them in 3 batches, not 599 Puts, and
// still audits every secret (a write-ahead and an outcome event each).
func TestImportWritesNewSecretsInBatches(t *testing.T) {
	b := &batchCounter{Backend: membackend.New()}
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	create(t, v, "ns/VAR_00100", "exists") // splits the run of new ones
	b.secretPuts.Store(0)
	var env strings.Builder
	for i := range 600 {
		fmt.Fprintf(&env, "VAR_%05d=value-%d\n", i, i)
	}
	res, err := v.ImportEnv(ctx, strings.NewReader(env.String()), agentvault.ImportOptions{Namespace: "ns"})
	require.NoError(t, err)
	assert.Equal(t, 599, res.Created)
	assert.Equal(t, 1, res.Skipped)
	assert.Equal(t, "skipped", string(res.Secrets[100].Action), "results stay in input order")
	assert.Zero(t, b.secretPuts.Load(), "no secret written by a single Put")
	assert.EqualValues(t, 3, b.batches.Load(), "100, then 256 + 243 new secrets, around the existing one")
	assert.Equal(t, "value-599", get(t, v, "ns/VAR_00599").Value.Reveal())
	events, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: "ns/", Event: agentvault.EventSecretImported})
	require.NoError(t, err)
	perPath := map[string]int{}
	for _, e := range events {
		perPath[e.Path]++
	}
	assert.Len(t, perPath, 599)
	for p, n := range perPath {
		require.Equal(t, 2, n, "events for %s", p)
	}
}

// unbatched hides a backend's optional capabilities: the import writes
// one secret per Put, as before BatchWriter.
type unbatched struct{ backend.Backend }

// BenchmarkImportBatched imports 10,000 variables with audit off (the
// secret writes alone) through the batched path and, in the same run, the
// one-Put-per-secret path (the backend's BatchWriter hidden). IMPORT_N
// overrides the count (for counting fsyncs with strace).
func BenchmarkImportBatched(b *testing.B) {
	count := 10000
	if n, err := strconv.Atoi(os.Getenv("IMPORT_N")); err == nil && n > 0 {
		count = n
	}
	var env strings.Builder
	for i := 0; i < count; i++ {
		fmt.Fprintf(&env, "SERVICE_%05d_API_KEY=sk-%032d\n", i, i)
	}
	data := env.String()
	for _, bk := range benchBackends(b) {
		for _, mode := range []string{"batched", "one-by-one"} {
			b.Run(bk.name+"/"+mode, func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					be := bk.open(b)
					if mode == "one-by-one" {
						be = unbatched{be}
					}
					v, err := agentvault.New(be, testKey(b), agentvault.WithAudit(false))
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					res, err := v.ImportEnv(ctx, strings.NewReader(data), agentvault.ImportOptions{Namespace: "production"})
					if err != nil || res.Created != count {
						b.Fatalf("ImportEnv: %v, created %d", err, res.Created)
					}
				}
			})
		}
	}
}

// BenchmarkImportAudited imports 10,000 variables with audit on (the
// default) on Redis and file, each iteration through three paths in turn,
// each into a fresh store, and reports each path's seconds and the ratios:
//
//   - old: the import before issue 14, every secret through the single
//     path: its write-ahead event written alone (one Append of one
//     record), one Put, its outcome event written alone;
//   - head: secrets in batches of 256 with one PutMany each, but their
//     events written one at a time (one Append each), as before the
//     events were batched;
//   - new: per batch, one Append of its write-ahead events, one PutMany,
//     one Append of its outcome events.
//
// IMPORT_N overrides the count, IMPORT_PATHS (e.g. "new") the paths run
// (for counting fsyncs with strace).
func BenchmarkImportAudited(b *testing.B) {
	count := 10000
	if n, err := strconv.Atoi(os.Getenv("IMPORT_N")); err == nil && n > 0 {
		count = n
	}
	paths := []string{"old", "head", "new"}
	if p := os.Getenv("IMPORT_PATHS"); p != "" {
		paths = strings.Split(p, ",")
	}
	hook := map[string]string{"old": "one-by-one", "head": "events-singly", "new": ""}
	var env strings.Builder
	for i := 0; i < count; i++ {
		fmt.Fprintf(&env, "SERVICE_%05d_API_KEY=sk-%032d\n", i, i)
	}
	data := env.String()
	for _, bk := range benchBackends(b) {
		if bk.name == "memory" {
			continue
		}
		b.Run(bk.name, func(b *testing.B) {
			secs := map[string]time.Duration{}
			for b.Loop() {
				for _, p := range paths {
					b.StopTimer()
					v, err := agentvault.New(bk.open(b), testKey(b))
					if err != nil {
						b.Fatal(err)
					}
					c := ctx
					if hook[p] != "" {
						c = agentvault.ContextWithImportPath(ctx, hook[p])
					}
					b.StartTimer()
					start := time.Now()
					res, err := v.ImportEnv(c, strings.NewReader(data), agentvault.ImportOptions{Namespace: "production"})
					secs[p] += time.Since(start)
					if err != nil || res.Created != count {
						b.Fatalf("ImportEnv (%s): %v, created %d", p, err, res.Created)
					}
					v.Close()
				}
			}
			for _, p := range paths {
				b.ReportMetric(secs[p].Seconds()/float64(b.N), p+"-s")
			}
			if secs["new"] > 0 {
				for _, p := range []string{"old", "head"} {
					if secs[p] > 0 {
						b.ReportMetric(float64(secs[p])/float64(secs["new"]), p+"/new")
					}
				}
			}
		})
	}
}
