package main

import (
	"context"
	"testing"

	"github.com/agentvault/agentvault/backend/pgbackend/pgtest"
)

// TestExample runs the example against a throwaway PostgreSQL server.
func TestExample(t *testing.T) {
	srv := pgtest.Start(t)
	if err := run(context.Background(), srv.URL()); err != nil {
		t.Fatalf("run: %v", err)
	}
}
