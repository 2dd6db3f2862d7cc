package redisbackend

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// BenchmarkGetAppendVsGet alternates blocks of GetAppend (one record of
// 700 bytes, one 400-byte log record) with blocks of Backend Gets of the
// same record, and of the floor of any one-trip conditional append: a
// MULTI holding an EVALSHA of a script that returns 1 and the GET. It
// reports each one's ns/op and the ratios getappend/get and floor/get.
func BenchmarkGetAppendVsGet(b *testing.B) {
	client := redistest.StartServer(b).Client(b)
	be, err := New(client)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rev, err := be.Put(ctx, "bench/k", bytes.Repeat([]byte{'v'}, 700), 0)
	if err != nil {
		b.Fatal(err)
	}
	var last []byte
	n := 0
	record := func() []byte {
		n++
		return append(bytes.Repeat([]byte{'e'}, 390), strconv.Itoa(n)...)
	}
	reads := []backend.ReadCond{{Key: "bench/k", Rev: rev}}
	getAppend := func() {
		rec := record()
		if _, ok, err := be.GetAppend(ctx, reads, "audit.bench", last, [][]byte{rec}); err != nil || !ok {
			b.Fatal(err, ok)
		}
		last = rec
	}
	get := func() {
		if _, _, err := be.Get(ctx, "bench/k"); err != nil {
			b.Fatal(err)
		}
	}
	noop := redis.NewScript(`return 1`)
	dk := be.dataKey("bench/k")
	floor := func() {
		rec := record()
		var g *redis.StringCmd
		if _, err := client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			noop.EvalSha(ctx, p, []string{"{x}:log", dk}, last, "1", rec)
			g = p.Get(ctx, dk)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if _, err := g.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
	getAppend()
	if err := noop.Load(ctx, client).Err(); err != nil {
		b.Fatal(err)
	}
	const block = 100
	var tGA, tGet, tFloor time.Duration
	run := func(f func()) time.Duration {
		start := time.Now()
		for range block {
			f()
		}
		return time.Since(start)
	}
	for b.Loop() {
		tGA += run(getAppend)
		tGet += run(get)
		tFloor += run(floor)
	}
	ops := float64(b.N * block)
	b.ReportMetric(float64(tGA.Nanoseconds())/ops, "getappend-ns/op")
	b.ReportMetric(float64(tGet.Nanoseconds())/ops, "get-ns/op")
	b.ReportMetric(float64(tFloor.Nanoseconds())/ops, "floor-ns/op")
	b.ReportMetric(float64(tGA)/float64(tGet), "getappend/get")
	b.ReportMetric(float64(tFloor)/float64(tGet), "floor/get")
	b.ReportMetric(0, "ns/op")
}
