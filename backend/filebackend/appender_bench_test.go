package filebackend_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentvault/agentvault/backend/filebackend"
)

// BenchmarkAppendVsRaw alternates blocks of one-record Appends with blocks
// of the floor, a write and fsync of the same line to an open file, and
// reports both and their ratio.
func BenchmarkAppendVsRaw(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	fb, err := filebackend.Open(filepath.Join(dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	defer fb.Close()
	f, err := os.OpenFile(filepath.Join(dir, "raw"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rec := bytes.Repeat([]byte{'x'}, 400)
	var last []byte
	var tApp, tRaw time.Duration
	const block = 50
	for b.Loop() {
		start := time.Now()
		for i := range block {
			r := append(append([]byte(nil), rec...), byte('a'+i%26))
			if err := fb.Append(ctx, "audit.w", last, [][]byte{r}); err != nil {
				b.Fatal(err)
			}
			last = r
		}
		tApp += time.Since(start)
		start = time.Now()
		for range block {
			if _, err := f.Write(append(rec, '\n')); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		tRaw += time.Since(start)
	}
	n := float64(b.N * block)
	b.ReportMetric(float64(tApp.Nanoseconds())/n, "append-ns/op")
	b.ReportMetric(float64(tRaw.Nanoseconds())/n, "raw-ns/op")
	b.ReportMetric(float64(tApp)/float64(tRaw), "append/raw")
	b.ReportMetric(0, "ns/op")
}
