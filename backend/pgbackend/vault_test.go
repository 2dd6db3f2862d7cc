package pgbackend_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/pgbackend"
	"github.com/agentvault/agentvault/backend/pgbackend/pgtest"
	"github.com/agentvault/agentvault/kms/localkms"
)

var ctx = context.Background()

func key() *localkms.Keyring {
	k, err := localkms.New("test-key", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}

func newVault(t testing.TB, b backend.Backend, opts ...agentvault.Option) *agentvault.AgentVault {
	t.Helper()
	v, err := agentvault.New(b, key(), opts...)
	require.NoError(t, err, "agentvault.New")
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// TestVaultOnPostgres runs the vault's operations end to end on PostgreSQL:
// versions, rollback, listing, tokens with max uses, the audit chain, and a
// second vault on the same table seeing everything.
func TestVaultOnPostgres(t *testing.T) {
	b := newBackend(t, newPool(t))
	v := newVault(t, b)

	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "production/db/password",
		Value: agentvault.StringValue("v1-value"), Type: agentvault.TypeDBCredential, Tier: agentvault.TierStandard,
		Tags: map[string]string{"team": "core"}})
	require.NoError(t, err, "CreateSecret")
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "production/db/password", Value: agentvault.StringValue("x")})
	require.ErrorIs(t, err, agentvault.ErrAlreadyExists, "second CreateSecret")
	for i := 2; i <= 3; i++ {
		val := agentvault.StringValue(fmt.Sprintf("v%d-value", i))
		_, err := v.UpdateSecret(ctx, "production/db/password", agentvault.UpdateSecretInput{Value: &val})
		require.NoError(t, err, "UpdateSecret %d", i)
	}
	_, err = v.Rollback(ctx, "production/db/password", "v2")
	require.NoError(t, err, "Rollback")

	other := newVault(t, b) // a second vault (another process, in effect) on the same table
	s, err := other.GetSecret(ctx, "production/db/password")
	require.NoError(t, err, "GetSecret through a second vault")
	assert.Equal(t, "v2", s.Version)
	assert.Equal(t, "v2-value", s.Value.Reveal())
	old, err := other.GetSecret(ctx, "production/db/password", agentvault.AtVersion("v1"))
	require.NoError(t, err, "GetSecret v1")
	assert.Equal(t, "v1-value", old.Value.Reveal())
	vs, err := other.ListVersions(ctx, "production/db/password")
	require.NoError(t, err)
	require.Len(t, vs, 3)

	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "staging/db/password", Value: agentvault.StringValue("s"), Tier: agentvault.TierStandard})
	require.NoError(t, err)
	list, err := other.ListSecrets(ctx, agentvault.ListFilter{Prefix: "production/"})
	require.NoError(t, err, "ListSecrets")
	require.Len(t, list, 1)
	assert.Equal(t, "production/db/password", list[0].Path)

	tok, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:production/*"}, MaxUses: 2})
	require.NoError(t, err, "RequestToken")
	sess := other.Session(tok.Value.Reveal())
	for i := 0; i < 2; i++ {
		_, err := sess.GetSecret(ctx, "production/db/password")
		require.NoError(t, err, "token read %d", i)
	}
	_, err = sess.GetSecret(ctx, "production/db/password")
	require.ErrorIs(t, err, agentvault.ErrTokenExhausted, "third read of a 2-use token")
	_, err = sess.GetSecret(ctx, "staging/db/password")
	require.Error(t, err, "read outside the token's scope")

	require.NoError(t, v.DeleteSecret(ctx, "staging/db/password"))
	_, err = other.GetSecret(ctx, "staging/db/password")
	require.ErrorIs(t, err, agentvault.ErrNotFound)

	rep, err := other.VerifyAudit(ctx)
	require.NoError(t, err, "VerifyAudit")
	assert.Greater(t, rep.Events, 5, "audit events recorded")
}

// TestVaultCrossProcessUpdates: 8 processes × 200 updates of one secret
// give exactly v1..v1601, each value once.
func TestVaultCrossProcessUpdates(t *testing.T) {
	const procs, each = 8, 200
	srv := shared(t)
	table := uniqueTable()
	b, err := pgbackend.Open(ctx, srv.URL(), pgbackend.WithTable(table))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	v := newVault(t, b, agentvault.WithAudit(false))
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: childPath, Value: agentvault.StringValue("initial")})
	require.NoError(t, err)

	cmds := make([]*exec.Cmd, procs)
	for p := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(p), childURL+"="+srv.URL(), childTable+"="+table, childN+"="+strconv.Itoa(each))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(t, cmd.Start())
		cmds[p] = cmd
	}
	for p, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "child process %d", p)
	}
	vs, err := v.ListVersions(ctx, childPath)
	require.NoError(t, err)
	require.Len(t, vs, procs*each+1, "versions after %d×%d concurrent updates", procs, each)
	seen := map[string]bool{}
	for i, vi := range vs {
		require.Equal(t, fmt.Sprintf("v%d", i+1), vi.Version, "version numbers are dense")
		s, err := v.GetSecret(ctx, childPath, agentvault.AtVersion(vi.Version))
		require.NoError(t, err)
		require.False(t, seen[s.Value.Reveal()], "value %q stored twice", s.Value.Reveal())
		seen[s.Value.Reveal()] = true
	}
	for p := 0; p < procs; p++ {
		for i := 0; i < each; i++ {
			assert.True(t, seen[fmt.Sprintf("p%d-%d", p, i)], "update p%d-%d lost", p, i)
		}
	}
}

// TestServerStopMidRun: with the server killed, operations fail within the
// caller's deadline; after a restart work resumes and nothing acknowledged
// is lost or half-written.
func TestServerStopMidRun(t *testing.T) {
	srv := pgtest.Start(t)
	pool, err := pgxpool.New(ctx, srv.URL())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	b, err := pgbackend.New(pool)
	require.NoError(t, err)
	v := newVault(t, b, agentvault.WithAudit(false))
	_, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/key", Value: agentvault.StringValue("v1")})
	require.NoError(t, err)
	acked := 1
	for i := 2; i <= 20; i++ {
		val := agentvault.StringValue(fmt.Sprintf("v%d", i))
		_, err := v.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{Value: &val})
		require.NoError(t, err)
		acked = i
	}

	srv.Kill()
	for i := 0; i < 3; i++ {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		val := agentvault.StringValue("during-outage")
		start := time.Now()
		_, err := v.UpdateSecret(dctx, "app/key", agentvault.UpdateSecretInput{Value: &val})
		elapsed := time.Since(start)
		cancel()
		require.Error(t, err, "update while the server is down")
		assert.Less(t, elapsed, 10*time.Second, "update returned %v after the 2 s deadline (err %v)", elapsed, err)
		assert.NotContains(t, err.Error(), pgtest.Password, "error text shows the password")
	}

	require.NoError(t, srv.Restart(), "restart")
	var s *agentvault.Secret
	require.Eventually(t, func() bool {
		s, err = v.GetSecret(ctx, "app/key")
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "reads resume after restart (last err %v)", err)
	assert.Equal(t, fmt.Sprintf("v%d", acked), s.Value.Reveal(), "the last acknowledged version is active")
	vs, err := v.ListVersions(ctx, "app/key")
	require.NoError(t, err)
	for _, vi := range vs {
		got, err := v.GetSecret(ctx, "app/key", agentvault.AtVersion(vi.Version))
		require.NoError(t, err, "version %s after restart", vi.Version)
		if n, _ := strconv.Atoi(strings.TrimPrefix(vi.Version, "v")); n <= acked {
			assert.Equal(t, vi.Version, got.Value.Reveal())
		}
	}
	val := agentvault.StringValue("after")
	meta, err := v.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err, "update after restart")
	assert.Equal(t, fmt.Sprintf("v%d", len(vs)+1), meta.Version)
}

// TestListAmongManyKeys: ListSecrets of 1,000 matches among 100,000 keys,
// answered by a range scan on the primary key.
func TestListAmongManyKeys(t *testing.T) {
	pool := newPool(t)
	b := newBackend(t, pool)
	v := newVault(t, b, agentvault.WithAudit(false))
	// 99,000 other keys, written directly (they are never read).
	rows := make([][]any, 0, 99000)
	for i := 0; i < 99000; i++ {
		rows = append(rows, []any{fmt.Sprintf("s/other%02d/k%06d", i%50, i), []byte("x"), int64(i + 1_000_000)})
	}
	n, err := pool.CopyFrom(ctx, pgx.Identifier{b.Table()}, []string{"key", "value", "rev"}, pgx.CopyFromRows(rows))
	require.NoError(t, err)
	require.EqualValues(t, 99000, n)
	for i := 0; i < 1000; i++ {
		_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: fmt.Sprintf("team/a/k%04d", i), Value: agentvault.StringValue("v")})
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, "ANALYZE "+b.Table())
	require.NoError(t, err)
	list, err := v.ListSecrets(ctx, agentvault.ListFilter{Prefix: "team/a/"})
	require.NoError(t, err)
	require.Len(t, list, 1000)

	var plan []string
	r, err := pool.Query(ctx, "EXPLAIN SELECT key FROM "+b.Table()+" WHERE key >= $1 AND key < $2 ORDER BY key", "s/team/a/", "s/team/a0")
	require.NoError(t, err)
	plan, err = pgx.CollectRows(r, pgx.RowTo[string])
	require.NoError(t, err)
	joined := strings.Join(plan, "\n")
	assert.Contains(t, joined, "Index", "the listing is an index range scan:\n%s", joined)
	assert.NotContains(t, joined, "Seq Scan", "the listing scans the table:\n%s", joined)
}

// TestContextDeadline: a statement blocked on a row lock is cancelled by
// the caller's deadline.
func TestContextDeadline(t *testing.T) {
	pool := newPool(t)
	b := newBackend(t, pool)
	rev, err := b.Put(ctx, "k", []byte("v"), 0)
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT 1 FROM "+b.Table()+" WHERE key = 'k' FOR UPDATE")
	require.NoError(t, err)

	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = b.Put(dctx, "k", []byte("w"), rev)
	require.Error(t, err, "Put on a locked row")
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "Put err = %v, want context.DeadlineExceeded", err)
	assert.Less(t, time.Since(start), 10*time.Second)
	require.NoError(t, tx.Rollback(ctx))
	got, gotRev, err := b.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(got), "the cancelled Put wrote nothing")
	assert.Equal(t, rev, gotRev)
}

// TestConnectErrorsNamesHostNotPassword: a refused connection names
// host:port, never the password.
func TestConnectErrorsNamesHostNotPassword(t *testing.T) {
	const pw = "sup3r-secret-pw"
	url := "postgres://agentvault:" + pw + "@127.0.0.1:1/agentvault?sslmode=disable&connect_timeout=2"
	_, err := pgbackend.Open(ctx, url)
	require.Error(t, err, "Open of a closed port")
	assert.Contains(t, err.Error(), "127.0.0.1:1")
	assert.NotContains(t, err.Error(), pw)
	assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), pw)

	_, err = pgbackend.Open(ctx, "postgres://agentvault:"+pw+"@127.0.0.1:bad/x")
	require.Error(t, err, "Open of a malformed URL")
	assert.NotContains(t, err.Error(), pw)
}

// TestPasswordFromEnvironment: a URL without a password takes PGPASSWORD.
func TestPasswordFromEnvironment(t *testing.T) {
	srv := shared(t)
	t.Setenv("PGPASSWORD", pgtest.Password)
	b, err := pgbackend.Open(ctx, srv.URLWithoutPassword(), pgbackend.WithTable(uniqueTable()))
	require.NoError(t, err, "Open with PGPASSWORD")
	require.NoError(t, b.Close())
	_, _, err = b.Get(ctx, "k")
	require.ErrorIs(t, err, backend.ErrClosed)
}

// TestSchemaVersion: the set-up is idempotent and refuses a newer layout.
func TestSchemaVersion(t *testing.T) {
	pool := newPool(t)
	table := uniqueTable()
	for i := 0; i < 2; i++ {
		_, err := pgbackend.New(pool, pgbackend.WithTable(table))
		require.NoError(t, err, "New #%d", i+1)
	}
	var version int
	require.NoError(t, pool.QueryRow(ctx, "SELECT version FROM "+table+"_schema").Scan(&version))
	assert.Equal(t, pgbackend.SchemaVersion, version)
	_, err := pool.Exec(ctx, "UPDATE "+table+"_schema SET version = 99")
	require.NoError(t, err)
	_, err = pgbackend.New(pool, pgbackend.WithTable(table))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer")

	for _, bad := range []string{"", "Bad", "a-b", "x; DROP TABLE y", strings.Repeat("a", 49)} {
		_, err := pgbackend.New(pool, pgbackend.WithTable(bad))
		assert.Error(t, err, "WithTable(%q)", bad)
	}
}

// TestConcurrentFirstUse: many backends setting up one table at once all
// succeed (the advisory lock serialises the DDL).
func TestConcurrentFirstUse(t *testing.T) {
	pool := newPool(t)
	table := uniqueTable()
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() { _, err := pgbackend.New(pool, pgbackend.WithTable(table)); errs <- err }()
	}
	for i := 0; i < 8; i++ {
		require.NoError(t, <-errs)
	}
}
