package agentvault_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/agentvault/agentvault"
)

// historyVersions is how many versions the long-history secret keeps in
// BenchmarkHistory.
const historyVersions = 1000

// BenchmarkHistory compares GetSecret and UpdateSecret on a secret with
// 1,000 kept versions against the same call on a secret with one version,
// in the same run: blocks of 20 calls of each alternate, so drifting load
// hits both alike. It reports both ns/op and their ratio (long/short).
// For updates, the short side updates a freshly created secret each time
// (creation not timed), so it always has one version; the long side keeps
// growing from 1,000 versions. Audit is off.
func BenchmarkHistory(b *testing.B) {
	for _, bk := range benchBackends(b) {
		for _, op := range []string{"get", "update"} {
			b.Run(bk.name+"/"+op, func(b *testing.B) {
				v, err := agentvault.New(bk.open(b), testKey(b), agentvault.WithAudit(false))
				if err != nil {
					b.Fatal(err)
				}
				defer v.Close()
				val := agentvault.NewValue(benchValue())
				for _, p := range []string{"bench/short", "bench/long"} {
					if _, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: p, Value: val}); err != nil {
						b.Fatal(err)
					}
				}
				for i := 1; i < historyVersions; i++ {
					if _, err := v.UpdateSecret(ctx, "bench/long", agentvault.UpdateSecretInput{Value: &val}); err != nil {
						b.Fatal(err)
					}
				}
				fresh := 0
				timed := func(path string) time.Duration {
					if op == "get" {
						start := time.Now()
						if _, err := v.GetSecret(ctx, path); err != nil {
							b.Fatal(err)
						}
						return time.Since(start)
					}
					if path == "bench/short" {
						fresh++
						path = "bench/fresh" + strconv.Itoa(fresh)
						if _, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: path, Value: val}); err != nil {
							b.Fatal(err)
						}
					}
					start := time.Now()
					if _, err := v.UpdateSecret(ctx, path, agentvault.UpdateSecretInput{Value: &val}); err != nil {
						b.Fatal(err)
					}
					return time.Since(start)
				}
				const block = 20
				var tShort, tLong time.Duration
				for b.Loop() {
					for range block {
						tShort += timed("bench/short")
					}
					for range block {
						tLong += timed("bench/long")
					}
				}
				ops := float64(b.N * block)
				b.ReportMetric(float64(tShort.Nanoseconds())/ops, "v1-ns/op")
				b.ReportMetric(float64(tLong.Nanoseconds())/ops, "v1000-ns/op")
				b.ReportMetric(float64(tLong)/float64(tShort), "long/short")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
