package redisbackend

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentvault/agentvault/internal/redistest"
)

// BenchmarkPutVsRawSET alternates blocks of Backend Puts with raw SETs of
// the same value, so that drifting load hits both alike, and reports their
// ratio (put/raw): a 64 KiB update (a conditional Put over an existing
// key) and a small create, with the Backend's defaults (WaitAuto: the Put
// pipelines a ROLE; the server has no replicas; lost-write detection on)
// and with WithWait(0) and WithoutLostWriteDetection ("nowait"). The
// srv-us/op metrics are the server's own time per operation (INFO
// commandstats, see serverUsec): the rest of ns/op is the round trip and
// the client.
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
			srv := redistest.StartServer(b)
			client := srv.Client(b)
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
			var sPut, sRaw float64 // server time, µs
			for b.Loop() {
				s0 := serverUsec(b, srv)
				start := time.Now()
				for range block {
					put()
				}
				tPut += time.Since(start)
				s1 := serverUsec(b, srv)
				start = time.Now()
				for range block {
					raw()
				}
				tRaw += time.Since(start)
				sPut, sRaw = sPut+s1-s0, sRaw+serverUsec(b, srv)-s1
			}
			ops := float64(b.N * block)
			b.ReportMetric(float64(tPut.Nanoseconds())/ops, "put-ns/op")
			b.ReportMetric(float64(tRaw.Nanoseconds())/ops, "raw-ns/op")
			b.ReportMetric(float64(tPut)/float64(tRaw), "put/raw")
			b.ReportMetric(sPut/ops, "put-srv-us/op")
			b.ReportMetric(sRaw/ops, "raw-srv-us/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// serverUsec returns the microseconds the server spent in the commands
// clients sent (INFO commandstats): the commands a script or a MULTI runs
// are counted in its EVALSHA, EVAL or EXEC, not again.
func serverUsec(b *testing.B, srv *redistest.Server) float64 {
	b.Helper()
	reply, err := srv.Do("INFO", "commandstats")
	if err != nil {
		b.Fatal(err)
	}
	top := map[string]bool{"get": true, "set": true, "evalsha": true, "eval": true, "exec": true,
		"role": true, "wait": true, "sadd": true, "multi": true, "script|load": true}
	var total float64
	for line := range strings.SplitSeq(reply.(string), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || !top[name] {
			continue
		}
		_, rest, _ = strings.Cut(rest, "usec=")
		usec, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseFloat(usec, 64)
		if err != nil {
			b.Fatalf("INFO commandstats line %q: %v", line, err)
		}
		total += n
	}
	return total
}
