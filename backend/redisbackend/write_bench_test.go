package redisbackend

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/agentvault/agentvault/internal/redistest"
)

// BenchmarkPutVsRawSET alternates blocks of Backend Puts with raw SETs of
// the same value, so that drifting load hits both alike, and reports their
// ratio (put/raw): a 64 KiB update (a conditional Put over an existing
// key) and a small create, with the Backend's defaults (WaitAuto: the Put
// pipelines a ROLE; the server has no replicas; lost-write detection on)
// and with WithWait(0) and WithoutLostWriteDetection ("nowait").
func BenchmarkPutVsRawSET(b *testing.B) {
	type setup struct {
		name   string
		size   int
		update bool
		opts   []Option
	}
	var cases []setup
	for _, o := range []struct {
		name string
		opts []Option
	}{{"default", nil}, {"nowait", []Option{WithWait(0), WithoutLostWriteDetection()}}} {
		cases = append(cases, setup{"update-64KiB/" + o.name, 64 << 10, true, o.opts}, setup{"create-small/" + o.name, 64, false, o.opts})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			client := redistest.StartServer(b).Client(b)
			be, err := New(client, c.opts...)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			val := bytes.Repeat([]byte{'x'}, c.size)
			rev, err := be.Put(ctx, "bench/u", val, 0)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			put := func() {
				var err error
				if c.update {
					rev, err = be.Put(ctx, "bench/u", val, rev)
				} else {
					n++
					_, err = be.Put(ctx, "bench/c"+strconv.Itoa(n), val, 0)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			raw := func() {
				n++
				key := "raw/u"
				if !c.update {
					key = "raw/c" + strconv.Itoa(n)
				}
				if err := client.Set(ctx, key, val, 0).Err(); err != nil {
					b.Fatal(err)
				}
			}
			const block = 100
			var tPut, tRaw time.Duration
			for b.Loop() {
				start := time.Now()
				for range block {
					put()
				}
				tPut += time.Since(start)
				start = time.Now()
				for range block {
					raw()
				}
				tRaw += time.Since(start)
			}
			ops := float64(b.N * block)
			b.ReportMetric(float64(tPut.Nanoseconds())/ops, "put-ns/op")
			b.ReportMetric(float64(tRaw.Nanoseconds())/ops, "raw-ns/op")
			b.ReportMetric(float64(tPut)/float64(tRaw), "put/raw")
			b.ReportMetric(0, "ns/op")
		})
	}
}
