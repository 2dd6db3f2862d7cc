package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHelpOnce: "ass help CMD" shows the command's own flags; the global
// flags, environment and exit codes are in "ass help" once (issue 17 item 6).
func TestHelpOnce(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	main := s.ok("", "help")
	assert.Equal(t, 1, strings.Count(main, "Exit codes:"))
	assert.Equal(t, 1, strings.Count(main, "Global flags"))
	for _, c := range commands {
		text := s.ok("", "help", c.name)
		assert.NotContains(t, text, "Exit codes:", "ass help %s", c.name)
		assert.NotContains(t, text, "--backend URL", "ass help %s", c.name)
		assert.Contains(t, text, `exit codes: see "ass help".`, "ass help %s", c.name)
	}
	get := s.ok("", "help", "get")
	assert.Contains(t, get, "--version vN")
	assert.Contains(t, s.ok("", "help", "version"), "VCS revision")
	assert.Contains(t, s.ok("", "help", "completion"), "bash | zsh | fish")
}
