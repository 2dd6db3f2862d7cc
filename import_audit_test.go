package agentvault_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// TestImportAuditedPerSecret: each secret an import creates or updates has
// its own secret.imported events (write-ahead, then outcome) with path,
// version and import id, so QueryAudit by path shows the creation; on the
// memory backend (one Put per event), file and Redis (the batch's events
// in one Append).
func TestImportAuditedPerSecret(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		v, _ := newVault(t)
		importAuditedPerSecret(t, v)
	})
	for name, open := range logBackends(t) {
		t.Run(name, func(t *testing.T) {
			v, err := agentvault.New(open(t), testKey(t))
			require.NoError(t, err)
			defer v.Close()
			importAuditedPerSecret(t, v)
		})
	}
}

func importAuditedPerSecret(t *testing.T, v *agentvault.AgentVault) {
	c := agentvault.ContextWithActor(ctx, "alice")
	res, err := v.ImportEnv(c, strings.NewReader("A=1\nB=2\n"), agentvault.ImportOptions{Namespace: "ns"})
	require.NoError(t, err)
	require.NotEmpty(t, res.ImportID)
	first := res.ImportID
	res, err = v.ImportEnv(c, strings.NewReader("A=1\nB=3\n"), agentvault.ImportOptions{Namespace: "ns", Overwrite: true})
	require.NoError(t, err)
	require.NotEqual(t, first, res.ImportID, "each import has its own id")

	evA, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: "ns/A", Event: agentvault.EventSecretImported})
	require.NoError(t, err)
	require.Len(t, evA, 2, "ns/A: created once, unchanged the second time")
	assert.Equal(t, agentvault.OutcomePending, evA[0].Outcome)
	assert.Equal(t, "created", evA[0].Reason)
	assert.Equal(t, agentvault.OutcomeAllowed, evA[1].Outcome)
	assert.Equal(t, "created", evA[1].Reason)
	assert.Equal(t, "v1", evA[1].Version)
	for _, e := range evA {
		assert.Equal(t, "ns/A", e.Path)
		assert.Equal(t, first, e.ImportID)
		assert.Equal(t, "alice", e.Actor.ID)
	}

	evB, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: "ns/B", Event: agentvault.EventSecretImported})
	require.NoError(t, err)
	require.Len(t, evB, 4, "ns/B: created, then updated")
	assert.Equal(t, []string{"pending created", "allowed created v1", "pending updated", "allowed updated v2"}, []string{
		string(evB[0].Outcome) + " " + evB[0].Reason, string(evB[1].Outcome) + " " + evB[1].Reason + " " + evB[1].Version,
		string(evB[2].Outcome) + " " + evB[2].Reason, string(evB[3].Outcome) + " " + evB[3].Reason + " " + evB[3].Version,
	})
	assert.Equal(t, res.ImportID, evB[3].ImportID)

	sum, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: "ns", Event: agentvault.EventSecretImported})
	require.NoError(t, err)
	var summaries int
	for _, e := range sum {
		if e.Path == "ns" {
			summaries++
			assert.Contains(t, []string{first, res.ImportID}, e.ImportID)
		}
	}
	assert.Equal(t, 2, summaries, "one summary event per import, at the namespace")
	_, err = v.VerifyAudit(ctx)
	require.NoError(t, err)
}

// auditFailer fails audit writes once failAfter reaches 0.
type auditFailer struct {
	backend.Backend
	failAfter atomic.Int64
}

func (a *auditFailer) Put(ctx context.Context, key string, val []byte, rev int64) (int64, error) {
	if strings.HasPrefix(key, "audit/") && a.failAfter.Add(-1) < 0 {
		return 0, errDiskFull
	}
	return a.Backend.Put(ctx, key, val, rev)
}

// TestImportStopsWhenAuditFails: a secret is never written before its
// write-ahead event is stored; when that event cannot be written, the
// import stops with ErrAuditFailed.
func TestImportStopsWhenAuditFails(t *testing.T) {
	fb := &auditFailer{Backend: membackend.New()}
	fb.failAfter.Store(1 << 30)
	v, err := agentvault.New(fb, testKey(t))
	require.NoError(t, err)
	// New secrets are written in batches, each secret's write-ahead event
	// stored before the batch: A, B and C's events are, D's fails.
	fb.failAfter.Store(3)
	res, err := v.ImportEnv(ctx, strings.NewReader("A=1\nB=2\nC=3\nD=4\n"), agentvault.ImportOptions{Namespace: "ns"})
	require.ErrorIs(t, err, agentvault.ErrAuditFailed)
	require.NotNil(t, res)
	assert.Equal(t, 3, res.Created, "A, B, C are written; D's write-ahead event fails")
	_, err = v.GetSecret(ctx, "ns/D")
	assert.ErrorIs(t, err, agentvault.ErrNotFound, "a secret whose write-ahead event failed is not written")
}

// TestImportKilledMidwayLeavesNoUnauditedSecret imports 3000 variables
// (30,000 on Redis, which is faster) in a child process (this test binary,
// re-executed) on a file store and on Redis, kills it with SIGKILL
// part-way, in the first batch and in a later one, and checks that every
// secret that exists has a secret.imported event naming it.
func TestImportKilledMidwayLeavesNoUnauditedSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	for _, kind := range []string{"file", "redis"} {
		for _, killAt := range []int{1, 37, 150, 600} {
			t.Run(fmt.Sprintf("%s/kill-after-%d", kind, killAt), func(t *testing.T) { importKilled(t, kind, killAt) })
		}
	}
}

func importKilled(t *testing.T, kind string, killAt int) {
	var b backend.Backend
	env := []string{"AGENTVAULT_IMPORT_N=3000"}
	total := 3000
	switch kind {
	case "file":
		dir := t.TempDir()
		fb, err := filebackend.Open(dir)
		require.NoError(t, err)
		t.Cleanup(func() { fb.Close() })
		b = fb
		env = append(env, "AGENTVAULT_IMPORT_DIR="+dir)
	case "redis":
		srv := redistest.StartServer(t)
		rb, err := redisbackend.New(srv.Client(t))
		require.NoError(t, err)
		b = rb
		total = 30000
		env = []string{"AGENTVAULT_IMPORT_N=30000", "AGENTVAULT_IMPORT_REDIS=" + srv.Addr}
	}
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessImport$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Kill it once killAt secrets exist (the deadline only bounds a hung
	// child).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		keys, err := b.List(ctx, "s/imp/")
		require.NoError(t, err)
		if len(keys) >= killAt {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the import finished (%v) before it could be killed", err)
		case <-time.After(time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "child wrote only %d secrets", len(keys))
	}
	require.NoError(t, cmd.Process.Kill())
	<-exited

	list, err := v.ListSecrets(ctx, agentvault.ListFilter{Prefix: "imp/"})
	require.NoError(t, err)
	require.NotEmpty(t, list)
	require.Less(t, len(list), total, "the import was cut short")
	events, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: "imp/", Event: agentvault.EventSecretImported})
	require.NoError(t, err)
	audited := map[string]bool{}
	for _, e := range events {
		if e.ImportID != "" {
			audited[e.Path] = true
		}
	}
	for _, m := range list {
		assert.True(t, audited[m.Path], "%s was imported but no secret.imported event names it", m.Path)
	}
	_, err = v.VerifyAudit(ctx)
	assert.NoError(t, err, "the killed process's audit chain verifies")
	t.Logf("killed after %d of %d secrets; %d import events", len(list), total, len(events))
}

// TestHelperProcessImport is the child of
// TestImportKilledMidwayLeavesNoUnauditedSecret.
func TestHelperProcessImport(t *testing.T) {
	dir, addr := os.Getenv("AGENTVAULT_IMPORT_DIR"), os.Getenv("AGENTVAULT_IMPORT_REDIS")
	n, _ := strconv.Atoi(os.Getenv("AGENTVAULT_IMPORT_N"))
	var b backend.Backend
	switch {
	case dir != "":
		fb, err := filebackend.Open(dir)
		require.NoError(t, err)
		b = fb
	case addr != "":
		rb, err := redisbackend.New(redis.NewClient(&redis.Options{Addr: addr}))
		require.NoError(t, err)
		b = rb
	default:
		return
	}
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	var env strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&env, "VAR_%05d=value-%d\n", i, i)
	}
	_, err = v.ImportEnv(ctx, strings.NewReader(env.String()), agentvault.ImportOptions{Namespace: "imp"})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestImportIDAndProgress: a caller-chosen import id is recorded in every
// event of the import (several calls can share one); an invalid one is
// refused before anything is written; Progress sees every variable.
func TestImportIDAndProgress(t *testing.T) {
	v, _ := newVault(t)
	var seen []int
	res, err := v.ImportEnv(ctx, strings.NewReader("A=1\nB=2\nC=3\n"), agentvault.ImportOptions{
		Namespace: "ns", ImportID: "deploy-42", Progress: func(done, total int) {
			assert.Equal(t, 3, total)
			seen = append(seen, done)
		}})
	require.NoError(t, err)
	assert.Equal(t, "deploy-42", res.ImportID)
	assert.Equal(t, []int{1, 2, 3}, seen)
	ev, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: "ns", Event: agentvault.EventSecretImported})
	require.NoError(t, err)
	require.Len(t, ev, 7, "two per secret and the summary")
	for _, e := range ev {
		assert.Equal(t, "deploy-42", e.ImportID)
	}
	for _, bad := range []string{"a b", strings.Repeat("x", 65), "x\n", "ast_tok_x"} {
		_, err = v.ImportEnv(ctx, strings.NewReader("D=4\n"), agentvault.ImportOptions{Namespace: "ns", ImportID: bad})
		assert.ErrorIs(t, err, agentvault.ErrInvalidInput, "ImportID %q", bad)
	}
	_, err = v.GetSecret(ctx, "ns/D")
	assert.ErrorIs(t, err, agentvault.ErrNotFound)
}
