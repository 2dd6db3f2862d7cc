package filebackend

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
)

// Environment of a helper process started by runHelpers.
const (
	helperModeEnv = "FILEBACKEND_TEST_HELPER" // "increment" or "append"
	helperDirEnv  = "FILEBACKEND_TEST_DIR"
	helperIDEnv   = "FILEBACKEND_TEST_ID"
	helperNEnv    = "FILEBACKEND_TEST_N"
	helperResult  = "helper-result: "
)

// TestHelperProcess is not a test: runHelpers runs the test binary with
// -test.run=^TestHelperProcess$ to get a process that opens the store and
// updates one key N times.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		t.Skip("helper process for the cross-process tests")
	}
	id, err := strconv.Atoi(os.Getenv(helperIDEnv))
	require.NoError(t, err, helperIDEnv)
	n, err := strconv.Atoi(os.Getenv(helperNEnv))
	require.NoError(t, err, helperNEnv)
	b, err := Open(os.Getenv(helperDirEnv))
	require.NoError(t, err, "Open")
	defer func() { require.NoError(t, b.Close(), "Close") }()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for j := range n {
		switch mode {
		case "increment":
			v, err := backendtest.Increment(ctx, b, "counter")
			require.NoError(t, err, "Increment %d", j)
			fmt.Fprintf(out, "%s%d\n", helperResult, v)
		case "append":
			require.NoError(t, backendtest.Append(ctx, b, "list", fmt.Sprintf("g%d-%d", id, j)), "Append %d", j)
		default:
			t.Fatalf("unknown helper mode %q", mode)
		}
	}
}

// runHelpers runs procs helper processes at once on the store in dir and
// returns the results they printed.
func runHelpers(t *testing.T, mode, dir string, procs, n int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	outs := make([]bytes.Buffer, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(),
			helperModeEnv+"="+mode,
			helperDirEnv+"="+dir,
			helperIDEnv+"="+strconv.Itoa(i),
			helperNEnv+"="+strconv.Itoa(n),
		)
		cmd.Stdout = &outs[i]
		cmd.Stderr = &outs[i]
		require.NoError(t, cmd.Start(), "start helper %d", i)
		wg.Go(func() { errs[i] = cmd.Wait() })
	}
	wg.Wait()
	var results []int64
	for i := range procs {
		require.NoError(t, errs[i], "helper %d failed:\n%s", i, outs[i].String())
		for line := range strings.Lines(outs[i].String()) {
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), helperResult); ok {
				v, err := strconv.ParseInt(s, 10, 64)
				require.NoError(t, err, "helper %d printed %q", i, line)
				results = append(results, v)
			}
		}
	}
	return results
}

// TestCrossProcessIncrements runs 4 processes doing conditional increments
// of one counter: no increment may be lost, and each must see a different
// value.
func TestCrossProcessIncrements(t *testing.T) {
	procs, n := 4, 250
	if testing.Short() {
		n = 25
	}
	dir := t.TempDir()
	results := runHelpers(t, "increment", dir, procs, n)

	b := open(t, dir)
	closeOnCleanup(t, b)
	total := int64(procs * n)
	got, err := backendtest.ReadCounter(t.Context(), b, "counter")
	require.NoError(t, err, "ReadCounter")
	assert.Equal(t, total, got, "counter after %d processes x %d increments", procs, n)
	slices.Sort(results)
	want := make([]int64, total)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, results, "values seen by the increments of all processes")
}

// TestCrossProcessAppend runs 4 processes each appending its own items to
// one list: every item must be there once, in each process's order.
func TestCrossProcessAppend(t *testing.T) {
	procs, n := 4, 50
	if testing.Short() {
		n = 10
	}
	dir := t.TempDir()
	runHelpers(t, "append", dir, procs, n)

	b := open(t, dir)
	closeOnCleanup(t, b)
	items, err := backendtest.ReadList(t.Context(), b, "list")
	require.NoError(t, err, "ReadList")
	backendtest.CheckList(t, items, procs, n)
}

// TestTwoBackendsOneDirectory runs the increment race between two Backends
// of one process sharing a directory: only the flock keeps them apart.
func TestTwoBackendsOneDirectory(t *testing.T) {
	dir := t.TempDir()
	bs := []*Backend{open(t, dir), open(t, dir)}
	for _, b := range bs {
		closeOnCleanup(t, b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const perGoroutine = 25
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			for range perGoroutine {
				if _, err := backendtest.Increment(ctx, bs[i%2], "n"); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "goroutine %d", i)
	}
	n, err := backendtest.ReadCounter(ctx, bs[0], "n")
	require.NoError(t, err)
	assert.Equal(t, int64(len(errs)*perGoroutine), n, "counter")
}

// TestLockRespectsContext checks that a writer waiting for the lock held
// by another process (here, another open file description) gives up when
// its context ends, having written nothing.
func TestLockRespectsContext(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	closeOnCleanup(t, b)
	other, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR, 0)
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, unix.Flock(int(other.Fd()), unix.LOCK_EX))

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = b.Put(ctx, "k", []byte("v"), 0)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Put with the lock held elsewhere err = %v, want DeadlineExceeded", err)
	err = b.Delete(ctx, "k", 0)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Delete with the lock held elsewhere err = %v, want DeadlineExceeded", err)

	// Reads take no lock.
	_, _, err = b.Get(t.Context(), "k")
	assert.ErrorIs(t, err, backend.ErrNotFound, "Get with the lock held elsewhere")

	require.NoError(t, unix.Flock(int(other.Fd()), unix.LOCK_UN))
	_, err = b.Put(t.Context(), "k", []byte("v"), 0)
	assert.NoError(t, err, "Put after the lock is released")
}
