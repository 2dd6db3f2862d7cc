package agentvault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
)

func expiring(t *testing.T, v *agentvault.AgentVault, path string, at time.Time) {
	t.Helper()
	_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: path, Value: agentvault.StringValue("x"), ExpiresAt: at})
	require.NoError(t, err, "CreateSecret(%q)", path)
}

func check(t *testing.T, v *agentvault.AgentVault) *agentvault.ExpiryReport {
	t.Helper()
	rep, err := v.CheckExpirations(ctx)
	require.NoError(t, err, "CheckExpirations")
	return rep
}

func expiredEvents(t *testing.T, v *agentvault.AgentVault) []string {
	t.Helper()
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: "secret."})
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		if e.Event == agentvault.EventSecretExpired || e.Event == agentvault.EventSecretExpiring {
			out = append(out, fmt.Sprintf("%s %s %s %s", e.Event, e.Actor.Kind, e.Outcome, e.Reason))
		}
	}
	return out
}

// TestExpiryNoticeBoundaries: the 7-day notice at exactly T−7d, the 1-day
// notice at exactly T−1d, the expiry at exactly T; each once.
func TestExpiryNoticeBoundaries(t *testing.T) {
	clk := newClock()
	log := &noticeLog{}
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(log))
	exp := clk.Now().Add(30 * day)
	expiring(t, v, "app/token", exp)
	create(t, v, "app/forever", "x")

	steps := []struct {
		at   time.Time
		want []string
	}{
		{exp.Add(-7*day - time.Nanosecond), nil},
		{exp.Add(-7 * day), []string{"app/token 7d"}},
		{exp.Add(-7 * day), []string{"app/token 7d"}}, // again: nothing new
		{exp.Add(-day - time.Nanosecond), []string{"app/token 7d"}},
		{exp.Add(-day), []string{"app/token 7d", "app/token 1d"}},
		{exp.Add(-time.Nanosecond), []string{"app/token 7d", "app/token 1d"}},
		{exp, []string{"app/token 7d", "app/token 1d", "app/token expired"}},
		{exp.Add(day), []string{"app/token 7d", "app/token 1d", "app/token expired"}},
	}
	for i, s := range steps {
		clk.Add(s.at.Sub(clk.Now()))
		rep := check(t, v)
		assert.Equal(t, 1, rep.Checked)
		assert.Equal(t, s.want, log.notices(), "step %d at T%v", i, s.at.Sub(exp))
	}
	assert.Equal(t, []string{
		"secret.expiring system allowed notice_7d",
		"secret.expiring system allowed notice_1d",
		"secret.expired system allowed notice_expired",
	}, expiredEvents(t, v))
	n := log.got[0]
	assert.Equal(t, agentvault.EventSecretExpiring, n.Event)
	assert.Equal(t, exp, n.ExpiresAt)
	assert.Equal(t, "v1", n.Version)
	assert.Equal(t, 1, n.Attempt)
	assert.Regexp(t, "^ntc_[0-9a-f]{24}$", n.ID)
	assert.Equal(t, agentvault.EventSecretExpired, log.got[2].Event)

	// Extending the expiry re-arms the notices.
	exp2 := exp.Add(30 * day)
	_, err := v.UpdateSecret(ctx, "app/token", agentvault.UpdateSecretInput{ExpiresAt: &exp2})
	require.NoError(t, err)
	check(t, v)
	assert.Len(t, log.notices(), 3, "nothing due right after extending")
	clk.Add(exp2.Add(-7 * day).Sub(clk.Now()))
	rep := check(t, v)
	require.Len(t, rep.Sent, 1)
	assert.Equal(t, "7d", rep.Sent[0].Notice)
	assert.Equal(t, exp2, rep.Sent[0].ExpiresAt)
	assert.NotEqual(t, n.ID, rep.Sent[0].ID)

	// Clearing it stops them.
	_, err = v.UpdateSecret(ctx, "app/token", agentvault.UpdateSecretInput{ClearExpiry: true})
	require.NoError(t, err)
	clk.Add(7 * day)
	assert.Zero(t, check(t, v).Checked)
	assert.Len(t, log.notices(), 4)
}

// TestExpiryLatePass: a first pass after T−1d sends only the 1-day notice.
func TestExpiryLatePass(t *testing.T) {
	clk := newClock()
	log := &noticeLog{}
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(log))
	expiring(t, v, "a/late", clk.Now().Add(12*time.Hour))
	expiring(t, v, "a/soon", clk.Now().Add(3*day))
	check(t, v)
	assert.Equal(t, []string{"a/late 1d", "a/soon 7d"}, log.notices())
}

// TestExpiredOnFirstRefusedRead: the first refused read records the expiry
// (its own secret.expired event); the scheduler then records nothing more.
func TestExpiredOnFirstRefusedRead(t *testing.T) {
	clk := newClock()
	log := &noticeLog{}
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(log))
	expiring(t, v, "a/b", clk.Now().Add(time.Hour))
	clk.Add(time.Hour)
	for i := 0; i < 2; i++ {
		_, err := v.GetSecret(ctx, "a/b")
		require.ErrorIs(t, err, agentvault.ErrExpired)
	}
	rep := check(t, v)
	assert.Empty(t, rep.Expired, "already recorded by the read")
	assert.Equal(t, []string{"a/b expired"}, log.notices(), "one expired notice")
	assert.Equal(t, []string{
		"secret.expired service denied secret_expired",
		"secret.expired service denied secret_expired",
	}, expiredEvents(t, v))
}

// TestExpiryWithoutNotifier: no notices are claimed; the expiry is still recorded once.
func TestExpiryWithoutNotifier(t *testing.T) {
	clk := newClock()
	v, b := newVault(t, agentvault.WithClock(clk.Now))
	expiring(t, v, "a/b", clk.Now().Add(2*day))
	assert.Empty(t, check(t, v).Sent)
	keys, err := b.List(ctx, "lifecycle/")
	require.NoError(t, err)
	assert.Empty(t, keys)
	clk.Add(2 * day)
	assert.Equal(t, []string{"a/b"}, check(t, v).Expired)
	assert.Empty(t, check(t, v).Expired)
}

// TestExpiryNoticeRetry: a failed delivery is retried at the next pass; a
// delivery whose process crashed is retried after the lease, by another
// process, with the same ID.
func TestExpiryNoticeRetry(t *testing.T) {
	clk := newClock()
	b := membackend.New()
	log := &noticeLog{}
	va := mustVault(t, b, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(log))
	vb := mustVault(t, b, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(log))
	expiring(t, va, "a/b", clk.Now().Add(3*day))

	log.fail.Store(1)
	rep, err := va.CheckExpirations(ctx)
	require.Error(t, err, "CheckExpirations with a failing notifier")
	assert.Equal(t, 1, rep.Failed)
	assert.Empty(t, log.notices())
	check(t, vb)
	assert.Equal(t, []string{"a/b 7d"}, log.notices(), "retried at the next pass")

	clk.Add(2 * day) // 1d notice due
	log.boom.Store(1)
	assert.Panics(t, func() { _, _ = va.CheckExpirations(ctx) }, "the crash")
	check(t, vb)
	assert.Len(t, log.notices(), 1, "claimed by the crashed process, lease running")
	clk.Add(agentvault.DefaultLifecycleLease - time.Nanosecond)
	check(t, vb)
	assert.Len(t, log.notices(), 1, "lease-1ns")
	clk.Add(time.Nanosecond)
	rep = check(t, vb)
	require.Len(t, rep.Sent, 1, "taken over at the end of the lease")
	assert.Equal(t, 2, rep.Sent[0].Attempt)
	check(t, va)
	assert.Equal(t, []string{"a/b 7d", "a/b 1d"}, log.notices())
}

// TestExpiryNoticesOnce: four schedulers on one store, run concurrently
// at each step, send every notice exactly once.
func TestExpiryNoticesOnce(t *testing.T) {
	sharedStores(t, func(t *testing.T, open func() backend.Backend) {
		clk := newClock()
		log := &noticeLog{}
		vs := vaults(t, 4, open, agentvault.WithClock(clk.Now), agentvault.WithExpiryNotifier(log))
		exp := clk.Now().Add(10 * day)
		for i := 0; i < 5; i++ {
			expiring(t, vs[0], fmt.Sprintf("app/s%d", i), exp)
		}
		var mu sync.Mutex
		expired := 0
		for _, at := range []time.Time{exp.Add(-7 * day), exp.Add(-day), exp} {
			clk.Add(at.Sub(clk.Now()))
			for round := 0; round < 2; round++ {
				concurrently(4, func(i int) {
					rep, err := vs[i].CheckExpirations(ctx)
					assert.NoError(t, err, "CheckExpirations in vault %d", i)
					mu.Lock()
					expired += len(rep.Expired)
					mu.Unlock()
				})
			}
		}
		counts := map[string]int{}
		for _, n := range log.notices() {
			counts[n]++
		}
		require.Len(t, counts, 15)
		for n, c := range counts {
			assert.Equal(t, 1, c, "notice %q sent %d times", n, c)
		}
		assert.Equal(t, 5, expired, "expiries recorded")
	})
}

// TestExpiryWebhook: a WebhookNotifier given to WithNotifier receives
// expiry notices, signed.
func TestExpiryWebhook(t *testing.T) {
	secret := []byte("0123456789abcdef-webhook")
	var mu sync.Mutex
	var got []agentvault.ExpiryNotice
	var events []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := agentvault.VerifyWebhook(r, secret, time.Minute, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var n agentvault.ExpiryNotice
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, n)
		events = append(events, r.Header.Get(agentvault.WebhookEventHeader))
		mu.Unlock()
	}))
	defer srv.Close()
	wh, err := agentvault.NewWebhookNotifier(srv.URL, secret)
	require.NoError(t, err)
	clk := newClock()
	v, _ := newVault(t, agentvault.WithClock(clk.Now), agentvault.WithNotifier(wh))
	expiring(t, v, "prod/api", clk.Now().Add(day))
	rep := check(t, v)
	require.Len(t, rep.Sent, 1)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1)
	assert.Equal(t, rep.Sent[0], got[0])
	assert.Equal(t, "1d", got[0].Notice)
	assert.Equal(t, "prod/api", got[0].Path)
	assert.Equal(t, []string{agentvault.EventSecretExpiring}, events)
}

// TestCrossProcessNoticesOnce: four OS processes run CheckExpirations
// against one file store at the same instant; each notice is delivered
// once (each process appends the notices it delivers to one log file).
func TestCrossProcessNoticesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const procs, secrets = 4, 10
	dir, logFile := t.TempDir(), filepath.Join(t.TempDir(), "notices.log")
	fb, err := filebackend.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { fb.Close() })
	clk := newClock()
	v := mustVault(t, fb, agentvault.WithClock(clk.Now))
	exp := clk.Now().Add(10 * day)
	for i := 0; i < secrets; i++ {
		expiring(t, v, fmt.Sprintf("shared/s%02d", i), exp)
	}
	at := exp.Add(-7 * day)
	cmds := make([]*exec.Cmd, procs)
	for p := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessNotices$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AGENTVAULT_NOTICE_DIR="+dir, "AGENTVAULT_NOTICE_LOG="+logFile,
			"AGENTVAULT_NOTICE_AT="+at.Format(time.RFC3339Nano))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(t, cmd.Start())
		cmds[p] = cmd
	}
	for p, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "helper process %d", p)
	}
	data, err := os.ReadFile(logFile)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	sort.Strings(lines)
	require.Len(t, lines, secrets, "notices delivered by %d processes: %q", procs, lines)
	for i, l := range lines {
		assert.Equal(t, fmt.Sprintf("shared/s%02d 7d", i), l)
	}
}

// TestHelperProcessNotices is the child of TestCrossProcessNoticesOnce; it
// does nothing in a normal test run.
func TestHelperProcessNotices(t *testing.T) {
	dir := os.Getenv("AGENTVAULT_NOTICE_DIR")
	if dir == "" {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, os.Getenv("AGENTVAULT_NOTICE_AT"))
	require.NoError(t, err)
	f, err := os.OpenFile(os.Getenv("AGENTVAULT_NOTICE_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	defer f.Close()
	var mu sync.Mutex
	notify := agentvault.ExpiryNotifierFunc(func(_ context.Context, n agentvault.ExpiryNotice) error {
		mu.Lock()
		defer mu.Unlock()
		_, err := fmt.Fprintf(f, "%s %s\n", n.Path, n.Notice)
		return err
	})
	fb, err := filebackend.Open(dir)
	require.NoError(t, err)
	defer fb.Close()
	v, err := agentvault.New(fb, testKey(t), agentvault.WithClock(func() time.Time { return at }), agentvault.WithExpiryNotifier(notify))
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, err := v.CheckExpirations(ctx)
		require.NoError(t, err)
	}
}
