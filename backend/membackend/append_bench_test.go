package membackend_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/agentvault/agentvault/backend/membackend"
)

// BenchmarkAppend appends one 400-byte record per op to one log (as an
// audit writer does), chaining on the previous record.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	m := membackend.New()
	rec := bytes.Repeat([]byte{'x'}, 400)
	recs := [][]byte{rec}
	var last []byte
	for b.Loop() {
		if err := m.Append(ctx, "audit.w", last, recs); err != nil {
			b.Fatal(err)
		}
		last = rec
	}
}
