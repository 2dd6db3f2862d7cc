package lincheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
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
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// Histories from several processes: each child (this test binary,
// re-executed as TestHelperLinClient) runs goroutines that each use their
// own AgentVault, and prints its operations, timed on the wall clock that
// all processes on the machine share.

const histPrefix = "LINHIST "

// recorded is one operation as a child reports it.
type recorded struct {
	Client int    `json:"client"`
	In     input  `json:"in"`
	Out    output `json:"out"`
	Call   int64  `json:"call"`
	Return int64  `json:"return"`
}

func openSpec(spec string) (backend.Backend, error) {
	kind, where, _ := strings.Cut(spec, "=")
	if kind == "file" {
		return filebackend.Open(where)
	}
	return redisbackend.Open(where)
}

// TestHelperLinClient is the child of the multi-process histories; it
// does nothing in a normal test run.
func TestHelperLinClient(t *testing.T) {
	spec := os.Getenv("LINCHECK_SPEC")
	if spec == "" {
		return
	}
	base, _ := strconv.Atoi(os.Getenv("LINCHECK_CLIENT"))
	ops, _ := strconv.Atoi(os.Getenv("LINCHECK_OPS"))
	seed, _ := strconv.ParseUint(os.Getenv("LINCHECK_SEED"), 10, 64)
	b, err := openSpec(spec)
	require.NoError(t, err)
	defer b.Close()
	const goroutines = 2
	out := make([][]porcupine.Operation, goroutines)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		v, err := agentvault.New(b, key(t))
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[g] = record(v, base+g, ops, rand.New(rand.NewPCG(seed, uint64(base+g))), func() int64 { return time.Now().UnixNano() })
		}()
	}
	wg.Wait()
	for _, h := range out {
		for _, o := range h {
			line, _ := json.Marshal(recorded{Client: o.ClientId, In: o.Input.(input), Out: o.Output.(output), Call: o.Call, Return: o.Return})
			fmt.Printf("%s%s\n", histPrefix, line)
		}
	}
}

// checkProcesses records histories of 3 processes × 2 goroutines and
// checks each.
func checkProcesses(t *testing.T, ops int, fresh func(t *testing.T) string) {
	const procs = 3
	seed := uint64(time.Now().UnixNano())
	n := histories(t)
	total, ambiguous := 0, 0
	for h := 0; h < n; h++ {
		spec := fresh(t)
		b, err := openSpec(spec)
		require.NoError(t, err)
		v, err := agentvault.New(b, key(t))
		require.NoError(t, err)
		_, err = v.CreateSecret(context.Background(), agentvault.CreateSecretInput{Path: path, Value: agentvault.StringValue("initial")})
		require.NoError(t, err)
		outs := make([]*bytes.Buffer, procs)
		cmds := make([]*exec.Cmd, procs)
		for p := range cmds {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLinClient$", "-test.count=1")
			cmd.Env = append(os.Environ(), "LINCHECK_SPEC="+spec, "LINCHECK_CLIENT="+strconv.Itoa(10*p),
				"LINCHECK_OPS="+strconv.Itoa(ops), "LINCHECK_SEED="+strconv.FormatUint(seed+uint64(h), 10))
			outs[p] = &bytes.Buffer{}
			cmd.Stdout, cmd.Stderr = outs[p], os.Stderr
			require.NoError(t, cmd.Start())
			cmds[p] = cmd
		}
		var all []porcupine.Operation
		for p, cmd := range cmds {
			require.NoError(t, cmd.Wait(), "client process %d", p)
			sc := bufio.NewScanner(outs[p])
			for sc.Scan() {
				rest, ok := strings.CutPrefix(sc.Text(), histPrefix)
				if !ok {
					continue
				}
				var r recorded
				require.NoError(t, json.Unmarshal([]byte(rest), &r))
				all = append(all, porcupine.Operation{ClientId: r.Client, Input: r.In, Output: r.Out, Call: r.Call, Return: r.Return})
			}
		}
		require.Len(t, all, procs*2*ops, "operations reported by the client processes")
		total += len(all)
		ambiguous += checkHistory(t, v, all, fmt.Sprintf("history %d (seed %d)", h, seed))
		require.NoError(t, b.Close())
	}
	t.Logf("linearizability, %d processes × 2 goroutines: %d histories, %d operations (%d with unknown outcome), 0 violations", procs, n, total, ambiguous)
}

func TestLinearizableProcessesFile(t *testing.T) {
	checkProcesses(t, 10, func(t *testing.T) string { return "file=" + t.TempDir() })
}

func TestLinearizableProcessesRedis(t *testing.T) {
	srv := redistest.StartServer(t)
	checkProcesses(t, 20, func(t *testing.T) string {
		_, err := srv.Do("FLUSHALL")
		require.NoError(t, err)
		return "redis=redis://" + srv.Addr + "/0"
	})
}
