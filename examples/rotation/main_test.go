package main

import "testing"

// TestRotation runs the rotation example end to end (file store, local key,
// simulated clock).
func TestRotation(t *testing.T) {
	if err := run(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
