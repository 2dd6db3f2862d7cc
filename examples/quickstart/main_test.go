package main

import "testing"

// TestQuickstart runs the quickstart end to end (file store, local key).
func TestQuickstart(t *testing.T) {
	if err := run(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
