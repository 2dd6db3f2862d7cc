package redisbackend_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// BenchmarkPutWait measures the cost of waiting for replicas: on a master
// with two replicas, it alternates blocks of 1 KiB Puts through a Backend
// with wait=0, one with the default (WaitAuto: both replicas) and one with
// WithWait(1), so that load drifting on a shared machine hits all alike,
// and reports each one's ns/op and the ratios to wait=0 (time for serial,
// throughput's inverse for 8 goroutines). One b.N iteration is one block of
// each.
//
//	go test -run '^$' -bench BenchmarkPutWait -benchtime 20x ./backend/redisbackend
func BenchmarkPutWait(b *testing.B) {
	master := redistest.StartServer(b)
	redistest.StartReplica(b, master)
	redistest.StartReplica(b, master)
	redistest.WaitReplicas(b, master, 2)
	ctx := context.Background()
	newBackend := func(prefix string, opts ...redisbackend.Option) *redisbackend.Backend {
		be, err := redisbackend.New(master.Client(b), append(opts, redisbackend.WithPrefix(prefix))...)
		require.NoError(b, err, "New")
		return be
	}
	modes := []struct {
		name string
		be   *redisbackend.Backend
	}{
		{"off", newBackend("off", redisbackend.WithWait(0))},
		{"auto", newBackend("auto")},
		{"one", newBackend("one", redisbackend.WithWait(1))},
	}
	value := bytes.Repeat([]byte("w"), 1024)
	const block = 100
	run := func(b *testing.B, goroutines int, be *redisbackend.Backend) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				key := fmt.Sprintf("bench/%d", g)
				_, rev, _ := be.Get(ctx, key)
				for range block {
					var err error
					if rev, err = be.Put(ctx, key, value, rev); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	for _, g := range []int{1, 8} {
		name := "serial"
		if g > 1 {
			name = fmt.Sprintf("parallel%d", g)
		}
		b.Run(name, func(b *testing.B) {
			total := make([]time.Duration, len(modes))
			for b.Loop() {
				for i, m := range modes {
					total[i] += run(b, g, m.be)
				}
			}
			ops := float64(b.N * block * g)
			for i, m := range modes {
				b.ReportMetric(float64(total[i].Nanoseconds())/ops, m.name+"-ns/op")
			}
			b.ReportMetric(float64(total[1])/float64(total[0]), "auto/off")
			b.ReportMetric(float64(total[2])/float64(total[0]), "one/off")
			b.ReportMetric(0, "ns/op")
		})
	}
}
