package backendtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
)

// RunAppender runs the conformance subtests of the backend.Appender
// capability against backends made by newBackend (called once per subtest;
// each must implement backend.Appender). Run does not include them: a
// backend that implements Appender calls both.
func RunAppender(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	t.Helper()
	for _, tc := range appenderCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			t.Cleanup(func() { _ = b.Close() })
			a, ok := b.(backend.Appender)
			require.True(t, ok, "%T does not implement backend.Appender", b)
			tc.fn(t, a)
		})
	}
}

type appenderCase struct {
	name string
	fn   func(t *testing.T, a backend.Appender)
}

func recs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func appenderCases() []appenderCase {
	ctx := context.Background()
	return []appenderCase{
		{"AppendMissingLog", func(t *testing.T, a backend.Appender) {
			last, err := a.Last(ctx, "audit.none")
			require.NoError(t, err, "Last of a missing log")
			assert.Nil(t, last)
			all, err := a.ReadLog(ctx, "audit.none")
			require.NoError(t, err, "ReadLog of a missing log")
			assert.Empty(t, all)
		}},
		{"AppendThenRead", func(t *testing.T, a backend.Appender) {
			require.NoError(t, a.Append(ctx, "audit.w1", nil, recs("one", "two")))
			last, err := a.Last(ctx, "audit.w1")
			require.NoError(t, err)
			assert.Equal(t, "two", string(last))
			require.NoError(t, a.Append(ctx, "audit.w1", last, recs(`{"three":3}`)))
			all, err := a.ReadLog(ctx, "audit.w1")
			require.NoError(t, err)
			assert.Equal(t, recs("one", "two", `{"three":3}`), all)
		}},
		{"AppendConflict", func(t *testing.T, a backend.Appender) {
			require.NoError(t, a.Append(ctx, "audit.w1", nil, recs("one")))
			err := a.Append(ctx, "audit.w1", nil, recs("again"))
			assert.ErrorIs(t, err, backend.ErrConflict, "Append(last=nil) to a non-empty log")
			err = a.Append(ctx, "audit.w1", []byte("other"), recs("again"))
			assert.ErrorIs(t, err, backend.ErrConflict, "Append(last=wrong)")
			all, err := a.ReadLog(ctx, "audit.w1")
			require.NoError(t, err)
			assert.Equal(t, recs("one"), all, "nothing written on conflict")
		}},
		{"AppendInvalid", func(t *testing.T, a backend.Appender) {
			for _, name := range []string{"", "a/b", "with space", string(make([]byte, backend.MaxLogNameLen+1))} {
				assert.ErrorIs(t, a.Append(ctx, name, nil, recs("x")), backend.ErrInvalidKey, "Append(%q)", name)
			}
			for _, r := range [][][]byte{recs(""), recs("a\nb"), recs("ok", "two\n")} {
				assert.ErrorIs(t, a.Append(ctx, "audit.w1", nil, r), backend.ErrInvalidRecord, "Append(%q)", r)
			}
			all, err := a.ReadLog(ctx, "audit.w1")
			require.NoError(t, err)
			assert.Empty(t, all, "nothing written for invalid records")
		}},
		{"Logs", func(t *testing.T, a backend.Appender) {
			for _, n := range []string{"audit.b", "audit.A", "other"} {
				require.NoError(t, a.Append(ctx, n, nil, recs("x")))
			}
			names, err := a.Logs(ctx, "audit.")
			require.NoError(t, err)
			assert.Equal(t, []string{"audit.A", "audit.b"}, names)
		}},
		{"AppendConcurrent", func(t *testing.T, a backend.Appender) {
			const writers, each = 4, 20
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						rec := fmt.Appendf(nil, "w%d-%d", w, i)
						for {
							last, err := a.Last(ctx, "audit.shared")
							if err != nil {
								errs <- err
								return
							}
							err = a.Append(ctx, "audit.shared", last, [][]byte{rec})
							if errors.Is(err, backend.ErrConflict) {
								continue
							}
							if err != nil {
								errs <- err
								return
							}
							break
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			all, err := a.ReadLog(ctx, "audit.shared")
			require.NoError(t, err)
			seen := map[string]int{}
			for _, r := range all {
				seen[string(r)]++
			}
			assert.Len(t, all, writers*each, "every record appended once")
			assert.Len(t, seen, writers*each, "no record twice")
		}},
	}
}
