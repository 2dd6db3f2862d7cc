package membackend_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/agentvault/agentvault/backend/membackend"
)

// BenchmarkAppend appends one 400-byte record per op to one log (as an
// audit writer does), chaining on the previous record. Every record is
// kept, so the heap grows by each one: most of the time is the copy into
// memory touched for the first time (page faults, counted as memmove).
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	rec := bytes.Repeat([]byte{'x'}, 400)
	recs := [][]byte{rec}
	m := membackend.New()
	var last []byte
	for b.Loop() {
		if err := m.Append(ctx, "audit.w", last, recs); err != nil {
			b.Fatal(err)
		}
		last = rec
	}
}
