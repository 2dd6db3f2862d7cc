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
// 700 bytes, one 400-byte log record; "getappend" without a size hint: the
// MULTI path, "small" with one: one script returning the record) with
// blocks of Backend Gets of the same record, and of the floor of the MULTI
// path: a MULTI holding an EVALSHA of a script that returns 1 and the GET.
// It reports each one's ns/op, the ratios to get, and the server's own
// time per operation (srv-us/op, see serverUsec).
func BenchmarkGetAppendVsGet(b *testing.B) {
	srv := redistest.StartServer(b)
	client := srv.Client(b)
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
	// With the size of the value known: one script returning the record.
	small := []backend.ReadCond{{Key: "bench/k", Rev: rev, Size: 700}}
	getAppendOf := func(reads []backend.ReadCond) func() {
		return func() {
			rec := record()
			if _, ok, err := be.GetAppend(ctx, reads, "audit.bench", last, [][]byte{rec}); err != nil || !ok {
				b.Fatal(err, ok)
			}
			last = rec
		}
	}
	getAppend, getAppendSmall := getAppendOf(reads), getAppendOf(small)
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
	getAppendSmall()
	if err := noop.Load(ctx, client).Err(); err != nil {
		b.Fatal(err)
	}
	const block = 100
	var tGA, tSmall, tGet, tFloor time.Duration
	var sGA, sSmall, sGet float64 // server time, µs
	run := func(f func(), srvUsec *float64) time.Duration {
		s0 := serverUsec(b, srv)
		start := time.Now()
		for range block {
			f()
		}
		d := time.Since(start)
		if srvUsec != nil {
			*srvUsec += serverUsec(b, srv) - s0
		}
		return d
	}
	for b.Loop() {
		tGA += run(getAppend, &sGA)
		tSmall += run(getAppendSmall, &sSmall)
		tGet += run(get, &sGet)
		tFloor += run(floor, nil)
	}
	ops := float64(b.N * block)
	b.ReportMetric(float64(tGA.Nanoseconds())/ops, "getappend-ns/op")
	b.ReportMetric(float64(tGet.Nanoseconds())/ops, "get-ns/op")
	b.ReportMetric(float64(tFloor.Nanoseconds())/ops, "floor-ns/op")
	b.ReportMetric(float64(tSmall.Nanoseconds())/ops, "small-ns/op")
	b.ReportMetric(float64(tGA)/float64(tGet), "getappend/get")
	b.ReportMetric(float64(tSmall)/float64(tGet), "small/get")
	b.ReportMetric(float64(tFloor)/float64(tGet), "floor/get")
	b.ReportMetric(sGA/ops, "getappend-srv-us/op")
	b.ReportMetric(sSmall/ops, "small-srv-us/op")
	b.ReportMetric(sGet/ops, "get-srv-us/op")
	b.ReportMetric(0, "ns/op")
}
