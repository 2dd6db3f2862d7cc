package main

import "testing"

// TestExample runs the scoped-token and approval walkthrough end to end.
func TestExample(t *testing.T) {
	if err := run(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
