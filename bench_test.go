package agentvault_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
	"github.com/agentvault/agentvault/kms/kmstest"
)

// benchValueSize is the size of the secret read in the GetSecret
// benchmarks: a typical API key or connection string.
const benchValueSize = 256

func benchValue() []byte {
	v := make([]byte, benchValueSize)
	rand.Read(v)
	return v
}

// BenchmarkGetSecret reads the active version of one secret through a warm
// vault. Compare each backend with its floor in BenchmarkGetFloor.
func BenchmarkGetSecret(b *testing.B) {
	for _, bk := range benchBackends(b) {
		b.Run(bk.name, func(b *testing.B) {
			counting := kmstest.NewCounting(testKey(b))
			v, err := agentvault.New(bk.open(b), counting, agentvault.WithAudit(false))
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			val := benchValue()
			if _, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{
				Path: "production/openai/api-key", Value: agentvault.NewValue(val),
				Type: agentvault.TypeAPIKey, Tier: agentvault.TierStandard,
			}); err != nil {
				b.Fatal(err)
			}
			counting.Reset()
			b.ReportAllocs()
			b.SetBytes(benchValueSize)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s, err := v.GetSecret(ctx, "production/openai/api-key")
				if err != nil || s.Value.Len() != benchValueSize {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(counting.Encrypts()+counting.Decrypts())/float64(b.N), "kms-calls/op")
		})
	}
}

// BenchmarkGetFloor is what a read cannot avoid: for memory, a map lookup
// and an AES-256-GCM open of a same-size value; for file, reading a file of
// the stored record's size and the same open.
func BenchmarkGetFloor(b *testing.B) {
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	ct := aead.Seal(nil, nonce, benchValue(), []byte("aad-of-similar-length-0123456789abcdef0123456789"))
	aad := []byte("aad-of-similar-length-0123456789abcdef0123456789")

	b.Run("memory", func(b *testing.B) {
		var mu sync.RWMutex
		m := map[string][]byte{"s/production/openai/api-key": ct}
		b.ReportAllocs()
		b.SetBytes(benchValueSize)
		for i := 0; i < b.N; i++ {
			mu.RLock()
			c := m["s/production/openai/api-key"]
			mu.RUnlock()
			if _, err := aead.Open(nil, nonce, c, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("file", func(b *testing.B) {
		// A file as large as the record the vault stores for this secret.
		recSize := storedRecordSize(b)
		path := filepath.Join(b.TempDir(), "record")
		if err := os.WriteFile(path, bytes.Repeat([]byte{1}, recSize), 0o600); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(benchValueSize)
		for i := 0; i < b.N; i++ {
			if _, err := os.ReadFile(path); err != nil {
				b.Fatal(err)
			}
			if _, err := aead.Open(nil, nonce, ct, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateSecret creates distinct secrets (each one KMS wrap and,
// on the file backend, one durable write).
func BenchmarkCreateSecret(b *testing.B) {
	for _, bk := range benchBackends(b) {
		b.Run(bk.name, func(b *testing.B) {
			v, err := agentvault.New(bk.open(b), testKey(b), agentvault.WithAudit(false))
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			val := agentvault.NewValue(benchValue())
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "bench/k" + strconv.Itoa(i), Value: val}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpdateSecret adds versions to one secret that keeps its 20
// newest versions (a retention count), so each iteration measures the
// steady state. An update rewrites the secret's record, so its cost grows
// with the number of versions kept.
func BenchmarkUpdateSecret(b *testing.B) {
	for _, bk := range benchBackends(b) {
		b.Run(bk.name, func(b *testing.B) {
			v, err := agentvault.New(bk.open(b), testKey(b), agentvault.WithAudit(false),
				agentvault.WithRetention(agentvault.RetentionPolicy{MaxVersions: 20}))
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			val := agentvault.NewValue(benchValue())
			if _, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "bench/k", Value: val}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := v.UpdateSecret(ctx, "bench/k", agentvault.UpdateSecretInput{Value: &val}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type benchBackend struct {
	name string
	open func(b *testing.B) backend.Backend
}

func benchBackends(b *testing.B) []benchBackend {
	return []benchBackend{
		{"memory", func(b *testing.B) backend.Backend { return membackend.New() }},
		{"file", func(b *testing.B) backend.Backend {
			fb, err := filebackend.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { fb.Close() })
			return fb
		}},
		{"redis", func(b *testing.B) backend.Backend {
			srv := redistest.StartServer(b)
			rb, err := redisbackend.New(srv.Client(b))
			if err != nil {
				b.Fatal(err)
			}
			return rb
		}},
	}
}

func storedRecordSize(b *testing.B) int {
	mb := membackend.New()
	v, err := agentvault.New(mb, testKey(b))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	if _, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{
		Path: "production/openai/api-key", Value: agentvault.NewValue(benchValue()),
		Type: agentvault.TypeAPIKey, Tier: agentvault.TierStandard,
	}); err != nil {
		b.Fatal(err)
	}
	raw, _, err := mb.Get(ctx, "s/production/openai/api-key")
	if err != nil {
		b.Fatal(err)
	}
	return len(raw) + 16 // the file backend's header
}
