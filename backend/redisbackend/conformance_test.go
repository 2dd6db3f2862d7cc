package redisbackend_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

var prefixes atomic.Int64

// uniquePrefix returns a key prefix no other backend of this test binary
// uses, so that every subtest starts with an empty store on a shared server.
func uniquePrefix(t testing.TB) string {
	name := strings.NewReplacer("/", "-", " ", "_", "{", "(", "}", ")").Replace(t.Name())
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	return fmt.Sprintf("t%d-%s", prefixes.Add(1), name)
}

func TestConformanceSingleNode(t *testing.T) {
	t.Parallel()
	client := redistest.StartServer(t).Client(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := redisbackend.New(client, redisbackend.WithPrefix(uniquePrefix(t)))
		require.NoError(t, err, "New")
		return b
	})
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	url := "redis+cluster://" + cl.Nodes[0].Addr + "?addr=" + cl.Nodes[1].Addr + "&addr=" + cl.Nodes[2].Addr
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := redisbackend.Open(url, redisbackend.WithPrefix(uniquePrefix(t)))
		require.NoError(t, err, "Open(%q)", url)
		return b
	})
}

func TestConformanceSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, redistest.WithPassword("sentinel-test-pw"))
	url := "redis+sentinel://:sentinel-test-pw@" + s.Sentinel.Addr + "?master=" + s.MasterName
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := redisbackend.Open(url, redisbackend.WithPrefix(uniquePrefix(t)))
		require.NoError(t, err, "Open(%q)", url)
		return b
	})
}
