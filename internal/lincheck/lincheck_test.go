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
	op     string // "get", "update", "rollback"
	value  string // update
	target int    // rollback
}

type output struct {
	unknown bool // timed out or failed: the operation may or may not have happened
	missing bool // rollback: no such version
	version int
	value   string
}

// model is the sequential specification of one secret: updates append a
// version and activate it, a rollback activates an existing version, a get
// reads the active one.
var model = porcupine.NondeterministicModel{
	Init: func() []any { return []any{register{vals: "initial", n: 1, active: 1}} },
	Step: func(st, in, out any) []any {
		s, i, o := st.(register), in.(input), out.(output)
		applied := s
		switch i.op {
		case "update":
			applied = register{vals: s.vals + "\x00" + i.value, n: s.n + 1, active: s.n + 1}
		case "rollback":
			if i.target <= s.n {
				applied.active = i.target
			}
		}
		if o.unknown {
			if applied == s {
				return []any{s}
			}
			return []any{s, applied}
		}
		switch i.op {
		case "get":
			if o.version == s.active && o.value == s.value(s.active) {
				return []any{s}
			}
		case "update":
			if o.version == applied.n {
				return []any{applied}
			}
		case "rollback":
			if o.missing == (i.target > s.n) {
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
func record(v *agentvault.AgentVault, client, ops int, rng *rand.Rand, start time.Time) []porcupine.Operation {
	var hist []porcupine.Operation
	for i := 0; i < ops; i++ {
		ctx := context.Background()
		var cancel context.CancelFunc = func() {}
		if rng.IntN(5) == 0 {
			ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(400))*time.Microsecond)
		}
		var in input
		var out output
		call := time.Since(start).Nanoseconds()
		var err error
		switch n := rng.IntN(10); {
		case n < 4:
			in = input{op: "get"}
			var s *agentvault.Secret
			if s, err = v.GetSecret(ctx, path); err == nil {
				out.version, _ = versionNumber(s.Version)
				out.value = s.Value.Reveal()
			}
		case n < 8:
			in = input{op: "update", value: fmt.Sprintf("c%d-%d", client, i)}
			val := agentvault.StringValue(in.value)
			var m *agentvault.SecretMetadata
			if m, err = v.UpdateSecret(ctx, path, agentvault.UpdateSecretInput{Value: &val}); err == nil {
				out.version, _ = versionNumber(m.Version)
			}
		default:
			in = input{op: "rollback", target: 1 + rng.IntN(6)}
			_, err = v.Rollback(ctx, path, agentvault.FormatVersion(uint32(in.target)))
			if errors.Is(err, agentvault.ErrNotFound) {
				out.missing, err = true, nil
			}
		}
		ret := time.Since(start).Nanoseconds()
		cancel()
		if err != nil {
			// The outcome is unknown: the operation may take effect at any
			// time after its call.
			out, ret = output{unknown: true}, math.MaxInt64
		}
		hist = append(hist, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	}
	return hist
}

func versionNumber(s string) (int, error) {
	n, err := agentvault.ParseVersion(s)
	return int(n), err
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
		hists := make([][]porcupine.Operation, clients)
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			v, err := agentvault.New(b, key(t))
			require.NoError(t, err)
			wg.Add(1)
			go func() {
				defer wg.Done()
				hists[c] = record(v, c, ops, rand.New(rand.NewPCG(seed, uint64(h*clients+c))), start)
			}()
		}
		wg.Wait()
		var all []porcupine.Operation
		for _, hh := range hists {
			all = append(all, hh...)
		}
		for _, o := range all {
			if o.Output.(output).unknown {
				ambiguous++
			}
		}
		total += len(all)
		res := porcupine.CheckOperationsTimeout(model.ToModel(), all, time.Minute)
		require.NotEqual(t, porcupine.Illegal, res, "history %d (seed %d) is not linearizable", h, seed)
		require.Equal(t, porcupine.Ok, res, "history %d (seed %d): the check timed out", h, seed)
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
		{ClientId: 0, Input: input{op: "update", value: "a"}, Output: output{version: 2}, Call: 0, Return: 10},
		{ClientId: 1, Input: input{op: "get"}, Output: output{version: 1, value: "initial"}, Call: 20, Return: 30},
	}
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(m, bad, time.Minute), "a read after an acknowledged update returned the old version")
	reused := []porcupine.Operation{
		{ClientId: 0, Input: input{op: "update", value: "a"}, Output: output{version: 2}, Call: 0, Return: 10},
		{ClientId: 1, Input: input{op: "update", value: "b"}, Output: output{version: 2}, Call: 0, Return: 10},
	}
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(m, reused, time.Minute), "two updates acknowledged as the same version")
	ok := append(bad[:1:1], porcupine.Operation{ClientId: 1, Input: input{op: "get"}, Output: output{version: 2, value: "a"}, Call: 20, Return: 30})
	require.Equal(t, porcupine.Ok, porcupine.CheckOperationsTimeout(m, ok, time.Minute))
}
