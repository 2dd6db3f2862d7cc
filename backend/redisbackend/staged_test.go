package redisbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// TestStagedPutsConcurrent: staged records (values above inlineMax) are
// built in reused buffers; concurrent Puts and PutMany of distinct large
// values each store their own value, never another's.
func TestStagedPutsConcurrent(t *testing.T) {
	t.Parallel()
	b, err := New(redistest.StartServer(t).Client(t))
	require.NoError(t, err)
	ctx := context.Background()
	value := func(g, i int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("<%d.%d>", g, i)), inlineMax/4+200*g) // more than inlineMax bytes: staged
	}
	const goroutines, puts = 6, 15
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			key := fmt.Sprintf("s/g%d", g)
			var rev int64
			for i := range puts {
				var err error
				if g%2 == 0 {
					rev, err = b.Put(ctx, key, value(g, i), rev)
				} else {
					var res []backend.WriteResult
					res, err = b.PutMany(ctx, []backend.Write{{Key: key, Value: value(g, i), ExpectedRev: rev},
						{Key: fmt.Sprintf("%s/%d", key, i), Value: value(g, 100+i)}})
					if err == nil {
						err = errors.Join(res[0].Err, res[1].Err)
						rev = res[0].Rev
					}
				}
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	for g := range goroutines {
		got, _, err := b.Get(ctx, fmt.Sprintf("s/g%d", g))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(value(g, puts-1), got), "value of s/g%d", g)
		if g%2 == 1 {
			for i := range puts {
				got, _, err := b.Get(ctx, fmt.Sprintf("s/g%d/%d", g, i))
				require.NoError(t, err)
				assert.True(t, bytes.Equal(value(g, 100+i), got), "value of s/g%d/%d", g, i)
			}
		}
	}
}

// TestReleaseStagedClears: a staged record's buffer holds no value once
// released to the pool.
func TestReleaseStagedClears(t *testing.T) {
	p := newStaged("0123456789abcdef", bytes.Repeat([]byte{'s'}, 10000))
	assert.Equal(t, stagedRecord("0123456789abcdef", bytes.Repeat([]byte{'s'}, 10000)), *p)
	buf := (*p)[:cap(*p)]
	releaseStaged(p)
	assert.Empty(t, *p)
	assert.Equal(t, -1, bytes.IndexFunc(buf, func(r rune) bool { return r != 0 }), "bytes left in a released buffer")
}
