package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flipFileByte flips one byte in the middle of the value of a file
// store's record and rewrites its checksum, as a writer with access to the
// storage could: the file backend reads it, the vault's MAC refuses it.
// (The file format: a 28-byte header whose last 4 bytes are the CRC-32C of
// bytes 8..23 and the value; see filebackend/record.go.)
func flipFileByte(t *testing.T, file string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Greater(t, len(raw), 28)
	raw[28+(len(raw)-28)/2] ^= 0x40
	tab := crc32.MakeTable(crc32.Castagnoli)
	binary.BigEndian.PutUint32(raw[24:], crc32.Update(crc32.Checksum(raw[8:24], tab), tab, raw[28:]))
	require.NoError(t, os.WriteFile(file, raw, 0o600))
}

// warnings returns the lines of stderr that warn about unreadable records.
func warnings(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "integrity check failed: record altered or corrupted: ") {
			out = append(out, l)
		}
	}
	return out
}

// TestOneBadRecord: one flipped byte in a secret record, and one in an
// audit entry, do not break list, export, expiring, rewrap or audit: they
// do the rest, warn once per bad record on stderr and exit 7; run starts
// nothing; doctor finds both and exits 7, and 0 on a sound vault.
func TestOneBadRecord(t *testing.T) {
	t.Parallel()
	p := newInProc(t)
	p.ok("", "init")
	r := p.run("", "doctor")
	require.Equal(t, exitOK, r.code, "doctor on a new vault: %s", r.stderr)
	for _, path := range []string{"a/one", "a/two", "a/three"} {
		p.ok("v-"+path, "set", path, "--expires-in", "1h")
	}
	r = p.run("", "doctor")
	require.Equal(t, exitOK, r.code, "doctor on a sound vault: %s", r.stderr)
	assert.Contains(t, r.stdout, "versions: 3 decrypted and authenticated")
	assert.Contains(t, r.stdout, "audit:    ok")

	flipFileByte(t, filepath.Join(p.home, "store", "s", "a", "two,v"))
	for _, tc := range []struct {
		args []string
		out  []string // in stdout
	}{
		{[]string{"list"}, []string{"a/one", "a/three"}},
		{[]string{"list", "--json"}, []string{`"a/one"`, `"a/three"`}},
		{[]string{"expiring"}, []string{"a/one", "a/three"}},
		{[]string{"export", "--namespace", "a"}, []string{"one=", "three="}},
		{[]string{"rewrap"}, []string{"Rewrapped 0 data keys in 3 secrets"}},
	} {
		r := p.run("", tc.args...)
		assert.Equal(t, exitDamaged, r.code, "ass %q: stderr %q", tc.args, r.stderr)
		for _, want := range tc.out {
			assert.Contains(t, r.stdout, want, "ass %q", tc.args)
		}
		assert.NotContains(t, r.stdout, "two", "ass %q", tc.args)
		w := warnings(r.stderr)
		require.Len(t, w, 1, "ass %q: one warning line: %q", tc.args, r.stderr)
		assert.Equal(t, "ass: warning: "+tc.args[0]+": integrity check failed: record altered or corrupted: a/two", w[0])
		assert.Contains(t, textError(r.stderr), `Run "ass doctor"`, "ass %q", tc.args)
	}
	r = p.run("", "run", "--namespace", "a", "--", "sh", "-c", "echo started")
	assert.Equal(t, exitDamaged, r.code, "run: %q", r.stderr)
	assert.NotContains(t, r.stdout, "started", "run started the command with a secret missing")
	assert.Contains(t, r.stderr, "nothing was run")

	// An audit entry: one byte of the first line of a log segment.
	segs, err := filepath.Glob(filepath.Join(p.home, "store", ".logs", "*", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	raw, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	raw[bytes.IndexByte(raw, '\n')/2] ^= 0x40
	require.NoError(t, os.WriteFile(segs[0], raw, 0o600))
	r = p.run("", "audit")
	assert.Equal(t, exitDamaged, r.code, "audit: %q", r.stderr)
	assert.Contains(t, r.stdout, "secret.created", "audit prints the readable events")
	require.Len(t, warnings(r.stderr), 1, "audit: %q", r.stderr)
	assert.Contains(t, r.stderr, "ass: audit: 1 audit entry could not be read")

	r = p.run("", "doctor")
	assert.Equal(t, exitDamaged, r.code, "doctor: %q", r.stderr)
	assert.Contains(t, r.stdout, "config and key: ok")
	assert.Contains(t, r.stdout, "secrets:  DAMAGED: 2 secrets read, 1 problem unreadable")
	assert.Contains(t, r.stdout, "  a/two: integrity check failed")
	assert.Contains(t, r.stdout, "audit:    DAMAGED:")
	assert.Contains(t, r.stderr, "the vault is not sound: 2 problems")
	for _, v := range []string{"v-a/one", "v-a/three"} {
		assert.NotContains(t, r.stdout+r.stderr, v, "doctor never prints a value")
	}
	js := decodeObject(t, p.run("", "doctor", "--json").stdout)
	assert.Equal(t, false, js["sound"])

	// Moving to a new key with a record skipped: the old key is still needed.
	newKey := filepath.Join(t.TempDir(), "new.key")
	r = p.run("", "rewrap", "--from-kms", "local://"+filepath.Join(p.home, "key"), "--kms", "local://"+newKey)
	assert.Equal(t, exitDamaged, r.code, "rewrap --from-kms: %q", r.stderr)
	assert.Contains(t, r.stdout, "but keep local://"+filepath.Join(p.home, "key"))
	assert.NotContains(t, r.stdout, "no longer needed")
	assert.Equal(t, "v-a/one", p.ok("", "get", "a/one", "--kms", "local://"+newKey))
}

// TestOneFlippedByte: the same with one byte flipped on disk and the file
// backend's own checksum failing (a disk error, a truncated copy).
func TestOneFlippedByte(t *testing.T) {
	t.Parallel()
	p := newInProc(t)
	p.ok("", "init")
	for _, path := range []string{"a/one", "a/two", "a/three"} {
		p.ok("v-"+path, "set", path)
	}
	file := filepath.Join(p.home, "store", "s", "a", "two,v")
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	raw[len(raw)-1] ^= 0x01
	require.NoError(t, os.WriteFile(file, raw, 0o600))
	for _, tc := range []struct {
		args []string
		out  string
	}{
		{[]string{"list"}, "a/three"},
		{[]string{"export", "--namespace", "a"}, "three=v-a/three"},
		{[]string{"rewrap"}, "in 3 secrets"},
		{[]string{"doctor"}, "a/two: integrity check failed"},
	} {
		args := tc.args
		r := p.run("", args...)
		assert.Equal(t, exitDamaged, r.code, "ass %q: stderr %q", args, r.stderr)
		assert.NotContains(t, r.stdout, "v-a/two", "ass %q", args)
		assert.Contains(t, r.stdout, tc.out, "ass %q", args)
		if args[0] == "doctor" {
			continue
		}
		w := warnings(r.stderr)
		require.Len(t, w, 1, "ass %q: %q", args, r.stderr)
		assert.Contains(t, w[0], "a/two")
	}
	segs, err := filepath.Glob(filepath.Join(p.home, "store", ".logs", "*", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	auditFile := segs[0]
	raw, err = os.ReadFile(auditFile)
	require.NoError(t, err)
	raw[len(raw)-2] ^= 0x01
	require.NoError(t, os.WriteFile(auditFile, raw, 0o600))
	r := p.run("", "audit")
	assert.Equal(t, exitDamaged, r.code, "audit: %q", r.stderr)
	assert.Contains(t, r.stdout, "secret.created")
	assert.Len(t, warnings(r.stderr), 1, "audit: %q", r.stderr)
}

// TestTokenListSkipsBadRecord: token list shows the readable tokens and
// warns about the one whose record is damaged.
func TestTokenListSkipsBadRecord(t *testing.T) {
	t.Parallel()
	p := newInProc(t)
	p.ok("", "init")
	p.ok("v", "set", "a/x", "--tier", "standard")
	p.token("--scope", "secrets:read:a/*")
	p.token("--scope", "secrets:read:a/x")
	var files []string
	require.NoError(t, filepath.Walk(filepath.Join(p.home, "store"), func(f string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(f, string(filepath.Separator)+"tok"+string(filepath.Separator)) {
			files = append(files, f)
		}
		return err
	}))
	require.Len(t, files, 2, "token records")
	flipFileByte(t, files[0])
	r := p.run("", "token", "list")
	assert.Equal(t, exitDamaged, r.code, "token list: %q", r.stderr)
	assert.Equal(t, 1, strings.Count(r.stdout, "acc_"), "the readable token is listed: %q", r.stdout)
	assert.Len(t, warnings(r.stderr), 1, "token list: %q", r.stderr)
}
