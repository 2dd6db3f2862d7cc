package agentvault_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/internal/redistest"
)

// redisVault opens an audited vault (writer id w1) on a fresh Redis whose
// client counts round trips.
func redisVault(t *testing.T, opts ...agentvault.Option) (*agentvault.AgentVault, *redisbackend.Backend, *tripCounter, *redistest.Server) {
	t.Helper()
	srv := redistest.StartServer(t)
	client := srv.Client(t)
	trips := &tripCounter{}
	client.AddHook(trips)
	rb, err := redisbackend.New(client)
	require.NoError(t, err)
	v, err := agentvault.New(rb, testKey(t), append([]agentvault.Option{agentvault.WithAuditWriterID("w1")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	return v, rb, trips, srv
}

// readEvents returns the secret.read events of path, oldest first.
func readEvents(t *testing.T, v *agentvault.AgentVault, path string) []agentvault.AuditEvent {
	t.Helper()
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretRead, PathPrefix: path})
	require.NoError(t, err)
	return evs
}

func verifyAudit(t *testing.T, v *agentvault.AgentVault) *agentvault.AuditReport {
	t.Helper()
	rep, err := v.VerifyAudit(ctx)
	require.NoError(t, err, "VerifyAudit")
	return rep
}

// TestAuditedGetOneRoundTrip: on Redis, an audited read of a record cached
// with its revision reads it and appends its event in one round trip; the
// events say what was read, the io.Writer sink gets every line, and the
// chain verifies.
func TestAuditedGetOneRoundTrip(t *testing.T) {
	var sink bytes.Buffer
	v, _, trips, _ := redisVault(t, agentvault.WithAuditWriter(&sink))
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/key", Value: agentvault.StringValue("v-one"),
		Type: agentvault.TypeAPIKey, Tier: agentvault.TierSensitive})
	require.NoError(t, err)
	get(t, v, "app/key") // loads the script
	update(t, v, "app/key", "v-two")

	const n = 10
	trips.trips.Store(0)
	for range n {
		s := get(t, v, "app/key")
		assert.Equal(t, "v-two", string(s.Value.Reveal()))
	}
	assert.EqualValues(t, n, trips.trips.Load(), "round trips for %d audited reads", n)
	old := get(t, v, "app/key", agentvault.AtVersion("v1"))
	assert.Equal(t, "v-one", string(old.Value.Reveal()))

	evs := readEvents(t, v, "app/key")
	require.Len(t, evs, n+2)
	for _, e := range evs[1:] {
		want := "v2"
		if e.Seq == evs[len(evs)-1].Seq {
			want = "v1"
		}
		assert.Equal(t, want, e.Version)
		assert.Equal(t, agentvault.TypeAPIKey, e.Type)
		assert.Equal(t, agentvault.TierSensitive, e.Tier)
		assert.Equal(t, agentvault.OutcomeAllowed, e.Outcome)
	}
	rep := verifyAudit(t, v)
	assert.Equal(t, n+4, rep.Events)
	lines := strings.Split(strings.TrimSpace(sink.String()), "\n")
	assert.Len(t, lines, n+4, "the io.Writer sink gets every event")
	assert.NotContains(t, sink.String(), "v-two")
}

// TestAuditedGetOneRoundTripBySize: a small record is read by the one-trip
// script itself, a large one by plain GETs in a MULTI with the script (a
// large value through Lua costs more than a GET); either way each audited
// read is one round trip, returns its value and writes its event.
func TestAuditedGetOneRoundTripBySize(t *testing.T) {
	v, _, trips, srv := redisVault(t)
	multis := func() int {
		t.Helper()
		info, err := srv.Do("INFO", "commandstats")
		require.NoError(t, err)
		s, _ := info.(string)
		_, rest, ok := strings.Cut(s, "cmdstat_multi:calls=")
		if !ok {
			return 0
		}
		n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		require.NoError(t, err)
		return n
	}
	small, large := "small-value", strings.Repeat("L", 16<<10)
	for _, c := range []struct {
		path, value string
		multi       bool
	}{{"app/small", small, false}, {"app/large", large, true}} {
		_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: c.path, Value: agentvault.StringValue(c.value)})
		require.NoError(t, err)
		get(t, v, c.path) // caches the record, loads the script
		before := multis()
		const n = 5
		trips.trips.Store(0)
		for range n {
			assert.Equal(t, c.value, string(get(t, v, c.path).Value.Reveal()))
		}
		assert.EqualValues(t, n, trips.trips.Load(), "round trips for %d audited reads of %s", n, c.path)
		if c.multi {
			assert.Equal(t, before+n, multis(), "MULTIs for %d reads of %s", n, c.path)
		} else {
			assert.Equal(t, before, multis(), "MULTIs for %d reads of %s", n, c.path)
		}
		assert.Len(t, readEvents(t, v, c.path), n+1)
	}
	verifyAudit(t, v)
}

// TestAuditedGetConcurrentUpdate: a secret updated elsewhere after this
// vault cached it: the predicted event is not appended, the read returns
// the new value, and its one event names the version returned.
func TestAuditedGetConcurrentUpdate(t *testing.T) {
	v, rb, trips, _ := redisVault(t)
	create(t, v, "app/key", "first")
	get(t, v, "app/key")
	other, err := agentvault.New(rb, testKey(t))
	require.NoError(t, err)
	defer other.Close()
	update(t, other, "app/key", "second")

	trips.trips.Store(0)
	s := get(t, v, "app/key")
	assert.Equal(t, "second", string(s.Value.Reveal()))
	assert.Equal(t, "v2", s.Version)
	assert.EqualValues(t, 2, trips.trips.Load(), "the script (not appended) and the real event's append")
	mine := readEvents(t, v, "app/key")
	require.Len(t, mine, 2, "one event per read")
	assert.Equal(t, "v1", mine[0].Version)
	assert.Equal(t, "v2", mine[1].Version, "the event names the version returned")

	// The cache learned the new revision: the next read is one trip again.
	trips.trips.Store(0)
	get(t, v, "app/key")
	assert.EqualValues(t, 1, trips.trips.Load())
	verifyAudit(t, v)
}

// TestAuditedGetDeletedElsewhere: a secret deleted elsewhere after this
// vault cached it: not found, one failed event.
func TestAuditedGetDeletedElsewhere(t *testing.T) {
	v, rb, _, _ := redisVault(t)
	create(t, v, "app/key", "first")
	get(t, v, "app/key")
	other, err := agentvault.New(rb, testKey(t))
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.DeleteSecret(ctx, "app/key"))
	_, err = v.GetSecret(ctx, "app/key")
	require.ErrorIs(t, err, agentvault.ErrNotFound)
	evs := readEvents(t, v, "app/key")
	require.Len(t, evs, 2)
	assert.Equal(t, agentvault.OutcomeFailed, evs[1].Outcome)
	assert.Equal(t, "not_found", evs[1].Reason)
	verifyAudit(t, v)
}

// TestAuditedGetTamperedAfterAppend: the record is changed under its
// revision (tampering with the stored bytes): the predicted event is
// appended, the read then fails to authenticate, and that failure is
// written as its own event; no value is returned.
func TestAuditedGetTamperedAfterAppend(t *testing.T) {
	v, _, _, srv := redisVault(t)
	create(t, v, "app/key", "the-value")
	get(t, v, "app/key")
	h := fnv.New64a() // the key's index shard (redisbackend's layout), of 16
	h.Write([]byte("s/app/key"))
	dk := fmt.Sprintf("{agentvault:%02d}:k:s/app/key", h.Sum64()%16)
	stored, err := srv.Do("GET", dk)
	require.NoError(t, err)
	rec := []byte(stored.(string))
	rec[len(rec)-40] ^= 1 // inside the record's MAC-covered bytes; the header (revision) unchanged
	_, err = srv.Do("SET", dk, string(rec))
	require.NoError(t, err)

	s, err := v.GetSecret(ctx, "app/key")
	require.ErrorIs(t, err, agentvault.ErrIntegrity)
	assert.Nil(t, s)
	assert.NotContains(t, err.Error(), "the-value")
	evs := readEvents(t, v, "app/key")
	require.Len(t, evs, 3)
	assert.Equal(t, agentvault.OutcomeAllowed, evs[1].Outcome, "the predicted event, appended with the read")
	assert.Equal(t, agentvault.OutcomeFailed, evs[2].Outcome, "the read's failure, its own event")
	assert.Equal(t, evs[1].Seq+1, evs[2].Seq)
	verifyAudit(t, v)
}

// TestAuditedGetFailClosedWhenAppendFails: when the log cannot be written
// the one-trip read fails, the read falls back to the normal path, and
// fail-closed still withholds the value (fail-open returns it); once the
// log works again the chain continues and verifies.
func TestAuditedGetFailClosedWhenAppendFails(t *testing.T) {
	for _, closed := range []bool{false, true} {
		t.Run(fmt.Sprintf("closed=%t", closed), func(t *testing.T) {
			v, _, _, srv := redisVault(t, agentvault.WithAuditFailClosed(closed))
			create(t, v, "app/key", "the-value")
			get(t, v, "app/key")
			logKey := "{agentvault:log:audit.w1}:log"
			_, err := srv.Do("RENAME", logKey, "saved")
			require.NoError(t, err)
			_, err = srv.Do("SET", logKey, "not a list") // every log command fails: WRONGTYPE
			require.NoError(t, err)

			s, err := v.GetSecret(ctx, "app/key")
			if closed {
				require.ErrorIs(t, err, agentvault.ErrAuditFailed)
				assert.Nil(t, s)
			} else {
				require.NoError(t, err)
				assert.Equal(t, "the-value", string(s.Value.Reveal()))
			}

			_, err = srv.Do("DEL", logKey)
			require.NoError(t, err)
			_, err = srv.Do("RENAME", "saved", logKey)
			require.NoError(t, err)
			get(t, v, "app/key")
			get(t, v, "app/key")
			rep := verifyAudit(t, v)
			assert.Equal(t, 4, rep.Events, "create, the first read, two reads after the log came back")
		})
	}
}

// TestAuditedGetConcurrentReadsShareTrips: audited reads from 8 goroutines
// ride on their batches' GetAppend: fewer round trips than reads (each
// read used to cost its own GET plus a share of an append), and every
// read's event is in the chain.
func TestAuditedGetConcurrentReadsShareTrips(t *testing.T) {
	v, _, trips, _ := redisVault(t)
	for i := range 4 {
		create(t, v, fmt.Sprintf("app/k%d", i), "x")
		get(t, v, fmt.Sprintf("app/k%d", i))
	}
	const goroutines, each = 8, 25
	trips.trips.Store(0)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				_, err := v.GetSecret(ctx, fmt.Sprintf("app/k%d", (g+i)%4))
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	n := trips.trips.Load()
	t.Logf("%d round trips for %d reads", n, goroutines*each)
	assert.LessOrEqual(t, n, int64(goroutines*each), "round trips")
	rep := verifyAudit(t, v)
	assert.Equal(t, 4+4+goroutines*each, rep.Events)
	assert.Len(t, readEvents(t, v, "app/"), 4+goroutines*each)
}

// TestAuditedGetDurableBeforeValueRedis kills a child process the moment it
// has printed a secret's value, read the one-trip way: the read's event is
// already in Redis.
func TestAuditedGetDurableBeforeValueRedis(t *testing.T) {
	srv := redistest.StartServer(t)
	url := "redis://" + srv.Addr + "/0"
	rb, err := redisbackend.Open(url)
	require.NoError(t, err)
	t.Cleanup(func() { rb.Close() })
	v, err := agentvault.New(rb, testKey(t))
	require.NoError(t, err)
	create(t, v, "app/key", "the-value")
	get(t, v, "app/key")
	get(t, v, "app/key") // loads the script into the server, as for a long-running one
	require.NoError(t, v.Close())

	for i := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessOneTripRead$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AGENTVAULT_REDIS_URL="+url)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		r := bufio.NewReader(out)
		var lines []string
		for range 3 {
			line, err := r.ReadString('\n')
			require.NoError(t, err)
			lines = append(lines, line)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		// The first read (nothing cached) is a GET, then the new log's SADD
		// and append; the second may also dial a connection for its MULTI.
		require.Equal(t, "value the-value trips 1\n", lines[2], "the third read: one MULTI")

		v, err := agentvault.New(rb, testKey(t))
		require.NoError(t, err)
		evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretRead})
		require.NoError(t, err)
		assert.Len(t, evs, 2+3*(i+1), "read events after %d killed readers", i+1)
		verifyAudit(t, v)
		require.NoError(t, v.Close())
	}
}

// TestHelperProcessOneTripRead is the child of
// TestAuditedGetDurableBeforeValueRedis; it does nothing in a normal test
// run.
func TestHelperProcessOneTripRead(t *testing.T) {
	url := os.Getenv("AGENTVAULT_REDIS_URL")
	if url == "" || os.Getenv("AGENTVAULT_HELPER_ID") != "" {
		return
	}
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	client := redis.NewClient(opts)
	trips := &tripCounter{}
	client.AddHook(trips)
	rb, err := redisbackend.New(client)
	require.NoError(t, err)
	v, err := agentvault.New(rb, testKey(t))
	require.NoError(t, err)
	require.NoError(t, client.Ping(ctx).Err()) // a connection, as a long-running process has
	for range 3 {
		trips.trips.Store(0)
		s, err := v.GetSecret(context.Background(), "app/key")
		require.NoError(t, err)
		fmt.Printf("value %s trips %d\n", s.Value.Reveal(), trips.trips.Load())
	}
	select {} // killed by the parent
}

// brokenWriter fails every write.
type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("sink broken") }

// TestAuditedGetWriterSinkFailClosed: the event is in the store but the
// io.Writer sink fails: fail-closed withholds the value, as on the normal
// path; fail-open returns it.
func TestAuditedGetWriterSinkFailClosed(t *testing.T) {
	for _, closed := range []bool{false, true} {
		t.Run(fmt.Sprintf("closed=%t", closed), func(t *testing.T) {
			v, _, trips, _ := redisVault(t, agentvault.WithAuditWriter(brokenWriter{}), agentvault.WithAuditFailClosed(closed))
			_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/key", Value: agentvault.StringValue("the-value")})
			require.NoError(t, err, "only reads withhold anything on a failed event")
			_, _ = v.GetSecret(ctx, "app/key") // loads the script
			trips.trips.Store(0)
			s, err := v.GetSecret(ctx, "app/key")
			assert.EqualValues(t, 1, trips.trips.Load(), "the one-trip read")
			if closed {
				require.ErrorIs(t, err, agentvault.ErrAuditFailed)
				assert.Nil(t, s)
			} else {
				require.NoError(t, err)
				assert.Equal(t, "the-value", string(s.Value.Reveal()))
			}
		})
	}
}

// TestAuditedGetLostWrite: the record this process updated is found at its
// revision with older content (a lost write): the predicted event is
// appended with the read, the read then fails with ErrLostWrite, and that
// failure is its own event.
func TestAuditedGetLostWrite(t *testing.T) {
	v, _, _, srv := redisVault(t)
	create(t, v, "app/key", "first")
	h := fnv.New64a()
	h.Write([]byte("s/app/key"))
	dk := fmt.Sprintf("{agentvault:%02d}:k:s/app/key", h.Sum64()%16)
	old, err := srv.Do("GET", dk)
	require.NoError(t, err)
	update(t, v, "app/key", "second")
	get(t, v, "app/key")
	cur, err := srv.Do("GET", dk)
	require.NoError(t, err)
	// The old head, under the current header (revision and write id).
	const hdr = len("2 0000000000000000000 0123456789abcdef ")
	_, err = srv.Do("SET", dk, cur.(string)[:hdr]+old.(string)[hdr:])
	require.NoError(t, err)

	_, err = v.GetSecret(ctx, "app/key")
	require.ErrorIs(t, err, redisbackend.ErrLostWrite)
	evs := readEvents(t, v, "app/key")
	require.Len(t, evs, 3)
	assert.Equal(t, agentvault.OutcomeAllowed, evs[1].Outcome, "the predicted event")
	assert.Equal(t, agentvault.OutcomeFailed, evs[2].Outcome, "the failure")
	verifyAudit(t, v)
}

// TestAuditedGetOtherContentSameRevision: another process's record at the
// predicted revision holds other (authentic) content than the cached one,
// here an older head put back under the current header: the predicted
// event is appended, the read returns what it found, and since that is not
// what the event says, the real event is written too.
func TestAuditedGetOtherContentSameRevision(t *testing.T) {
	_, rb, _, srv := redisVault(t)
	writer, err := agentvault.New(rb, testKey(t), agentvault.WithAudit(false))
	require.NoError(t, err)
	defer writer.Close()
	create(t, writer, "app/key", "first")
	h := fnv.New64a()
	h.Write([]byte("s/app/key"))
	dk := fmt.Sprintf("{agentvault:%02d}:k:s/app/key", h.Sum64()%16)
	old, err := srv.Do("GET", dk)
	require.NoError(t, err)
	update(t, writer, "app/key", "second")

	// A reader on its own Backend (no lost-write marks of the writer's).
	client := srv.Client(t)
	rb2, err := redisbackend.New(client)
	require.NoError(t, err)
	reader, err := agentvault.New(rb2, testKey(t), agentvault.WithAuditWriterID("r1"))
	require.NoError(t, err)
	defer reader.Close()
	get(t, reader, "app/key")
	get(t, reader, "app/key")
	cur, err := srv.Do("GET", dk)
	require.NoError(t, err)
	const hdr = len("2 0000000000000000000 0123456789abcdef ")
	_, err = srv.Do("SET", dk, cur.(string)[:hdr]+old.(string)[hdr:])
	require.NoError(t, err)

	s := get(t, reader, "app/key")
	assert.Equal(t, "v1", s.Version)
	evs, err := reader.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretRead, ActorKind: agentvault.ActorService})
	require.NoError(t, err)
	var mine []agentvault.AuditEvent
	for _, e := range evs {
		if e.Writer == "r1" {
			mine = append(mine, e)
		}
	}
	require.Len(t, mine, 4)
	assert.Equal(t, []string{"v2", "v2", "v2", "v1"}, []string{mine[0].Version, mine[1].Version, mine[2].Version, mine[3].Version},
		"the predicted event, then the real one naming the version returned")
	verifyAudit(t, reader)
}

// TestAuditedSessionGetOneTripLess: a Session's read of a cached record
// also reads and appends its event together: the token's read, then one
// round trip; the event names the token. A token with a use limit, whose
// use is a write between the authorization and the decryption, reads the
// normal way, and its uses are counted.
func TestAuditedSessionGetOneTripLess(t *testing.T) {
	v, _, trips, _ := redisVault(t)
	createTier(t, v, "app/key", "the-value", agentvault.TierStandard)
	get(t, v, "app/key") // loads the script
	for _, maxUses := range []int{0, 5} {
		tok, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}, MaxUses: maxUses})
		require.NoError(t, err)
		s := v.Session(tok.Value.Reveal())
		_, err = s.GetSecret(ctx, "app/key")
		require.NoError(t, err)
		trips.trips.Store(0)
		sec, err := s.GetSecret(ctx, "app/key")
		require.NoError(t, err)
		assert.Equal(t, "the-value", string(sec.Value.Reveal()))
		want := int64(2) // the token's record, then the record and the event
		if maxUses > 0 {
			want = 5 // as before: the token's record, the record, the use (read, write), the event
		}
		assert.Equal(t, want, trips.trips.Load(), "round trips, max uses %d", maxUses)
		evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretRead, ActorKind: agentvault.ActorToken, ActorID: tok.Accessor})
		require.NoError(t, err)
		require.Len(t, evs, 2)
		for _, e := range evs {
			assert.Equal(t, "v1", e.Version)
			assert.Equal(t, agentvault.TierStandard, e.Tier)
			assert.Equal(t, agentvault.OutcomeAllowed, e.Outcome)
			assert.Equal(t, tok.Accessor, e.TokenAccessor)
		}
		if maxUses > 0 {
			infos, err := v.ListTokens(ctx)
			require.NoError(t, err)
			for _, in := range infos {
				if in.Accessor == tok.Accessor {
					assert.Equal(t, 2, in.Uses, "uses counted")
				}
			}
		}
	}
	verifyAudit(t, v)
}

// TestAuditedSessionGetTierDenied: a token whose tier does not cover the
// cached record (the secret's tier was raised after the token was issued)
// is not given a predicted event: it is denied, with one event.
func TestAuditedSessionGetTierDenied(t *testing.T) {
	v, _, _, _ := redisVault(t)
	createTier(t, v, "app/key", "the-value", agentvault.TierStandard)
	tok, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	require.NoError(t, err)
	_, err = v.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{Tier: agentvault.TierCritical})
	require.NoError(t, err)
	get(t, v, "app/key")
	get(t, v, "app/key")
	_, err = v.Session(tok.Value.Reveal()).GetSecret(ctx, "app/key")
	require.ErrorIs(t, err, agentvault.ErrTierDenied)
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{ActorID: tok.Accessor})
	require.NoError(t, err)
	require.Len(t, evs, 1, "the denial only, no predicted read")
	assert.Equal(t, agentvault.OutcomeDenied, evs[0].Outcome)
	assert.Equal(t, "tier_denied", evs[0].Reason)
	verifyAudit(t, v)
}

// TestAuditedSessionGetStaleCacheTierRaised is an attack on the predicted
// read: this process cached the secret while it was standard; another
// process then raised it to critical (and stored a new value). A standard
// token read through this process passes the tier check on the stale
// cached record, but must not get the value: the conditional append finds
// the record moved, and the record actually read is checked again. No
// event may claim an allowed read.
func TestAuditedSessionGetStaleCacheTierRaised(t *testing.T) {
	v, rb, _, _ := redisVault(t)
	createTier(t, v, "app/key", "standard-era", agentvault.TierStandard)
	tok, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:app/*"}})
	require.NoError(t, err)
	s := v.Session(tok.Value.Reveal())
	_, err = s.GetSecret(ctx, "app/key") // caches the standard record with its revision
	require.NoError(t, err)

	other, err := agentvault.New(rb, testKey(t))
	require.NoError(t, err)
	defer other.Close()
	_, err = other.UpdateSecret(ctx, "app/key", agentvault.UpdateSecretInput{
		Value: ptrValue("critical-era"), Tier: agentvault.TierCritical})
	require.NoError(t, err)

	sec, err := s.GetSecret(ctx, "app/key")
	require.ErrorIs(t, err, agentvault.ErrTierDenied)
	assert.Nil(t, sec, "no value for a denied read")
	sec, err = s.GetSecret(ctx, "app/key", agentvault.AtVersion("v1"))
	require.ErrorIs(t, err, agentvault.ErrTierDenied, "nor the standard-era version once the secret is critical")
	assert.Nil(t, sec)

	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{ActorID: tok.Accessor})
	require.NoError(t, err)
	var allowed, denied int
	for _, e := range evs {
		switch e.Outcome {
		case agentvault.OutcomeAllowed:
			allowed++
			assert.Equal(t, agentvault.TierStandard, e.Tier, "only the first read, while standard, is allowed")
		case agentvault.OutcomeDenied:
			denied++
			assert.Equal(t, "tier_denied", e.Reason)
		}
	}
	assert.Equal(t, 1, allowed, "events of allowed reads")
	assert.Equal(t, 2, denied, "events of denied reads")
	verifyAudit(t, v)
}
