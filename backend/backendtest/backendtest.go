// Package backendtest is the conformance suite every backend.Backend runs.
//
// An implementation's test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backend.Backend {
//			b, err := mybackend.Open(t.TempDir())
//			require.NoError(t, err)
//			return b
//		})
//	}
//
// Run calls newBackend once per subtest, so every behaviour is checked on a
// fresh, empty store and a failure names the behaviour that broke. Run closes
// each backend when its subtest ends; newBackend must not register its own
// Close (a second Close returns ErrClosed), though it may register cleanup of
// the resources behind the backend (directories, servers).
//
// The helpers Increment, Append, ReadCounter and ReadList perform one
// conditional read-modify-write with retries. Tests that share one store
// between several processes use them, so that each process's work can be
// checked for lost or duplicated updates.
package backendtest

import (
	"testing"

	"github.com/agentvault/agentvault/backend"
)

// Run runs every conformance subtest against backends made by newBackend,
// which is called once per subtest and must return an empty, open Backend.
// Subtests for optional capabilities (backend.Batcher) are skipped when the
// backend does not implement them.
//
// Run does not call t.Parallel; it is safe to call from a parallel test.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	t.Helper()
	fresh := func(t *testing.T) backend.Backend {
		t.Helper()
		b := newBackend(t)
		if b == nil {
			t.Fatal("newBackend returned nil")
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh(t)) })
	}
}

type testCase struct {
	name string
	fn   func(t *testing.T, b backend.Backend)
}

// cases lists every subtest, in the order Run runs them.
func cases() []testCase {
	var all []testCase
	all = append(all, crudCases()...)
	all = append(all, listCases()...)
	all = append(all, keyCases()...)
	all = append(all, lifecycleCases()...)
	all = append(all, concurrencyCases()...)
	all = append(all, batchCases()...)
	all = append(all, sharedCases()...)
	all = append(all, batchWriteCases()...)
	return all
}
