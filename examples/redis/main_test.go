package main

import (
	"testing"

	"github.com/agentvault/agentvault/internal/redistest"
)

// TestExample runs the example against a real redis-server on a free
// loopback port.
func TestExample(t *testing.T) {
	srv := redistest.StartServer(t)
	if err := run("redis://" + srv.Addr + "/0"); err != nil {
		t.Fatalf("run: %v", err)
	}
}
