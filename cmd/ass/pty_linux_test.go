package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the controlling side and the
// terminal a process reads as its stdin.
func openPTY(t *testing.T) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ctl.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0), "unlockpt")
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	require.NoError(t, err, "ptsname")
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { tty.Close() })
	return ctl, tty
}

// TestTerminalPEMOverPTY pastes a 3-line PEM into "ass set" on a real
// terminal and ends it with Ctrl-D: all three lines are stored, and the
// terminal echoes none of it.
func TestTerminalPEMOverPTY(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	ctl, tty := openPTY(t)

	cmd := exec.Command(assBin, "set", "k/pem")
	cmd.Env = append(os.Environ(), "ASS_HOME="+s.home, "USER=tester")
	var stdout bytes.Buffer
	var stderr syncBuffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, &stderr
	require.NoError(t, cmd.Start())
	// Wait for the prompt (echo is off by then), then paste and end.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "Ctrl-D") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, err := ctl.Write([]byte(pem + "\n\x04"))
	require.NoError(t, err)
	require.NoError(t, cmd.Wait(), "ass set: stderr %q", stderr.String())
	assert.Equal(t, "created k/pem v1\n", stdout.String())
	assert.Equal(t, pem, s.ok("", "get", "k/pem"), "the whole PEM is stored")

	// What the terminal showed: nothing of the value. With every copy of
	// the terminal closed, reading the controlling side returns what is
	// buffered, then fails.
	require.NoError(t, tty.Close())
	shown, _ := io.ReadAll(ctl)
	assert.NotContains(t, string(shown), "PRIVATE KEY", "the terminal echoed the value")
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
