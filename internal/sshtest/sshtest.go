// Package sshtest drives the real OpenSSH tools for the signed-approval
// tests: ssh-keygen makes keys and SSHSIG signatures and verifies ours, and
// ssh-agent runs on a private socket holding an approver's key.
//
// The binaries come from Debian's openssh-client (scripts/install-deps
// installs it). When one is missing the test is skipped, except in CI
// (CI=true) or when AGENTVAULT_REQUIRE_REDIS=1 or AGENTVAULT_REQUIRE_SSH=1,
// where it fails: an interop test must never pass vacuously there.
package sshtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvRequire, set to 1, turns a missing OpenSSH tool into a failure.
const EnvRequire = "AGENTVAULT_REQUIRE_SSH"

// Namespace is the approval signatures' SSHSIG namespace.
const Namespace = "agentvault-approval"

// Tool returns the path of an OpenSSH binary, skipping (or, where tests
// may not be skipped, failing) when it is not installed.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := "sshtest: " + name + " not found in PATH: run scripts/install-deps (Debian package openssh-client)"
	if os.Getenv("CI") == "true" || os.Getenv("AGENTVAULT_REQUIRE_REDIS") == "1" || os.Getenv(EnvRequire) == "1" {
		tb.Fatalf("%s (this test may not be skipped: CI=true, AGENTVAULT_REQUIRE_REDIS=1 or %s=1)", msg, EnvRequire)
	}
	tb.Skip(msg)
	return ""
}

// Key is a key pair made by ssh-keygen, without a passphrase.
type Key struct {
	Path   string // the private key file; the public key is Path + ".pub"
	Public string // the authorized_keys line
}

// GenKey makes a key of type typ ("ed25519", "ecdsa", "rsa") with bits (0:
// the default) in a temporary directory.
func GenKey(tb testing.TB, typ string, bits int, comment string) Key {
	tb.Helper()
	kg := Tool(tb, "ssh-keygen")
	p := filepath.Join(tb.TempDir(), "id_"+typ)
	args := []string{"-q", "-t", typ, "-N", "", "-C", comment, "-f", p}
	if bits > 0 {
		args = append(args, "-b", strconv.Itoa(bits))
	}
	run(tb, exec.Command(kg, args...))
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	return Key{Path: p, Public: strings.TrimSpace(string(pub))}
}

// Sign signs the message with ssh-keygen -Y sign in namespace ns and
// returns the armored signature.
func Sign(tb testing.TB, k Key, ns string, msg []byte) []byte {
	tb.Helper()
	kg := Tool(tb, "ssh-keygen")
	f := filepath.Join(tb.TempDir(), "statement")
	if err := os.WriteFile(f, msg, 0o600); err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	run(tb, exec.Command(kg, "-Y", "sign", "-n", ns, "-f", k.Path, f))
	sig, err := os.ReadFile(f + ".sig")
	if err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	return sig
}

// Verify checks an armored signature with ssh-keygen -Y verify against an
// allowed_signers file naming principal with key k; it returns
// ssh-keygen's error and output.
func Verify(tb testing.TB, k Key, principal, ns string, msg, sig []byte) (string, error) {
	tb.Helper()
	kg := Tool(tb, "ssh-keygen")
	dir := tb.TempDir()
	allowed, sigf := filepath.Join(dir, "allowed_signers"), filepath.Join(dir, "msg.sig")
	if err := os.WriteFile(allowed, []byte(principal+" "+k.Public+"\n"), 0o600); err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	if err := os.WriteFile(sigf, sig, 0o600); err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	cmd := exec.Command(kg, "-Y", "verify", "-f", allowed, "-I", principal, "-n", ns, "-s", sigf)
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Agent is an ssh-agent listening on a private socket.
type Agent struct {
	Socket string // for SSH_AUTH_SOCK
}

// StartAgent starts ssh-agent in the foreground on a socket in a fresh
// temporary directory, adds the keys with ssh-add, and stops it when the
// test ends.
func StartAgent(tb testing.TB, keys ...Key) *Agent {
	tb.Helper()
	bin := Tool(tb, "ssh-agent")
	add := Tool(tb, "ssh-add")
	dir, err := os.MkdirTemp("", "avagent") // short: a socket path is limited to ~100 bytes
	if err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(bin, "-D", "-a", sock)
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("sshtest: start ssh-agent: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sshtest: ssh-agent did not create %s", sock)
		}
	}
	for _, k := range keys {
		c := exec.Command(add, "-q", k.Path)
		c.Env = append(cleanEnv(), "SSH_AUTH_SOCK="+sock)
		run(tb, c)
	}
	return &Agent{Socket: sock}
}

// cleanEnv is the environment without any SSH agent of the caller's.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SSH_AUTH_SOCK=") && !strings.HasPrefix(e, "SSH_AGENT_PID=") {
			env = append(env, e)
		}
	}
	return env
}

func run(tb testing.TB, cmd *exec.Cmd) {
	tb.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("sshtest: %s: %v: %s", strings.Join(cmd.Args, " "), err, out)
	}
}
