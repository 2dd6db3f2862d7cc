package agentvault_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// The kill -9 campaign: a child process (this test binary, re-executed as
// TestHelperCrashWorkload) runs a mixed workload against a store and is
// killed with SIGKILL at a random instant; the parent then opens the store
// with a fresh vault and checks it against everything the child
// acknowledged (crash_model_test.go). Then the next child continues on the
// same store, so each recovery is also tested by a later writer.
//
// CI runs crashKillsCI kills per backend. AGENTVAULT_CAMPAIGN_KILLS=N runs
// N per backend instead (the figures in RELIABILITY.md), and
// AGENTVAULT_CAMPAIGN_SEED fixes the random choices.

const (
	crashKillsCI    = 12
	crashRunsPerDir = 25 // a fresh store after this many kills, so checks stay fast
	crashMaxDelay   = 250 * time.Millisecond
)

func crashKills(t *testing.T) int {
	if s := os.Getenv("AGENTVAULT_CAMPAIGN_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "AGENTVAULT_CAMPAIGN_KILLS")
		return n
	}
	return crashKillsCI
}

func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("AGENTVAULT_CAMPAIGN_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "AGENTVAULT_CAMPAIGN_SEED")
		return n
	}
	return uint64(time.Now().UnixNano())
}

// TestCrashCampaignFile kills a workload on the file backend at random
// instants and checks every acknowledged operation after each kill.
func TestCrashCampaignFile(t *testing.T) {
	var dir string
	runCrashCampaign(t, crashTarget{
		fresh: func(epoch int) string {
			dir = filepath.Join(t.TempDir(), "store")
			return "file=" + dir
		},
		beforeOpen: func() int { return len(tempFiles(t, dir)) },
		afterCheck: func() {
			require.Empty(t, tempFiles(t, dir), "temporary files left after a crash are removed when the store is opened")
		},
	})
}

// TestCrashCampaignRedis kills the client process at random instants and,
// in one round of four, the redis-server (AOF, appendfsync always) too,
// restarting it before the check: acknowledged writes survive both.
func TestCrashCampaignRedis(t *testing.T) {
	srv := redistest.StartServer(t, redistest.WithPersistence())
	url := "redis://" + srv.Addr + "/0"
	runCrashCampaign(t, crashTarget{
		fresh: func(int) string {
			_, err := srv.Do("FLUSHALL")
			require.NoError(t, err)
			return "redis=" + url
		},
		killServer: func() { srv.Stop() },
		restart:    func() { srv.Restart() },
	})
}

type crashTarget struct {
	fresh      func(epoch int) string // a new empty store; returns its backend spec
	beforeOpen func() int             // counts leftovers (temporary files) before the check opens the store
	afterCheck func()
	killServer func() // kill the storage server too (Redis)
	restart    func()
}

func runCrashCampaign(t *testing.T, tgt crashTarget) {
	if testing.Short() {
		t.Skip("kill -9 campaign: not in -short mode")
	}
	kills, seed := crashKills(t), crashSeed(t)
	t.Logf("kill -9 campaign: %d kills, AGENTVAULT_CAMPAIGN_SEED=%d", kills, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var total crashStats
	var spec string
	var m *crashModel
	for run := 0; run < kills; run++ {
		if run%crashRunsPerDir == 0 {
			spec = tgt.fresh(run / crashRunsPerDir)
			m = newCrashModel()
			crashSetup(t, spec)
		}
		raw := crashIssueToken(t, spec, m)
		delay := time.Duration(rng.Int64N(int64(crashMaxDelay)))
		serverKill := tgt.killServer != nil && rng.IntN(4) == 0
		lines, inflight := crashRun(t, spec, run, seed, raw, delay, serverKill, tgt.killServer)
		if serverKill {
			tgt.restart()
			m.stats.ServerKills++
		}
		for _, l := range lines {
			require.NoError(t, m.apply(l), "run %d (seed %d): acknowledged operation", run, seed)
		}
		if inflight != nil {
			m.stats.InFlight++
		}
		if tgt.beforeOpen != nil {
			m.stats.TempFiles += tgt.beforeOpen()
		}
		crashCheck(t, spec, m, inflight, run, seed)
		if tgt.afterCheck != nil {
			tgt.afterCheck()
		}
		m.stats.Kills++
		if run%crashRunsPerDir == crashRunsPerDir-1 || run == kills-1 {
			total.add(m.stats)
		}
	}
	t.Logf("kill -9 campaign: %d kills (%d with the server killed too), %d operations acknowledged, %d in flight at a kill (%d of them found landed), %d acknowledged versions read back exactly after kills, %d temporary files found and removed; 0 acknowledged versions lost, 0 wrong values, 0 ErrIntegrity",
		total.Kills, total.ServerKills, total.Acked, total.InFlight, total.Adopted, total.VersionsChecked, total.TempFiles)
}

func (s *crashStats) add(o crashStats) {
	s.Kills += o.Kills
	s.ServerKills += o.ServerKills
	s.Acked += o.Acked
	s.InFlight += o.InFlight
	s.VersionsChecked += o.VersionsChecked
	s.Adopted += o.Adopted
	s.TempFiles += o.TempFiles
}

// crashOpen opens the store as the checker: audit off, so that the checks
// add nothing to the trail they verify.
func crashOpen(t *testing.T, spec string) (*agentvault.AgentVault, backend.Backend) {
	t.Helper()
	b, err := openCrashBackend(spec)
	require.NoError(t, err, "open %s after the crash", spec)
	v, err := agentvault.New(b, crashKeyring(t, "k1"), crashRetention, agentvault.WithAudit(false))
	if err != nil {
		b.Close()
	}
	require.NoError(t, err, "agentvault.New after the crash")
	return v, b
}

func crashSetup(t *testing.T, spec string) {
	v, b := crashOpen(t, spec)
	defer b.Close()
	defer v.Close()
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: crashTokenPath, Value: agentvault.StringValue(crashTokenValue), Tier: agentvault.TierStandard})
	require.NoError(t, err)
}

// crashIssueToken issues the run's token (3 uses).
func crashIssueToken(t *testing.T, spec string, m *crashModel) string {
	v, b := crashOpen(t, spec)
	defer b.Close()
	defer v.Close()
	tok, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:tok/*"}, MaxUses: 3})
	require.NoError(t, err)
	m.tokenAc = tok.Accessor
	m.tokens[tok.Accessor] = &crashToken{max: 3}
	return tok.Value.Reveal()
}

// crashRun starts the child, kills it delay after it is ready (and the
// server first if serverKill), and returns the acknowledged operations and
// the one in flight.
func crashRun(t *testing.T, spec string, run int, seed uint64, raw string, delay time.Duration, serverKill bool, killServer func()) ([]crashLine, *crashLine) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashWorkload$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AGENTVAULT_CRASH_BACKEND="+spec, "AGENTVAULT_CRASH_RUN="+strconv.Itoa(run),
		"AGENTVAULT_CRASH_SEED="+strconv.FormatUint(seed, 10), "AGENTVAULT_CRASH_TOKEN="+raw, "AGENTVAULT_CAMPAIGN_KILLS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	_, err = cmd.StdinPipe() // closed by Wait, or by the kernel if this process dies (see exitWithParent)
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill() // a failure below leaves no child running

	var mu sync.Mutex
	var acked []crashLine
	var inflight *crashLine
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			rest, ok := strings.CutPrefix(sc.Text(), crashLinePrefix)
			if !ok {
				continue
			}
			var l crashLine
			if err := json.Unmarshal([]byte(rest), &l); err != nil {
				done <- err
				return
			}
			mu.Lock()
			switch l.Kind {
			case "ready":
				close(ready)
			case "begin":
				inflight = &l
			case "ack":
				acked, inflight = append(acked, l), nil
			case "nop":
				inflight = nil
			}
			mu.Unlock()
		}
		done <- sc.Err()
	}()
	exited := make(chan error, 1)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
	}
	time.Sleep(delay)
	if serverKill {
		killServer()
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	require.NoError(t, <-done, "reading the child's report")
	go func() { exited <- cmd.Wait() }()
	werr := <-exited
	var ee *exec.ExitError
	killed := errors.As(werr, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	if !killed && !serverKill {
		t.Fatalf("run %d (seed %d): the workload ended before the kill: %v\n%s", run, seed, werr, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	return acked, inflight
}

// crashCheck opens the store and checks it against m.
func crashCheck(t *testing.T, spec string, m *crashModel, inflight *crashLine, run int, seed uint64) {
	t.Helper()
	v, b := crashOpen(t, spec)
	defer b.Close()
	defer v.Close()
	what := "nothing"
	if inflight != nil {
		what = inflight.Op + " " + inflight.Path
	}
	pruned, err := m.checkAudit(v)
	require.NoError(t, err, "run %d (seed %d), killed during %s", run, seed, what)
	require.NoError(t, m.check(v, inflight, pruned), "run %d (seed %d), killed during %s", run, seed, what)
	require.NoError(t, m.checkTokens(v), "run %d (seed %d), killed during %s", run, seed, what)
}

// tempFiles lists the file backend's temporary files below dir.
func tempFiles(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}
