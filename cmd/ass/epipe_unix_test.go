//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuietEPIPE: output to a pipe nobody reads ("ass list | head -1" once
// head has gone) exits 0 with nothing on stderr, not 141 (issue 17 item 7).
func TestQuietEPIPE(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("v", "set", "a/b")
	s.ok("v", "set", "x/K", "--expires-in", "1h")
	for _, args := range [][]string{
		{"list"}, {"list", "--json"}, {"get", "a/b"}, {"get", "a/b", "--json"}, {"versions", "a/b"},
		{"expiring"}, {"export", "--namespace", "x"}, {"audit"}, {"audit", "--json"}, {"token", "list"},
		{"approvals", "list"}, {"agents", "list"}, {"doctor"}, {"help"}, {"help", "run"}, {"version"},
		{"completion", "bash"}, {"__complete", "get", ""},
	} {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		require.NoError(t, r.Close()) // the reader is gone before ass writes
		cmd := exec.Command(assBin, args...)
		cmd.Env = append(os.Environ(), "ASS_HOME="+s.home, "HOME="+filepath.Dir(s.home))
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = w, &stderr
		err = cmd.Run()
		require.NoError(t, w.Close())
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("ass %q into a closed pipe: %v (exit %d)", args, err, ee.ExitCode())
		} else {
			assert.NoError(t, err, "ass %q", args)
		}
		assert.Empty(t, stderr.String(), "ass %q", args)
	}
	// ass run's command still dies of SIGPIPE as usual (not inherited as ignored).
	r, w, err := os.Pipe()
	require.NoError(t, err)
	require.NoError(t, r.Close())
	s.ok("v", "set", "ns/A")
	cmd := exec.Command(assBin, "run", "--namespace", "ns", "--", "sh", "-c", "yes")
	cmd.Env = append(os.Environ(), "ASS_HOME="+s.home, "HOME="+filepath.Dir(s.home))
	cmd.Stdout = w
	err = cmd.Run()
	require.NoError(t, w.Close())
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "yes into a closed pipe ends")
	assert.Equal(t, 128+13, ee.ExitCode(), "yes killed by SIGPIPE")
}
