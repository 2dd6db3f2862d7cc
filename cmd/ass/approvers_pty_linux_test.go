package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/internal/sshtest"
)

// TestApproveKeyPassphraseOverPTY: approve --key with a passphrase-
// protected key asks for the passphrase on the terminal, without echo,
// and signs.
func TestApproveKeyPassphraseOverPTY(t *testing.T) {
	b := newSignedBox(t)
	kg := sshtest.Tool(t, "ssh-keygen")
	p := filepath.Join(t.TempDir(), "id_pass")
	require.NoError(t, exec.Command(kg, "-q", "-t", "ed25519", "-N", "correct horse", "-f", p).Run())
	b.ok("", "approvers", "add", "dave", "--key", p+".pub")
	id := b.approval("critical", "2", "token", "request", "--scope", "secrets:read:prod/*", "--actor", "bob")
	ctl, tty := openPTY(t)

	cmd := exec.Command(assBin, "approvals", "approve", id, "--key", p)
	cmd.Env = append(os.Environ(), "ASS_HOME="+b.home, "USER=tester", "SSH_AUTH_SOCK=")
	var stdout bytes.Buffer
	var stderr syncBuffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, &stderr
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "passphrase for") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, err := ctl.Write([]byte("correct horse\n"))
	require.NoError(t, err)
	require.NoError(t, cmd.Wait(), "ass approvals approve --key: stderr %q", stderr.String())
	assert.Contains(t, stdout.String(), "signed by dave (SHA256:")

	require.NoError(t, tty.Close())
	shown, _ := io.ReadAll(ctl)
	assert.NotContains(t, string(shown), "correct horse", "the terminal echoed the passphrase")
}
