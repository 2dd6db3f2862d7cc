package pgbackend_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// statementCounter counts the statements (round trips) a pool runs.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func countingPool(t testing.TB) (*pgxpool.Pool, *statementCounter) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(shared(t).URL())
	require.NoError(t, err)
	c := &statementCounter{}
	cfg.ConnConfig.Tracer = c
	cfg.MaxConns = 1 // one connection: statements are prepared once, then reused
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, c
}

// TestRoundTrips: with audit off, a warm GetSecret is one statement,
// UpdateSecret three (read the head, write the displaced version's record,
// swap the head by revision: record format 4, whose cost does not grow
// with history), CreateSecret one; with audit
// on each adds one write.
func TestRoundTrips(t *testing.T) {
	for _, audit := range []bool{false, true} {
		pool, c := countingPool(t)
		v := newVault(t, newBackend(t, pool), agentvault.WithAudit(audit))
		extra := int64(0)
		if audit {
			extra = 1
		}
		_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "warm/up", Value: agentvault.StringValue("x")})
		require.NoError(t, err)
		_, err = v.GetSecret(ctx, "warm/up")
		require.NoError(t, err)
		val := agentvault.StringValue("y")
		_, err = v.UpdateSecret(ctx, "warm/up", agentvault.UpdateSecretInput{Value: &val})
		require.NoError(t, err)

		measure := func(name string, want int64, f func() error) {
			before := c.n.Load()
			require.NoError(t, f(), name)
			assert.Equal(t, want, c.n.Load()-before, "%s statements (audit=%t)", name, audit)
		}
		measure("CreateSecret", 1+extra, func() error {
			_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "rt/a", Value: agentvault.StringValue("x")})
			return err
		})
		measure("GetSecret", 1+extra, func() error { _, err := v.GetSecret(ctx, "warm/up"); return err })
		measure("UpdateSecret", 3+extra, func() error {
			val := agentvault.StringValue("z")
			_, err := v.UpdateSecret(ctx, "warm/up", agentvault.UpdateSecretInput{Value: &val})
			return err
		})
	}
}

// BenchmarkGetSecretVsRawSelect alternates blocks of 200 warm GetSecret
// calls (audit off: the read path) with 200 raw pgx
// `SELECT value FROM … WHERE key = $1` of a value the size of the stored
// record, serially and from 8 goroutines, and reports both and their ratio
// (for 8 goroutines a ratio of elapsed time, the inverse of throughput).
func BenchmarkGetSecretVsRawSelect(b *testing.B) {
	for _, goroutines := range []int{1, 8} {
		name := "serial"
		if goroutines > 1 {
			name = "parallel8"
		}
		b.Run(name, func(b *testing.B) {
			pool := newPool(b)
			be := newBackend(b, pool)
			v := newVault(b, be, agentvault.WithAudit(false))
			_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "production/openai/api-key",
				Value: agentvault.StringValue(strings.Repeat("v", 256)), Tier: agentvault.TierStandard})
			require.NoError(b, err)
			rec, _, err := be.Get(ctx, "s/production/openai/api-key")
			require.NoError(b, err)
			_, err = pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS raw_bench (key text COLLATE \"C\" PRIMARY KEY, value bytea NOT NULL)")
			require.NoError(b, err)
			_, err = pool.Exec(ctx, "INSERT INTO raw_bench VALUES ('raw', $1) ON CONFLICT (key) DO UPDATE SET value = $1", rec)
			require.NoError(b, err)
			get := func() {
				if _, err := v.GetSecret(ctx, "production/openai/api-key"); err != nil {
					b.Fatal(err)
				}
			}
			raw := func() {
				var val []byte
				if err := pool.QueryRow(ctx, "SELECT value FROM raw_bench WHERE key = $1", "raw").Scan(&val); err != nil {
					b.Fatal(err)
				}
			}
			const blockOps = 200
			run := func(op func()) time.Duration {
				start := time.Now()
				var wg sync.WaitGroup
				for range goroutines {
					wg.Go(func() {
						for range blockOps {
							op()
						}
					})
				}
				wg.Wait()
				return time.Since(start)
			}
			run(get)
			run(raw)
			var tVault, tRaw time.Duration
			for b.Loop() {
				tVault += run(get)
				tRaw += run(raw)
			}
			ops := float64(b.N * blockOps * goroutines)
			b.ReportMetric(float64(tVault.Nanoseconds())/ops, "vault-ns/op")
			b.ReportMetric(float64(tRaw.Nanoseconds())/ops, "raw-ns/op")
			b.ReportMetric(float64(tVault)/float64(tRaw), "vault/raw")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkUpdateSecret measures an update (audit off): a read and a
// conditional UPDATE.
func BenchmarkUpdateSecret(b *testing.B) {
	v := newVault(b, newBackend(b, newPool(b)), agentvault.WithAudit(false))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "p/k", Value: agentvault.StringValue("v")})
	require.NoError(b, err)
	val := agentvault.StringValue(strings.Repeat("u", 256))
	for b.Loop() {
		if _, err := v.UpdateSecret(ctx, "p/k", agentvault.UpdateSecretInput{Value: &val}); err != nil {
			b.Fatal(err)
		}
	}
}
