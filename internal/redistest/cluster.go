package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterNodeTimeout is cluster-node-timeout in milliseconds: short, so the
// cluster settles fast on loopback.
const clusterNodeTimeout = 1000

// Cluster is a Redis Cluster of masters without replicas, started by
// StartCluster.
type Cluster struct {
	// Nodes are the masters, in the order their slots were assigned
	// (Nodes[0] serves the lowest slots).
	Nodes []*Server
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Client returns a go-redis ClusterClient for the cluster, closed when the
// test ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:       c.Addrs(),
		Password:    c.Nodes[0].Password,
		DialTimeout: 2 * time.Second,
	})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

// StartCluster starts masters (at least 3) cluster-enabled redis-servers on
// free loopback ports, joins them with `redis-cli --cluster create
// --cluster-yes` (slots split evenly, no replicas), and waits until every
// node reports cluster_state:ok. The servers are killed when the test ends.
func StartCluster(tb testing.TB, masters int, opts ...Option) *Cluster {
	tb.Helper()
	if masters < 3 {
		tb.Fatalf("redistest: StartCluster(%d): redis-cli --cluster create needs at least 3 masters", masters)
	}
	bin := LookBinary(tb, "redis-server")
	cli := LookBinary(tb, "redis-cli")
	c := newConfig(opts)

	cl := &Cluster{Nodes: make([]*Server, masters)}
	for i := range cl.Nodes {
		dir := tb.TempDir()
		busPort := FreePort(tb)
		cl.Nodes[i] = startWithRetry(tb, bin, dir, c.password, func(port int) []string {
			return append(serverArgs(port, dir, c),
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", strconv.Itoa(clusterNodeTimeout),
				"--cluster-port", strconv.Itoa(busPort),
			)
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, cl.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if c.password != "" {
		args = append(args, "--no-auth-warning", "-a", c.password)
	}
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}

	for _, n := range cl.Nodes {
		err := waitFor(ctx, 30*time.Second, func() error {
			reply, err := n.Do("CLUSTER", "INFO")
			if err != nil {
				return err
			}
			info, _ := reply.(string)
			want := []string{"cluster_state:ok", "cluster_known_nodes:" + strconv.Itoa(masters)}
			for _, w := range want {
				if !strings.Contains(info, w) {
					return fmt.Errorf("CLUSTER INFO lacks %s:\n%s", w, info)
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("redistest: cluster node %s not ready: %v", n.Addr, err)
		}
	}
	return cl
}
