package agentvault_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
)

// countingFile is a file backend that counts the calls that read a whole
// chain (List of audit keys, ReadLog) and can fail its appends.
type countingFile struct {
	*filebackend.Backend
	lists, readLogs, appends atomic.Int64
	failAppend               atomic.Bool
}

func (c *countingFile) List(ctx context.Context, prefix string) ([]string, error) {
	if strings.HasPrefix(prefix, "audit/") {
		c.lists.Add(1)
	}
	return c.Backend.List(ctx, prefix)
}

func (c *countingFile) ReadLog(ctx context.Context, log string) ([][]byte, error) {
	c.readLogs.Add(1)
	return c.Backend.ReadLog(ctx, log)
}

func (c *countingFile) Append(ctx context.Context, log string, last []byte, recs [][]byte) error {
	c.appends.Add(1)
	if c.failAppend.Load() {
		return errors.New("disk full")
	}
	return c.Backend.Append(ctx, log, last, recs)
}

// keysOnly hides every optional capability of a backend: events are stored
// one key each, as before audit logs.
type keysOnly struct{ backend.Backend }

func openFile(t *testing.T, dir string) *filebackend.Backend {
	t.Helper()
	fb, err := filebackend.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { fb.Close() })
	return fb
}

// TestAuditResumeReadsOnlyTheTail: a process continuing a long chain
// (WithAuditWriterID) finds its head from the log's last record, without
// listing or reading the chain.
func TestAuditResumeReadsOnlyTheTail(t *testing.T) {
	fb := openFile(t, t.TempDir())
	for run := range 5 {
		v, err := agentvault.New(fb, testKey(t), agentvault.WithAuditWriterID("cli-host1"))
		require.NoError(t, err)
		create(t, v, fmt.Sprintf("run/%d", run), "x")
		for range 10 {
			get(t, v, fmt.Sprintf("run/%d", run))
		}
		require.NoError(t, v.Close())
	}
	cf := &countingFile{Backend: fb}
	v, err := agentvault.New(cf, testKey(t), agentvault.WithAuditWriterID("cli-host1"))
	require.NoError(t, err)
	defer v.Close()
	get(t, v, "run/0")
	assert.Zero(t, cf.lists.Load(), "List calls over audit keys to resume the chain")
	assert.Zero(t, cf.readLogs.Load(), "ReadLog calls to resume the chain")
	assert.EqualValues(t, 1, cf.appends.Load())

	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Writers, "one chain across runs")
	assert.Equal(t, 5*11+1, rep.Events)
}

// TestAuditConcurrentReadsShareWrites: audited reads from many goroutines
// all land in one valid chain, with fewer log writes than events.
func TestAuditConcurrentReadsShareWrites(t *testing.T) {
	cf := &countingFile{Backend: openFile(t, t.TempDir())}
	v, err := agentvault.New(cf, testKey(t))
	require.NoError(t, err)
	defer v.Close()
	create(t, v, "app/key", "x")
	const goroutines, each = 8, 25
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				_, err := v.GetSecret(ctx, "app/key")
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, goroutines*each+1, rep.Events, "every read's event is in the chain")
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretRead})
	require.NoError(t, err)
	assert.Len(t, evs, goroutines*each)
	// Deterministic grouping is TestAuditSubmitGroupsWaitingEvents; here,
	// 8 goroutines each waiting out others' fsyncs share some.
	assert.Less(t, cf.appends.Load(), int64(goroutines*each+1), "appends for %d events", goroutines*each+1)
}

// TestAuditLogFailClosed: with the log failing, fail-closed reads return
// no value; once it works again the chain continues and verifies.
func TestAuditLogFailClosed(t *testing.T) {
	for _, closed := range []bool{false, true} {
		cf := &countingFile{Backend: openFile(t, t.TempDir())}
		v, err := agentvault.New(cf, testKey(t), agentvault.WithAuditFailClosed(closed))
		require.NoError(t, err)
		create(t, v, "app/key", "x")
		cf.failAppend.Store(true)
		s, err := v.GetSecret(ctx, "app/key")
		if closed {
			assert.ErrorIs(t, err, agentvault.ErrAuditFailed, "GetSecret fails closed")
			assert.Nil(t, s)
		} else {
			assert.NoError(t, err, "GetSecret fails open")
		}
		cf.failAppend.Store(false)
		get(t, v, "app/key")
		rep, err := v.VerifyAudit(ctx)
		require.NoError(t, err, "the chain continues after a failed append")
		assert.Equal(t, 2, rep.Events)
		require.NoError(t, v.Close())
	}
}

// TestAuditKeyChainContinuesInLog: a chain stored one key per event (the
// format before logs) stays readable and verifiable, and a process that
// resumes it continues it in the log.
func TestAuditKeyChainContinuesInLog(t *testing.T) {
	fb := openFile(t, t.TempDir())
	old, err := agentvault.New(keysOnly{fb}, testKey(t), agentvault.WithAuditWriterID("cli"))
	require.NoError(t, err)
	create(t, old, "app/key", "x")
	get(t, old, "app/key")
	require.NoError(t, old.Close())
	keys, err := fb.List(ctx, "audit/cli/")
	require.NoError(t, err)
	require.Len(t, keys, 2, "events stored as keys")

	v, err := agentvault.New(fb, testKey(t), agentvault.WithAuditWriterID("cli"))
	require.NoError(t, err)
	defer v.Close()
	get(t, v, "app/key")
	get(t, v, "app/key")
	logged, err := fb.ReadLog(ctx, "audit.cli")
	require.NoError(t, err)
	require.Len(t, logged, 2, "new events go to the log")
	assert.Contains(t, string(logged[0]), `"seq":3`, "the log continues the chain")

	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, agentvault.AuditReport{Writers: 1, Events: 4}, *rep)
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{})
	require.NoError(t, err)
	assert.Len(t, evs, 4)

	require.NoError(t, fb.Delete(ctx, keys[1], 0)) // the newest key: the log's first entry chains to it
	_, err = v.VerifyAudit(ctx)
	var ie *agentvault.AuditIntegrityError
	require.True(t, errors.As(err, &ie), "VerifyAudit err = %v, want *AuditIntegrityError", err)
	assert.Equal(t, "deleted", ie.Problem)
	assert.Equal(t, uint64(2), ie.Seq)
}

// TestAuditLogTamperDetected alters, deletes and swaps lines of a log
// file; VerifyAudit names the first broken entry.
func TestAuditLogTamperDetected(t *testing.T) {
	dir := t.TempDir()
	fb := openFile(t, dir)
	v, err := agentvault.New(fb, testKey(t))
	require.NoError(t, err)
	defer v.Close()
	create(t, v, "app/key", "x")
	for range 4 {
		get(t, v, "app/key")
	}
	segs, err := filepath.Glob(filepath.Join(dir, ".logs", "*", "*.log"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	orig, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	lines := strings.SplitAfter(strings.TrimSuffix(string(orig), "\n"), "\n")
	require.Len(t, lines, 5)
	lines[4] += "\n"
	for _, tc := range []struct {
		name, problem string
		seq           uint64
		edit          func(l []string) []string
	}{
		{"altered", "modified", 2, func(l []string) []string {
			l[1] = strings.Replace(l[1], `"outcome":"allowed"`, `"outcome":"denied"`, 1)
			return l
		}},
		{"deleted", "deleted", 2, func(l []string) []string { return append(l[:1:1], l[2:]...) }},
		{"swapped", "reordered", 2, func(l []string) []string { l[1], l[2] = l[2], l[1]; return l }},
		{"first two swapped", "reordered", 1, func(l []string) []string { l[0], l[1] = l[1], l[0]; return l }},
	} {
		edited := tc.edit(append([]string(nil), lines...))
		require.NoError(t, os.WriteFile(segs[0], []byte(strings.Join(edited, "")), 0o600))
		_, err := v.VerifyAudit(ctx)
		var ie *agentvault.AuditIntegrityError
		if assert.True(t, errors.As(err, &ie), "%s: VerifyAudit err = %v, want *AuditIntegrityError", tc.name, err) {
			assert.Equal(t, tc.problem, ie.Problem, "%s: %v", tc.name, err)
			assert.LessOrEqual(t, ie.Seq, tc.seq, "%s: %v", tc.name, err)
			assert.Contains(t, ie.Key, "record", tc.name)
		}
		if tc.name == "altered" {
			_, err := v.QueryAudit(ctx, agentvault.AuditQuery{})
			assert.ErrorIs(t, err, agentvault.ErrIntegrity, "QueryAudit reports the altered entry")
		}
	}
	require.NoError(t, os.WriteFile(segs[0], orig, 0o600))
	_, err = v.VerifyAudit(ctx)
	require.NoError(t, err, "restored")
}

// TestAuditReadDurableBeforeValue kills a child process the moment it has
// printed a secret's value: the read's event is already in the store.
func TestAuditReadDurableBeforeValue(t *testing.T) {
	dir := t.TempDir()
	fb := openFile(t, dir)
	v, err := agentvault.New(fb, testKey(t))
	require.NoError(t, err)
	create(t, v, "app/key", "the-value")
	require.NoError(t, v.Close())

	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessAuditedRead$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AGENTVAULT_HELPER_DIR="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		line, err := bufio.NewReader(out).ReadString('\n')
		require.NoError(t, err)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		require.Equal(t, "value the-value\n", line)

		v, err := agentvault.New(openFile(t, dir), testKey(t))
		require.NoError(t, err)
		evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretRead})
		require.NoError(t, err)
		assert.Len(t, evs, i+1, "read events after %d killed readers", i+1)
		require.NoError(t, v.Close())
	}
}

// TestHelperProcessAuditedRead is the child of
// TestAuditReadDurableBeforeValue; it does nothing in a normal test run.
func TestHelperProcessAuditedRead(t *testing.T) {
	dir := os.Getenv("AGENTVAULT_HELPER_DIR")
	if dir == "" {
		return
	}
	fb, err := filebackend.Open(dir)
	require.NoError(t, err)
	v, err := agentvault.New(fb, testKey(t))
	require.NoError(t, err)
	s, err := v.GetSecret(context.Background(), "app/key")
	require.NoError(t, err)
	fmt.Printf("value %s\n", s.Value.Reveal())
	select {} // killed by the parent
}

// TestAuditLogWriterIDShared: vaults sharing a writer id append to one log
// concurrently (each Append conditional on the log's last record); the log
// holds one valid chain with every event exactly once.
func TestAuditLogWriterIDShared(t *testing.T) {
	dir := t.TempDir()
	const instances, each = 4, 15
	var wg sync.WaitGroup
	for i := range instances {
		v, err := agentvault.New(openFile(t, dir), testKey(t), agentvault.WithAuditWriterID("shared"))
		require.NoError(t, err)
		defer v.Close()
		wg.Go(func() {
			for j := range each {
				_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: fmt.Sprintf("s/%d-%d", i, j), Value: agentvault.StringValue("x")})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	v, err := agentvault.New(openFile(t, dir), testKey(t))
	require.NoError(t, err)
	defer v.Close()
	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.Equal(t, agentvault.AuditReport{Writers: 1, Events: instances * each}, *rep)
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretCreated})
	require.NoError(t, err)
	paths := map[string]bool{}
	for _, e := range evs {
		paths[e.Path] = true
	}
	assert.Len(t, paths, instances*each, "one event per create, none twice")
	assert.Len(t, evs, instances*each)
}
