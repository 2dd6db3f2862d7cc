package agentvault_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/internal/redistest"
)

// The concurrent kill -9 campaign: three writer processes update one secret
// at once; one of them, chosen at random, is killed with SIGKILL at a
// random instant and replaced by a new one, again and again (a writer may
// die holding the file backend's lock, or between its audit event and its
// reply). At the end every version from v1 to the newest holds a value
// that one writer acknowledged or was writing when it died (none skipped,
// none written twice), every acknowledged version holds exactly its value,
// and the audit chains verify with an event for every acknowledged update.

// crashEpochKills is how many kills one secret sees before the campaign
// moves to a fresh one (its record holds every version: it keeps it small).
const crashEpochKills = 25

// TestHelperCrashWriter is the child of the concurrent campaign; it does
// nothing in a normal test run.
func TestHelperCrashWriter(t *testing.T) {
	spec := os.Getenv("AGENTVAULT_CRASHW_BACKEND")
	if spec == "" {
		return
	}
	id := os.Getenv("AGENTVAULT_CRASHW_ID")
	path := os.Getenv("AGENTVAULT_CRASHW_PATH")
	exitWithParent()
	say := func(l crashLine) {
		b, _ := json.Marshal(l)
		if _, err := os.Stdout.Write(append([]byte(crashLinePrefix), append(b, '\n')...)); err != nil {
			os.Exit(3)
		}
	}
	b, err := openCrashBackend(spec)
	require.NoError(t, err)
	v, err := agentvault.New(b, crashKeyring(t, "k1"))
	require.NoError(t, err)
	for i := 0; ; i++ {
		val := fmt.Sprintf("w%s-%d", id, i)
		say(crashLine{Kind: "begin", Op: "update", Path: path, Value: val})
		sval := agentvault.StringValue(val)
		m, err := v.UpdateSecret(ctx, path, agentvault.UpdateSecretInput{Value: &sval})
		if err != nil {
			fmt.Fprintf(os.Stderr, "crash writer %s: update %d: %v\n", id, i, err)
			os.Exit(2)
		}
		say(crashLine{Kind: "ack", Op: "update", Path: path, Version: m.Version, Value: val})
	}
}

// crashWriter is one running writer process and what it reported.
type crashWriter struct {
	cmd      *exec.Cmd
	stderr   bytes.Buffer
	mu       sync.Mutex
	acked    []crashLine
	inflight *crashLine
	done     chan struct{}
}

func startCrashWriter(t *testing.T, spec, path string, id int) *crashWriter {
	w := &crashWriter{done: make(chan struct{})}
	w.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperCrashWriter$", "-test.count=1")
	w.cmd.Env = append(os.Environ(), "AGENTVAULT_CRASHW_BACKEND="+spec, "AGENTVAULT_CRASHW_ID="+strconv.Itoa(id), "AGENTVAULT_CRASHW_PATH="+path)
	w.cmd.Stderr = &w.stderr
	out, err := w.cmd.StdoutPipe()
	require.NoError(t, err)
	_, err = w.cmd.StdinPipe() // closed by Wait, or by the kernel if this process dies
	require.NoError(t, err)
	require.NoError(t, w.cmd.Start())
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			rest, ok := strings.CutPrefix(sc.Text(), crashLinePrefix)
			if !ok {
				continue
			}
			var l crashLine
			if json.Unmarshal([]byte(rest), &l) != nil {
				continue
			}
			w.mu.Lock()
			if l.Kind == "begin" {
				w.inflight = &l
			} else {
				w.acked, w.inflight = append(w.acked, l), nil
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// kill SIGKILLs the writer and waits for its report to end. A writer that
// exited by itself is a finding.
func (w *crashWriter) kill(t *testing.T) {
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
	err := w.cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("a writer ended before it was killed: %v\n%s", err, w.stderr.String())
	}
}

func TestCrashConcurrentWritersFile(t *testing.T) {
	runConcurrentCrash(t, "file="+filepath.Join(t.TempDir(), "store"))
}

func TestCrashConcurrentWritersRedis(t *testing.T) {
	srv := redistest.StartServer(t)
	runConcurrentCrash(t, "redis=redis://"+srv.Addr+"/0")
}

func runConcurrentCrash(t *testing.T, spec string) {
	if testing.Short() {
		t.Skip("kill -9 campaign: not in -short mode")
	}
	kills, seed := crashKills(t), crashSeed(t)
	t.Logf("concurrent kill -9 campaign: %d kills, AGENTVAULT_CAMPAIGN_SEED=%d", kills, seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	var total concurrentStats
	for epoch := 0; epoch*crashEpochKills < kills; epoch++ {
		n := min(crashEpochKills, kills-epoch*crashEpochKills)
		st := concurrentEpoch(t, spec, fmt.Sprintf("c/shared/e%d", epoch), n, rng)
		total.acked += st.acked
		total.inflight += st.inflight
		total.landed += st.landed
		total.versions += st.versions
	}
	t.Logf("concurrent kill -9 campaign: 3 writers, %d kills, %d updates acknowledged, %d in flight at a kill (%d landed), %d versions read back; 0 lost, 0 skipped, 0 written twice",
		kills, total.acked, total.inflight, total.landed, total.versions)
}

type concurrentStats struct{ acked, inflight, landed, versions int }

func concurrentEpoch(t *testing.T, spec, path string, kills int, rng *rand.Rand) concurrentStats {
	const writers = 3
	{
		v, b := crashOpen(t, spec)
		_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: path, Value: agentvault.StringValue("initial")})
		require.NoError(t, err)
		v.Close()
		b.Close()
	}
	running := make([]*crashWriter, writers)
	t.Cleanup(func() { // a failed check leaves no writer running
		for _, w := range running {
			if w != nil {
				_ = w.cmd.Process.Kill()
			}
		}
	})
	next := 0
	for i := range running {
		running[i] = startCrashWriter(t, spec, path, next)
		next++
	}
	var finished []*crashWriter
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(rng.Int64N(int64(200 * time.Millisecond))))
		i := rng.IntN(writers)
		running[i].kill(t)
		finished = append(finished, running[i])
		running[i] = startCrashWriter(t, spec, path, next)
		next++
	}
	for _, w := range running {
		w.kill(t)
		finished = append(finished, w)
	}

	acked := map[string]string{} // value -> version
	maybe := map[string]bool{}   // values in flight at a kill
	for _, w := range finished {
		for _, l := range w.acked {
			acked[l.Value] = l.Version
		}
		if w.inflight != nil {
			maybe[w.inflight.Value] = true
		}
	}
	v, b := crashOpen(t, spec)
	defer b.Close()
	defer v.Close()
	if dir, ok := strings.CutPrefix(spec, "file="); ok {
		require.Empty(t, tempFiles(t, dir), "temporary files of killed writers after Open")
	}
	vs, err := v.ListVersions(ctx, path)
	require.NoError(t, err)
	stored := map[string]string{}
	landed := 0
	for i, vi := range vs {
		require.Equal(t, agentvault.FormatVersion(uint32(i+1)), vi.Version, "versions are dense: none skipped")
		s, err := v.GetSecret(ctx, path, agentvault.AtVersion(vi.Version))
		require.NoError(t, err, "GetSecret(%s)", vi.Version)
		val := s.Value.Reveal()
		prev, dup := stored[val]
		require.False(t, dup, "value %q stored twice, as %s and %s", val, prev, vi.Version)
		stored[val] = vi.Version
		switch want, ok := acked[val]; {
		case ok:
			assert.Equal(t, want, vi.Version, "value %q acknowledged as %s", val, want)
		case maybe[val]:
			landed++
		default:
			assert.Equal(t, "v1", vi.Version, "%s holds %q, never acknowledged nor in flight", vi.Version, val)
		}
	}
	for val, ver := range acked {
		assert.Equal(t, ver, stored[val], "acknowledged %s (%q) lost", ver, val)
	}
	_, err = v.VerifyAudit(ctx)
	require.NoError(t, err)
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{PathPrefix: path, Event: agentvault.EventSecretUpdated})
	require.NoError(t, err)
	events := map[string]bool{}
	for _, e := range evs {
		if e.Outcome == agentvault.OutcomeAllowed && e.Path == path {
			events[e.Version] = true
		}
	}
	for _, ver := range acked {
		assert.True(t, events[ver], "no secret.updated event for acknowledged %s", ver)
	}
	return concurrentStats{acked: len(acked), inflight: len(maybe), landed: landed, versions: len(vs)}
}
