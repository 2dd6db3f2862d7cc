package agentvault_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// TestTokenMaxUsesAcrossProcesses: a token with MaxUses 5 used by 4
// processes × 16 goroutines at once through one file store, and through one
// Redis, is accepted exactly 5 times in all.
func TestTokenMaxUsesAcrossProcesses(t *testing.T) {
	for _, kind := range []string{"file", "redis"} {
		t.Run(kind, func(t *testing.T) {
			var where string
			var b backend.Backend
			switch kind {
			case "file":
				where = t.TempDir()
				fb, err := filebackend.Open(where)
				require.NoError(t, err)
				b = fb
			case "redis":
				where = "redis://" + redistest.StartServer(t).Addr + "/0"
				rb, err := redisbackend.Open(where)
				require.NoError(t, err)
				b = rb
			}
			t.Cleanup(func() { b.Close() })
			v, err := agentvault.New(b, testKey(t))
			require.NoError(t, err)
			createTier(t, v, "app/key", "x", agentvault.TierStandard)
			tok := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, MaxUses: 5})

			const procs = 4
			outs := make([]*bytes.Buffer, procs)
			cmds := make([]*exec.Cmd, procs)
			for p := range cmds {
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessTokenUse$", "-test.count=1", "-test.v")
				cmd.Env = append(os.Environ(), "AGENTVAULT_TOKEN_BACKEND="+kind+"="+where, "AGENTVAULT_TOKEN_RAW="+tok.Value.Reveal())
				outs[p] = &bytes.Buffer{}
				cmd.Stdout, cmd.Stderr = outs[p], os.Stderr
				require.NoError(t, cmd.Start())
				cmds[p] = cmd
			}
			total := 0
			for p, cmd := range cmds {
				require.NoError(t, cmd.Wait(), "helper process %d: %s", p, outs[p])
				n := -1
				sc := bufio.NewScanner(outs[p])
				for sc.Scan() {
					if rest, ok := strings.CutPrefix(sc.Text(), "AGENTVAULT_OK="); ok {
						n, err = strconv.Atoi(rest)
						require.NoError(t, err)
					}
				}
				require.GreaterOrEqual(t, n, 0, "helper process %d printed no count", p)
				total += n
			}
			assert.Equal(t, 5, total, "successful uses across %d processes", procs)
			infos, err := v.ListTokens(ctx)
			require.NoError(t, err)
			assert.Equal(t, 5, infos[len(infos)-1].Uses)
		})
	}
}

// TestHelperProcessTokenUse is the child of TestTokenMaxUsesAcrossProcesses.
func TestHelperProcessTokenUse(t *testing.T) {
	spec := os.Getenv("AGENTVAULT_TOKEN_BACKEND")
	if spec == "" {
		return
	}
	kind, where, _ := strings.Cut(spec, "=")
	var b backend.Backend
	var err error
	if kind == "file" {
		b, err = filebackend.Open(where)
	} else {
		b, err = redisbackend.Open(where)
	}
	require.NoError(t, err)
	v, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	raw := os.Getenv("AGENTVAULT_TOKEN_RAW")
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Session(raw).GetSecret(ctx, "app/key")
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, agentvault.ErrTokenExhausted):
			default:
				t.Errorf("GetSecret: %v", err)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("AGENTVAULT_OK=%d\n", ok.Load())
}
