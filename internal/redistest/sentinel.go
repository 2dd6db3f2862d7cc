package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name under which StartSentinel's sentinel monitors its
// master.
const MasterName = "mymaster"

// Sentinel is a master redis-server watched by one Sentinel, started by
// StartSentinel.
type Sentinel struct {
	// Master is the monitored redis-server.
	Master *Server
	// Sentinel is the sentinel process; Sentinel.Addr is what a failover
	// client connects to.
	Sentinel *Server
	// MasterName is the monitored master's name (MasterName).
	MasterName string
}

// Client returns a go-redis failover client that finds the master through
// the sentinel, closed when the test ends.
func (s *Sentinel) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    s.MasterName,
		SentinelAddrs: []string{s.Sentinel.Addr},
		Password:      s.Master.Password,
		DialTimeout:   2 * time.Second,
	})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// StartSentinel starts a master redis-server and one Sentinel monitoring it
// (quorum 1) on free loopback ports, and waits until the sentinel reports
// the master's address. opts apply to the master. Both processes are killed
// when the test ends. The sentinel runs as redis-sentinel, or as
// redis-server --sentinel when that binary is missing.
func StartSentinel(tb testing.TB, opts ...Option) *Sentinel {
	tb.Helper()
	master := StartServer(tb, opts...)

	bin, sentinelFlag := "", false
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		bin = p
	} else {
		bin, sentinelFlag = LookBinary(tb, "redis-server"), true
	}

	dir := tb.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	s := startWithRetry(tb, bin, dir, "", func(port int) []string {
		text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %s 2000
sentinel failover-timeout %s 5000
`, port, dir, MasterName, master.Port, MasterName, MasterName)
		if master.Password != "" {
			text += fmt.Sprintf("sentinel auth-pass %s %s\n", MasterName, master.Password)
		}
		// The sentinel rewrites its config file, so it is written afresh
		// for every attempt.
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			tb.Fatalf("redistest: write sentinel config: %v", err)
		}
		args := []string{conf}
		if sentinelFlag {
			args = append(args, "--sentinel")
		}
		return args
	})

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	want := strconv.Itoa(master.Port)
	err := waitFor(ctx, readyTimeout, func() error {
		reply, err := s.Do("SENTINEL", "get-master-addr-by-name", MasterName)
		if err != nil {
			return err
		}
		if a, ok := reply.([]any); ok && len(a) == 2 && a[0] == "127.0.0.1" && a[1] == want {
			return nil
		}
		return fmt.Errorf("sentinel reports master %v, want 127.0.0.1:%s", reply, want)
	})
	if err != nil {
		tb.Fatalf("redistest: sentinel %s does not know its master: %v", s.Addr, err)
	}
	return &Sentinel{Master: master, Sentinel: s, MasterName: MasterName}
}
