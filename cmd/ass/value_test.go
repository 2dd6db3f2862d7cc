package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----"

// TestTerminalValueMultiLine pastes a 3-line PEM at a terminal: the whole
// of it is stored (read until Ctrl-D, i.e. end of input), with echo off
// while reading and a prompt on stderr that says how to end it.
func TestTerminalValueMultiLine(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	c, _, errb := newTestCLI(t, home, "")
	require.Equal(t, exitOK, c.run([]string{"init"}), errb.String())
	for _, args := range [][]string{{"set", "k/pem"}, {"create", "k/pem2"}, {"rotate", "k/pem"}} {
		c, _, errb := newTestCLI(t, home, pem+"\n")
		c.stdinTTY = true
		var off, on int
		c.echoOff = func(int) (func(), error) {
			off++
			return func() { on++ }, nil
		}
		require.Equal(t, exitOK, c.run(args), "ass %q: %s", args, errb.String())
		assert.Equal(t, 1, off, "ass %q: echo turned off once", args)
		assert.Equal(t, 1, on, "ass %q: echo turned back on", args)
		assert.Contains(t, errb.String(), "not echoed", "ass %q: prompt", args)
		assert.Contains(t, errb.String(), "Ctrl-D", "ass %q: the prompt says how to end", args)
		assert.NotContains(t, errb.String(), "BEGIN", "ass %q: the value is not echoed", args)

		c, out, errb := newTestCLI(t, home, "")
		require.Equal(t, exitOK, c.run([]string{"get", args[1]}), errb.String())
		assert.Equal(t, pem, out.String(), "ass %q stored the whole PEM", args)
	}
}

// TestEmptyValueRefused: set, create and rotate refuse an empty value, from
// a pipe, an argument or --value, unless --allow-empty.
func TestEmptyValueRefused(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("v1", "set", "a/x")
	for _, tc := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"set", "a/x"}},
		{"\n", []string{"set", "a/x"}},
		{"", []string{"set", "a/x", ""}},
		{"", []string{"create", "a/new"}},
		{"", []string{"create", "a/new", "-"}},
		{"", []string{"rotate", "a/x"}},
		{"", []string{"rotate", "a/x", "--value", ""}},
	} {
		stderr := s.fails(exitUsage, tc.stdin, tc.args...)
		assert.Contains(t, stderr, "the value is empty", "ass %q", tc.args)
		assert.Contains(t, stderr, "--allow-empty", "ass %q", tc.args)
	}
	assert.Equal(t, "v1", s.ok("", "get", "a/x"), "nothing was stored")
	s.fails(exitNotFound, "", "get", "a/new")
	s.ok("", "set", "a/x", "--allow-empty")
	assert.Equal(t, "", s.ok("", "get", "a/x"))
	s.ok("", "create", "a/new", "--allow-empty")
	s.ok("", "rotate", "a/new", "--allow-empty")
}
