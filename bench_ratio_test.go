package agentvault_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// BenchmarkGetSecretVsBaseline alternates blocks of 200 warm GetSecret
// calls with 200 runs of the baseline for that backend, so that load
// drifting on a shared machine hits both alike, and reports each one's
// ns/op and their ratio (vault/base). Baselines: memory, a map lookup and
// an AES-GCM open of the same value; file, reading a record-sized file and
// the same open; redis, a raw go-redis GET of a record-sized value. For 8
// goroutines the ratio is of elapsed time, i.e. the inverse of throughput.
// Audit is off: this is the read path.
func BenchmarkGetSecretVsBaseline(b *testing.B) {
	val := benchValue()
	recSize := storedRecordSize(b)
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	aad := bytes.Repeat([]byte{'a'}, 60)
	ct := aead.Seal(nil, nonce, val, aad)
	open := func(c []byte) {
		if _, err := aead.Open(nil, nonce, c, aad); err != nil {
			b.Fatal(err)
		}
	}

	newVault := func(b *testing.B, kind string) (*agentvault.AgentVault, func()) {
		var base func()
		var v *agentvault.AgentVault
		var err error
		switch kind {
		case "memory":
			v, err = agentvault.New(membackend.New(), testKey(b), agentvault.WithAudit(false))
			var mu sync.RWMutex
			m := map[string][]byte{"s/production/openai/api-key": ct}
			base = func() {
				mu.RLock()
				c := m["s/production/openai/api-key"]
				mu.RUnlock()
				open(c)
			}
		case "file":
			fb, ferr := filebackend.Open(b.TempDir())
			if ferr != nil {
				b.Fatal(ferr)
			}
			b.Cleanup(func() { fb.Close() })
			v, err = agentvault.New(fb, testKey(b), agentvault.WithAudit(false))
			path := filepath.Join(b.TempDir(), "record")
			if err := os.WriteFile(path, bytes.Repeat([]byte{1}, recSize), 0o600); err != nil {
				b.Fatal(err)
			}
			base = func() {
				if _, err := os.ReadFile(path); err != nil {
					b.Fatal(err)
				}
				open(ct)
			}
		case "redis":
			client := redistest.StartServer(b).Client(b)
			rb, rerr := redisbackend.New(client)
			if rerr != nil {
				b.Fatal(rerr)
			}
			v, err = agentvault.New(rb, testKey(b), agentvault.WithAudit(false))
			if err := client.Set(ctx, "raw", strings.Repeat("x", recSize), 0).Err(); err != nil {
				b.Fatal(err)
			}
			base = func() {
				if _, err := client.Get(ctx, "raw").Bytes(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "production/openai/api-key",
			Value: agentvault.NewValue(val), Type: agentvault.TypeAPIKey, Tier: agentvault.TierStandard}); err != nil {
			b.Fatal(err)
		}
		return v, base
	}

	const blockOps = 200
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
	}{{"memory", 1}, {"file", 1}, {"redis", 1}, {"redis", 8}} {
		name := c.kind
		if c.goroutines > 1 {
			name += "/parallel8"
		}
		b.Run(name, func(b *testing.B) {
			v, base := newVault(b, c.kind)
			get := func() {
				if _, err := v.GetSecret(ctx, "production/openai/api-key"); err != nil {
					b.Fatal(err)
				}
			}
			var tVault, tBase time.Duration
			for b.Loop() {
				tVault += run(c.goroutines, get)
				tBase += run(c.goroutines, base)
			}
			ops := float64(b.N * blockOps * c.goroutines)
			b.ReportMetric(float64(tVault.Nanoseconds())/ops, "vault-ns/op")
			b.ReportMetric(float64(tBase.Nanoseconds())/ops, "base-ns/op")
			b.ReportMetric(float64(tVault)/float64(tBase), "vault/base")
			b.ReportMetric(0, "ns/op")
		})
	}
}
