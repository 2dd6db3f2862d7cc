package redisbackend_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

func TestAppenderConformance(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	backendtest.RunAppender(t, func(t *testing.T) backend.Backend {
		b, err := redisbackend.New(client, redisbackend.WithPrefix(uniquePrefix(t)))
		require.NoError(t, err, "New")
		return b
	})
}

func TestAppenderConformanceCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	url := "redis+cluster://" + cl.Nodes[0].Addr + "?addr=" + cl.Nodes[1].Addr + "&addr=" + cl.Nodes[2].Addr
	backendtest.RunAppender(t, func(t *testing.T) backend.Backend {
		b, err := redisbackend.Open(url, redisbackend.WithPrefix(uniquePrefix(t)))
		require.NoError(t, err, "Open(%q)", url)
		return b
	})
}
