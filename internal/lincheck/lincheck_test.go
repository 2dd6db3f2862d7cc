package lincheck

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
	"github.com/agentvault/agentvault/kms/localkms"
)

// register is the model's state: the values of versions 1..n (joined by
// NUL) and the active version. It is comparable, as porcupine needs.
type register struct {
	vals   string
	n      int
	active int
}

func (r register) value(v int) string { return strings.Split(r.vals, "\x00")[v-1] }

type input struct {
	Op     string `json:"op"`     // "get", "update", "rollback"
	Value  string `json:"value"`  // update
	Target int    `json:"target"` // rollback
}

type output struct {
	Unknown bool   `json:"unknown"` // timed out or failed: the operation may or may not have happened
	Missing bool   `json:"missing"` // rollback: no such version
	Version int    `json:"version"`
	Value   string `json:"value"`
}

// model is the sequential specification of one secret: updates append a
// version and activate it, a rollback activates an existing version, a get
// reads the active one.
var model = porcupine.NondeterministicModel{
	Init: func() []any { return []any{register{vals: "initial", n: 1, active: 1}} },
	Step: func(st, in, out any) []any {
		s, i, o := st.(register), in.(input), out.(output)
		applied := s
		switch i.Op {
		case "update":
			applied = register{vals: s.vals + "\x00" + i.Value, n: s.n + 1, active: s.n + 1}
		case "rollback":
			if i.Target <= s.n {
				applied.active = i.Target
			}
		}
		if o.Unknown {
			if applied == s {
				return []any{s}
			}
			return []any{s, applied}
		}
		switch i.Op {
		case "get":
			if o.Version == s.active && o.Value == s.value(s.active) {
				return []any{s}
			}
		case "update":
			if o.Version == applied.n {
				return []any{applied}
			}
		case "rollback":
			if o.Missing == (i.Target > s.n) {
				return []any{applied}
			}
		}
		return nil
	},
	DescribeOperation: func(in, out any) string { return fmt.Sprintf("%+v -> %+v", in, out) },
}

const path = "lin/x"

func key(t testing.TB) *localkms.Keyring {
	k, err := localkms.New("k1", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	return k
}

// record runs one client's operations and returns them as porcupine
// operations. One in five gets a deadline short enough to expire mid-way.
// clock returns nanoseconds on a timeline all clients share.
func record(v *agentvault.AgentVault, client, ops int, rng *rand.Rand, clock func() int64) []porcupine.Operation {
	var hist []porcupine.Operation
	for i := 0; i < ops; i++ {
		ctx := context.Background()
		var cancel context.CancelFunc = func() {}
		if rng.IntN(5) == 0 {
			ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(400))*time.Microsecond)
		}
		var in input
		var out output
		call := clock()
		var err error
		switch n := rng.IntN(10); {
		case n < 4:
			in = input{Op: "get"}
			var s *agentvault.Secret
			if s, err = v.GetSecret(ctx, path); err == nil {
				out.Version, _ = versionNumber(s.Version)
				out.Value = s.Value.Reveal()
			}
		case n < 8:
			in = input{Op: "update", Value: fmt.Sprintf("c%d-%d", client, i)}
			val := agentvault.StringValue(in.Value)
			var m *agentvault.SecretMetadata
			if m, err = v.UpdateSecret(ctx, path, agentvault.UpdateSecretInput{Value: &val}); err == nil {
				out.Version, _ = versionNumber(m.Version)
			}
		default:
			in = input{Op: "rollback", Target: 1 + rng.IntN(6)}
			_, err = v.Rollback(ctx, path, agentvault.FormatVersion(uint32(in.Target)))
			if errors.Is(err, agentvault.ErrNotFound) {
				out.Missing, err = true, nil
			}
		}
		ret := clock()
		cancel()
		if err != nil {
			// The outcome is unknown: the operation may take effect at any
			// time after its call.
			out, ret = output{Unknown: true}, math.MaxInt64
		}
		hist = append(hist, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	}
	return hist
}

func versionNumber(s string) (int, error) {
	n, err := agentvault.ParseVersion(s)
	return int(n), err
}

// resolve settles what it can of the operations whose outcome is unknown,
// from the final state (each update wrote a unique value): an update whose
// value is stored gets its version (its return time stays unknown), one
// whose value is not stored never took effect and is dropped, and so is a
// read that failed. A rollback of unknown outcome stays unknown. Without
// this, every unknown update doubles the states porcupine must track.
func resolve(t *testing.T, v *agentvault.AgentVault, all []porcupine.Operation) []porcupine.Operation {
	vs, err := v.ListVersions(context.Background(), path)
	require.NoError(t, err)
	stored := map[string]int{}
	for _, vi := range vs {
		s, err := v.GetSecret(context.Background(), path, agentvault.AtVersion(vi.Version))
		require.NoError(t, err)
		n, _ := versionNumber(vi.Version)
		prev, dup := stored[s.Value.Reveal()]
		require.False(t, dup, "one update stored twice, as v%d and v%d", prev, n)
		stored[s.Value.Reveal()] = n
	}
	out := all[:0:0]
	for _, o := range all {
		in, res := o.Input.(input), o.Output.(output)
		if res.Unknown {
			switch in.Op {
			case "get":
				continue
			case "update":
				n, ok := stored[in.Value]
				if !ok {
					continue
				}
				o.Output = output{Version: n}
			}
		}
		out = append(out, o)
	}
	return out
}

// checkHistory checks one history (after resolve) and returns how many of
// its operations had an unknown outcome.
func checkHistory(t *testing.T, v *agentvault.AgentVault, all []porcupine.Operation, what string) int {
	ambiguous := 0
	for _, o := range all {
		if o.Output.(output).Unknown {
			ambiguous++
		}
	}
	res := porcupine.CheckOperationsTimeout(model.ToModel(), resolve(t, v, all), time.Minute)
	require.NotEqual(t, porcupine.Illegal, res, "%s is not linearizable", what)
	require.Equal(t, porcupine.Ok, res, "%s: the check timed out", what)
	return ambiguous
}

// histories returns how many histories to check per backend:
// AGENTVAULT_LIN_HISTORIES, default 5.
func histories(t *testing.T) int {
	if s := os.Getenv("AGENTVAULT_LIN_HISTORIES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return 5
}

// checkBackend records histories of concurrent clients (each its own
// AgentVault, as separate processes would have) and checks each.
func checkBackend(t *testing.T, clients, ops int, fresh func(t *testing.T) backend.Backend) {
	seed := uint64(time.Now().UnixNano())
	ambiguous, total := 0, 0
	for h := 0; h < histories(t); h++ {
		b := fresh(t)
		v0, err := agentvault.New(b, key(t))
		require.NoError(t, err)
		_, err = v0.CreateSecret(context.Background(), agentvault.CreateSecretInput{Path: path, Value: agentvault.StringValue("initial")})
		require.NoError(t, err)
		start := time.Now()
		clock := func() int64 { return time.Since(start).Nanoseconds() }
		hists := make([][]porcupine.Operation, clients)
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			v, err := agentvault.New(b, key(t))
			require.NoError(t, err)
			wg.Add(1)
			go func() {
				defer wg.Done()
				hists[c] = record(v, c, ops, rand.New(rand.NewPCG(seed, uint64(h*clients+c))), clock)
			}()
		}
		wg.Wait()
		var all []porcupine.Operation
		for _, hh := range hists {
			all = append(all, hh...)
		}
		total += len(all)
		ambiguous += checkHistory(t, v0, all, fmt.Sprintf("history %d (seed %d)", h, seed))
	}
	t.Logf("linearizability: %d histories, %d operations (%d with unknown outcome), 0 violations", histories(t), total, ambiguous)
}

func TestLinearizableMemory(t *testing.T) {
	checkBackend(t, 6, 25, func(t *testing.T) backend.Backend { return membackend.New() })
}

// TestLinearizableFile uses fewer operations: each write is several fsyncs.
func TestLinearizableFile(t *testing.T) {
	checkBackend(t, 4, 15, func(t *testing.T) backend.Backend {
		b, err := filebackend.Open(t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestLinearizableRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	client := cl.Client(t)
	n := 0
	checkBackend(t, 6, 25, func(t *testing.T) backend.Backend {
		n++
		b, err := redisbackend.New(client, redisbackend.WithPrefix(fmt.Sprintf("lin%d:", n)))
		require.NoError(t, err)
		return b
	})
}

func TestLinearizableRedis(t *testing.T) {
	srv := redistest.StartServer(t)
	checkBackend(t, 6, 25, func(t *testing.T) backend.Backend {
		_, err := srv.Do("FLUSHALL")
		require.NoError(t, err)
		b, err := redisbackend.Open("redis://" + srv.Addr + "/0")
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })
		return b
	})
}

// TestModelRejects: the model refuses a read of a value never written and
// a lost update, so a passing check checked something.
func TestModelRejects(t *testing.T) {
	m := model.ToModel()
	bad := []porcupine.Operation{
		{ClientId: 0, Input: input{Op: "update", Value: "a"}, Output: output{Version: 2}, Call: 0, Return: 10},
		{ClientId: 1, Input: input{Op: "get"}, Output: output{Version: 1, Value: "initial"}, Call: 20, Return: 30},
	}
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(m, bad, time.Minute), "a read after an acknowledged update returned the old version")
	reused := []porcupine.Operation{
		{ClientId: 0, Input: input{Op: "update", Value: "a"}, Output: output{Version: 2}, Call: 0, Return: 10},
		{ClientId: 1, Input: input{Op: "update", Value: "b"}, Output: output{Version: 2}, Call: 0, Return: 10},
	}
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(m, reused, time.Minute), "two updates acknowledged as the same version")
	ok := append(bad[:1:1], porcupine.Operation{ClientId: 1, Input: input{Op: "get"}, Output: output{Version: 2, Value: "a"}, Call: 20, Return: 30})
	require.Equal(t, porcupine.Ok, porcupine.CheckOperationsTimeout(m, ok, time.Minute))
}
