package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// settleTimeout bounds how long a failover (and the resync after it) may
// take before the harness fails the test.
const settleTimeout = 90 * time.Second

// Failover is a replicated deployment for failover tests: a master, two
// replicas and three Sentinels (quorum 2), started by StartFailover. Which
// server is the master changes with ForceFailover and KillMaster.
type Failover struct {
	// Servers are the data nodes; Servers[0] was the master at start.
	Servers []*Server
	// Sentinels are the three sentinel processes.
	Sentinels []*Server
	// MasterName is the monitored master's name (MasterName).
	MasterName string
	// DemoteAfter, if positive, makes ForceFailover demote the old master
	// itself (REPLICAOF the new one) this long after the sentinels agree on
	// the new master, instead of waiting for the sentinels to do it, which
	// takes them 10 to 20 seconds. During that window the old master still
	// accepts writes from clients that have not switched (split brain).
	// Zero: leave it to the sentinels.
	DemoteAfter time.Duration

	tb testing.TB
}

// StartFailover starts a master and two replicas (redis-server, opts apply
// to all three) and three Sentinels monitoring them (quorum 2, a master is
// down after 1s without replies), all on free loopback ports, and waits
// until the master has both replicas online and every sentinel knows them.
// Everything is killed when the test ends.
func StartFailover(tb testing.TB, opts ...Option) *Failover {
	tb.Helper()
	mopts := opts
	if pw := newConfig(opts).password; pw != "" {
		// After a failover the old master replicates the new one.
		mopts = append(append([]Option{}, opts...), WithArgs("--masterauth", pw))
	}
	master := StartServer(tb, mopts...)
	f := &Failover{Servers: []*Server{master}, MasterName: MasterName, tb: tb}
	for i := range 2 {
		r := StartReplica(tb, master, opts...)
		WaitReplicas(tb, master, i+1)
		f.Servers = append(f.Servers, r)
	}
	bin, sentinelFlag := "", false
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		bin = p
	} else {
		bin, sentinelFlag = LookBinary(tb, "redis-server"), true
	}
	for range 3 {
		dir := tb.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		f.Sentinels = append(f.Sentinels, startWithRetry(tb, bin, dir, "", func(port int) []string {
			text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor %s 127.0.0.1 %d 2
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 3000
`, port, dir, MasterName, master.Port, MasterName, MasterName)
			if master.Password != "" {
				text += fmt.Sprintf("sentinel auth-pass %s %s\n", MasterName, master.Password)
			}
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				tb.Fatalf("redistest: write sentinel config: %v", err)
			}
			args := []string{conf}
			if sentinelFlag {
				args = append(args, "--sentinel")
			}
			return args
		}))
	}
	f.WaitSettled()
	return f
}

// SentinelAddrs returns the sentinels' addresses.
func (f *Failover) SentinelAddrs() []string {
	addrs := make([]string, len(f.Sentinels))
	for i, s := range f.Sentinels {
		addrs[i] = s.Addr
	}
	return addrs
}

// URL returns a redis+sentinel URL naming all three sentinels, with
// params (such as "wait=0") appended to its query.
func (f *Failover) URL(params ...string) string {
	addrs := f.SentinelAddrs()
	u := "redis+sentinel://"
	if pw := f.Servers[0].Password; pw != "" {
		u += ":" + pw + "@"
	}
	u += addrs[0] + "?master=" + f.MasterName
	for _, a := range addrs[1:] {
		u += "&addr=" + a
	}
	for _, p := range params {
		u += "&" + p
	}
	return u
}

// Master returns the server the first sentinel reports as master.
func (f *Failover) Master() *Server {
	f.tb.Helper()
	s, err := f.reportedMaster(f.Sentinels[0])
	if err != nil {
		f.tb.Fatalf("redistest: %v", err)
	}
	return s
}

func (f *Failover) reportedMaster(sentinel *Server) (*Server, error) {
	reply, err := sentinel.Do("SENTINEL", "get-master-addr-by-name", f.MasterName)
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: %w", sentinel.Addr, err)
	}
	a, ok := reply.([]any)
	if !ok || len(a) != 2 {
		return nil, fmt.Errorf("sentinel %s: unexpected master address %v", sentinel.Addr, reply)
	}
	port, _ := a[1].(string)
	for _, s := range f.Servers {
		if strconv.Itoa(s.Port) == port {
			return s, nil
		}
	}
	return nil, fmt.Errorf("sentinel %s reports unknown master %v", sentinel.Addr, a)
}

// ForceFailover asks a sentinel to fail over (SENTINEL FAILOVER, a
// promotion without agreement from the others, while the old master still
// runs) and waits until the deployment has settled on the new master.
// It returns the old and the new master.
func (f *Failover) ForceFailover() (old, new *Server) {
	f.tb.Helper()
	old = f.Master()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	// A forced failover is not retried by the sentinels if it aborts (a
	// promotion slower than failover-timeout on a loaded machine): ask
	// again until a new master is in place.
	err := waitFor(ctx, settleTimeout, func() error {
		if _, err := f.Sentinels[0].Do("SENTINEL", "FAILOVER", f.MasterName); err != nil {
			return err // INPROG or NOGOODSLAVE while the last one settles
		}
		return waitFor(ctx, 20*time.Second, func() error {
			m, err := f.agreedMaster()
			if err == nil && m == old {
				err = fmt.Errorf("sentinels still report %s", old.Addr)
			}
			return err
		})
	})
	if err != nil {
		f.tb.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
	}
	new = f.waitNewMaster(ctx, old)
	if f.DemoteAfter > 0 {
		time.Sleep(f.DemoteAfter)
		if _, err := old.Do("REPLICAOF", "127.0.0.1", strconv.Itoa(new.Port)); err != nil {
			f.tb.Fatalf("redistest: REPLICAOF on old master %s: %v", old.Addr, err)
		}
	}
	f.WaitSettled()
	return old, new
}

// KillMaster kills the current master with SIGKILL, waits until the
// sentinels have promoted a replica, restarts the killed server as a
// replica of the new master and waits until the deployment has settled.
// It returns the killed (now replica) and the new master.
func (f *Failover) KillMaster() (old, new *Server) {
	f.tb.Helper()
	old = f.Master()
	old.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	new = f.waitNewMaster(ctx, old)
	old.Restart()
	if _, err := old.Do("REPLICAOF", "127.0.0.1", strconv.Itoa(new.Port)); err != nil {
		f.tb.Fatalf("redistest: REPLICAOF on restarted %s: %v", old.Addr, err)
	}
	f.WaitSettled()
	return old, new
}

// waitNewMaster waits until every sentinel reports a master other than old
// and that server says it is a master.
func (f *Failover) waitNewMaster(ctx context.Context, old *Server) *Server {
	f.tb.Helper()
	var m *Server
	err := waitFor(ctx, settleTimeout, func() error {
		var err error
		if m, err = f.agreedMaster(); err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("sentinels still report %s", old.Addr)
		}
		return nil
	})
	if err != nil {
		f.tb.Fatalf("redistest: no new master after %s: %v", old.Addr, err)
	}
	return m
}

// agreedMaster returns the master every sentinel reports, if they agree
// and it reports the master role.
func (f *Failover) agreedMaster() (*Server, error) {
	var m *Server
	for _, s := range f.Sentinels {
		got, err := f.reportedMaster(s)
		if err != nil {
			return nil, err
		}
		if m != nil && got != m {
			return nil, fmt.Errorf("sentinels disagree: %s and %s", m.Addr, got.Addr)
		}
		m = got
	}
	role, err := m.Do("ROLE")
	if err != nil {
		return nil, fmt.Errorf("ROLE on %s: %w", m.Addr, err)
	}
	if r, ok := role.([]any); !ok || len(r) == 0 || r[0] != "master" {
		return nil, fmt.Errorf("%s is not yet a master: %v", m.Addr, role)
	}
	return m, nil
}

// WaitSettled waits until the sentinels agree on a master, it has every
// other server as an online replica, and no sentinel has a failover in
// progress, so that the next failover has candidates.
func (f *Failover) WaitSettled() {
	f.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	err := waitFor(ctx, settleTimeout, func() error {
		m, err := f.agreedMaster()
		if err != nil {
			return err
		}
		info, err := m.Do("INFO", "replication")
		if err != nil {
			return err
		}
		text, _ := info.(string)
		online := strings.Count(text, "state=online")
		if online != len(f.Servers)-1 {
			return fmt.Errorf("master %s has %d online replicas, want %d", m.Addr, online, len(f.Servers)-1)
		}
		for _, s := range f.Sentinels {
			reply, err := s.Do("SENTINEL", "MASTER", f.MasterName)
			if err != nil {
				return err
			}
			if flags := field(reply, "flags"); flags != "master" {
				return fmt.Errorf("sentinel %s: master flags %q", s.Addr, flags)
			}
		}
		return nil
	})
	if err != nil {
		f.tb.Fatalf("redistest: failover deployment did not settle: %v", err)
	}
}

// field returns the value of name in a flat name/value array reply.
func field(reply any, name string) string {
	a, _ := reply.([]any)
	for i := 0; i+1 < len(a); i += 2 {
		if a[i] == name {
			v, _ := a[i+1].(string)
			return v
		}
	}
	return ""
}

// StartReplica starts a redis-server replicating master (opts apply to it;
// the master's password is passed on) and waits until the master lists it
// as an online replica. It is killed when the test ends.
func StartReplica(tb testing.TB, master *Server, opts ...Option) *Server {
	tb.Helper()
	opts = append(append([]Option{}, opts...), WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(master.Port)))
	if master.Password != "" {
		opts = append(opts, WithPassword(master.Password), WithArgs("--masterauth", master.Password))
	}
	r := StartServer(tb, opts...)
	WaitReplicas(tb, master, 1)
	return r
}

// WaitReplicas waits until master lists at least n online replicas.
func WaitReplicas(tb testing.TB, master *Server, n int) {
	tb.Helper()
	err := waitFor(context.Background(), settleTimeout, func() error {
		info, err := master.Do("INFO", "replication")
		if err != nil {
			return err
		}
		if got := strings.Count(fmt.Sprint(info), "state=online"); got < n {
			return fmt.Errorf("%s has %d online replicas, want %d", master.Addr, got, n)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
}
