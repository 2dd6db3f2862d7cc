package agentvault_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// BenchmarkAuditedGet alternates blocks of warm audited GetSecret calls
// with blocks of unaudited ones (a WithAudit(false) vault on the same
// backend), so drifting load hits both alike, and reports each one's
// ns/op and their ratio. On the file backend it also runs the floor of an
// audited read, "read the record + one append and fsync": os.ReadFile of a
// record-sized file, an AES-GCM open, and a 400-byte write and fsync to an
// open file. With 8 goroutines, ns/op is elapsed time per read (the inverse
// of throughput).
func BenchmarkAuditedGet(b *testing.B) {
	val := benchValue()
	recSize := storedRecordSize(b)
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	aad := bytes.Repeat([]byte{'a'}, 60)
	ct := aead.Seal(nil, nonce, val, aad)

	open := func(b *testing.B, kind string) backend.Backend {
		switch kind {
		case "memory":
			return membackend.New()
		case "file":
			fb, err := filebackend.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { fb.Close() })
			return fb
		default:
			rb, err := redisbackend.New(redistest.StartServer(b).Client(b))
			if err != nil {
				b.Fatal(err)
			}
			return rb
		}
	}
	const blockOps = 100
	run := func(goroutines int, op func()) time.Duration {
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
	for _, c := range []struct {
		kind       string
		goroutines int
	}{{"memory", 1}, {"file", 1}, {"file", 8}, {"redis", 1}, {"redis", 8}} {
		name := c.kind
		if c.goroutines > 1 {
			name += "/parallel8"
		}
		b.Run(name, func(b *testing.B) {
			bk := open(b, c.kind)
			audited, err := agentvault.New(bk, testKey(b))
			if err != nil {
				b.Fatal(err)
			}
			defer audited.Close()
			plain, err := agentvault.New(bk, testKey(b), agentvault.WithAudit(false))
			if err != nil {
				b.Fatal(err)
			}
			defer plain.Close()
			if _, err := plain.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "production/openai/api-key",
				Value: agentvault.NewValue(val), Type: agentvault.TypeAPIKey, Tier: agentvault.TierStandard}); err != nil {
				b.Fatal(err)
			}
			getter := func(v *agentvault.AgentVault) func() {
				return func() {
					if _, err := v.GetSecret(ctx, "production/openai/api-key"); err != nil {
						b.Fatal(err)
					}
				}
			}
			var floor func()
			if c.kind == "file" {
				dir := b.TempDir()
				rec := filepath.Join(dir, "record")
				if err := os.WriteFile(rec, bytes.Repeat([]byte{1}, recSize), 0o600); err != nil {
					b.Fatal(err)
				}
				lf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
				if err != nil {
					b.Fatal(err)
				}
				defer lf.Close()
				line := append(bytes.Repeat([]byte{'x'}, 399), '\n')
				var mu sync.Mutex // one writer at a time, as in a log
				floor = func() {
					if _, err := os.ReadFile(rec); err != nil {
						b.Fatal(err)
					}
					if _, err := aead.Open(nil, nonce, ct, aad); err != nil {
						b.Fatal(err)
					}
					mu.Lock()
					defer mu.Unlock()
					if _, err := lf.Write(line); err != nil {
						b.Fatal(err)
					}
					if err := lf.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			var tAud, tPlain, tFloor time.Duration
			for b.Loop() {
				tAud += run(c.goroutines, getter(audited))
				tPlain += run(c.goroutines, getter(plain))
				if floor != nil && c.goroutines == 1 {
					tFloor += run(1, floor)
				}
			}
			ops := float64(b.N * blockOps * c.goroutines)
			b.ReportMetric(float64(tAud.Nanoseconds())/ops, "audited-ns/op")
			b.ReportMetric(float64(tPlain.Nanoseconds())/ops, "unaudited-ns/op")
			b.ReportMetric(float64(tAud)/float64(tPlain), "audited/unaudited")
			if tFloor > 0 {
				b.ReportMetric(float64(tFloor.Nanoseconds())/ops, "floor-ns/op")
				b.ReportMetric(float64(tAud)/float64(tFloor), "audited/floor")
			}
			// Heap allocations of one read, measured serially after the
			// timed blocks.
			b.ReportMetric(testing.AllocsPerRun(100, getter(audited)), "audited-allocs/op")
			b.ReportMetric(testing.AllocsPerRun(100, getter(plain)), "unaudited-allocs/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}
