package agentvault_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/filebackend"
)

// TestCrossProcessFileUpdates runs several processes (this test binary,
// re-executed) that update one secret in one file store at the same time:
// every update must become its own version, none lost or duplicated, each
// readable with the value its writer wrote.
func TestCrossProcessFileUpdates(t *testing.T) {
	const procs, each = 4, 50
	dir := t.TempDir()
	fb, err := filebackend.Open(dir)
	require.NoError(t, err)
	v, err := agentvault.New(fb, testKey(t))
	require.NoError(t, err)
	create(t, v, "shared/counter", "initial")

	cmds := make([]*exec.Cmd, procs)
	for p := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessUpdate$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AGENTVAULT_HELPER_DIR="+dir, "AGENTVAULT_HELPER_ID="+strconv.Itoa(p),
			"AGENTVAULT_HELPER_N="+strconv.Itoa(each))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(t, cmd.Start())
		cmds[p] = cmd
	}
	for p, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "helper process %d", p)
	}

	fresh, err := agentvault.New(fb, testKey(t))
	require.NoError(t, err)
	vs, err := fresh.ListVersions(ctx, "shared/counter")
	require.NoError(t, err)
	require.Len(t, vs, procs*each+1, "versions after %d×%d concurrent updates", procs, each)
	seen := map[string]string{}
	for i, vi := range vs {
		require.Equal(t, fmt.Sprintf("v%d", i+1), vi.Version, "version numbers are dense")
		s := get(t, fresh, "shared/counter", agentvault.AtVersion(vi.Version))
		val := s.Value.Reveal()
		prev, dup := seen[val]
		require.False(t, dup, "value %q stored as %s and %s", val, prev, vi.Version)
		seen[val] = vi.Version
	}
	for p := 0; p < procs; p++ {
		for i := 0; i < each; i++ {
			_, ok := seen[fmt.Sprintf("p%d-%d", p, i)]
			assert.True(t, ok, "update p%d-%d lost", p, i)
		}
	}
}

// TestHelperProcessUpdate is the body of TestCrossProcessFileUpdates'
// child processes; it does nothing in a normal test run.
func TestHelperProcessUpdate(t *testing.T) {
	dir := os.Getenv("AGENTVAULT_HELPER_DIR")
	if dir == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv("AGENTVAULT_HELPER_N"))
	id := os.Getenv("AGENTVAULT_HELPER_ID")
	fb, err := filebackend.Open(dir)
	require.NoError(t, err)
	v, err := agentvault.New(fb, testKey(t))
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		update(t, v, "shared/counter", fmt.Sprintf("p%s-%d", id, i))
	}
}
