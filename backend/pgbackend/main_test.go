package pgbackend_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend/pgbackend"
	"github.com/agentvault/agentvault/backend/pgbackend/pgtest"
)

// server is one PostgreSQL server shared by the tests of this package; each
// test uses tables of its own. Tests that stop or kill a server start their
// own with pgtest.Start.
var (
	server     *pgtest.Server
	serverErr  error
	tableCount atomic.Int64
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	server, serverErr = pgtest.StartServer()
	code := m.Run()
	if server != nil {
		server.Stop()
	}
	os.Exit(code)
}

// shared returns the package's server, failing (CI) or skipping the test
// when PostgreSQL is not installed.
func shared(t testing.TB) *pgtest.Server {
	t.Helper()
	if serverErr != nil {
		if pgtest.Required() {
			t.Fatalf("pgtest: %v", serverErr)
		}
		t.Skipf("pgtest: %v", serverErr)
	}
	return server
}

// newPool returns a pool on the shared server, closed when the test ends.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(shared(t).URL())
	require.NoError(t, err)
	cfg.ConnConfig.BuildContextWatcherHandler = pgbackend.CancelOnContextDone
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err, "pgxpool.New")
	t.Cleanup(pool.Close)
	return pool
}

// uniqueTable returns a table name no other test of this binary uses.
func uniqueTable() string { return fmt.Sprintf("t%d_kv", tableCount.Add(1)) }

// newBackend returns a Backend on a fresh table of the shared server.
func newBackend(t testing.TB, pool *pgxpool.Pool) *pgbackend.Backend {
	t.Helper()
	b, err := pgbackend.New(pool, pgbackend.WithTable(uniqueTable()))
	require.NoError(t, err, "pgbackend.New")
	t.Cleanup(func() { _ = b.Close() })
	return b
}
