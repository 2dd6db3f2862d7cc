package redistest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/internal/redistest"
)

func TestStartServer(t *testing.T) {
	t.Parallel()
	s := redistest.StartServer(t)
	assert.NotEqual(t, 6379, s.Port, "port")
	assert.True(t, strings.HasPrefix(s.Addr, "127.0.0.1:"), "Addr = %q", s.Addr)
	c := s.Client(t)
	require.NoError(t, c.Set(t.Context(), "k", "v", 0).Err(), "SET")
	got, err := c.Get(t.Context(), "k").Result()
	require.NoError(t, err, "GET")
	assert.Equal(t, "v", got, "GET")

	// Without persistence a restart loses the data.
	s.Restart()
	_, err = s.Do("PING")
	require.NoError(t, err, "PING after Restart")
	reply, err := s.Do("EXISTS", "k")
	require.NoError(t, err, "EXISTS")
	assert.Equal(t, int64(0), reply, "EXISTS after Restart without persistence")
}

func TestStopRestartPersistent(t *testing.T) {
	t.Parallel()
	s := redistest.StartServer(t, redistest.WithPersistence(), redistest.WithPassword("s3cret"))
	_, err := redistest.Do(s.Addr, "", "PING")
	require.Error(t, err, "PING without the password")
	_, err = s.Do("SET", "k", "v")
	require.NoError(t, err, "SET")

	s.Stop()
	_, err = s.Do("PING")
	require.Error(t, err, "PING after Stop")
	s.Stop() // stopping twice is fine

	s.Restart()
	reply, err := s.Do("GET", "k")
	require.NoError(t, err, "GET after Restart")
	assert.Equal(t, "v", reply, "GET after Restart with persistence")
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := redistest.StartServer(t)
	s.Pause()
	start := time.Now()
	_, err := s.Do("PING")
	require.Error(t, err, "PING while paused")
	assert.Less(t, time.Since(start), 5*time.Second, "Do while paused must time out")
	s.Resume()
	_, err = s.Do("PING")
	require.NoError(t, err, "PING after Resume")
}

func TestStartCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	cl := redistest.StartCluster(t, 3)
	t.Logf("cluster of 3 ready in %v", time.Since(start))
	require.Len(t, cl.Nodes, 3, "nodes")
	c := cl.Client(t)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		require.NoError(t, c.Set(ctx, k, k, 0).Err(), "SET %s", k)
	}
	slots, err := c.ClusterSlots(ctx).Result()
	require.NoError(t, err, "CLUSTER SLOTS")
	assert.Len(t, slots, 3, "slot ranges")
}

func TestStartSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	c := s.Client(t)
	require.NoError(t, c.Set(t.Context(), "k", "v", 0).Err(), "SET through the failover client")
	reply, err := s.Master.Do("GET", "k")
	require.NoError(t, err, "GET on the master")
	assert.Equal(t, "v", reply, "GET on the master")
}

func TestRequired(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv(redistest.EnvRequire, "")
	assert.False(t, redistest.Required(), "Required without CI")
	t.Setenv("CI", "true")
	assert.True(t, redistest.Required(), "Required with CI=true")
	t.Setenv("CI", "")
	t.Setenv(redistest.EnvRequire, "1")
	assert.True(t, redistest.Required(), "Required with "+redistest.EnvRequire+"=1")
}

func TestStartFailover(t *testing.T) {
	t.Parallel()
	f := redistest.StartFailover(t)
	f.DemoteAfter = time.Second
	require.Equal(t, f.Servers[0], f.Master(), "initial master")
	old, new := f.ForceFailover()
	assert.Equal(t, f.Servers[0], old, "ForceFailover old master")
	assert.NotEqual(t, old, new, "ForceFailover promotes another server")
	assert.Equal(t, new, f.Master(), "sentinels report the promoted server")
	killed, next := f.KillMaster()
	assert.Equal(t, new, killed, "KillMaster kills the current master")
	assert.NotEqual(t, killed, next, "KillMaster promotes another server")
	role, err := killed.Do("ROLE")
	require.NoError(t, err, "ROLE on the restarted server")
	assert.Equal(t, "slave", role.([]any)[0], "the killed master comes back as a replica")
}
