package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpiring(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	assert.Equal(t, "nothing expires within 7d\n", s.ok("", "expiring"))
	assert.Equal(t, "[]\n", s.ok("", "expiring", "--json"))

	s.ok(canary, "set", "e/soon", "--expires-in", "1h")
	s.ok(canary, "set", "e/inside", "--expires-in", "167h")  // 7d less 1h
	s.ok(canary, "set", "e/edge", "--expires-in", "7d")      // within 7d a moment later
	s.ok(canary, "set", "e/outside", "--expires-in", "169h") // 7d and 1h
	s.ok(canary, "set", "e/never")
	s.ok(canary, "set", "f/soon", "--expires-in", "2h", "--type", "api_key", "--tier", "critical")
	s.ok(canary, "set", "e/gone", "--expires-in", "1s")
	time.Sleep(1100 * time.Millisecond)

	out := s.ok("", "expiring")
	assert.NotContains(t, out, canary)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 6, out)
	assert.Regexp(t, `^PATH\s+TYPE\s+TIER\s+VERSION\s+EXPIRES\s+LEFT$`, lines[0])
	// Soonest first; the expired one is included and marked.
	assert.Regexp(t, `^e/gone\s+custom\s+sensitive\s+v1\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+expired$`, lines[1])
	assert.Regexp(t, `^e/soon\s+custom\s+sensitive\s+v1\s+\S+\s+59m$`, lines[2])
	assert.Regexp(t, `^f/soon\s+api_key\s+critical\s+v1\s+\S+\s+1h59m$`, lines[3])
	assert.Regexp(t, `^e/inside\s+\S+\s+\S+\s+v1\s+\S+\s+6d22h$`, lines[4])
	assert.Regexp(t, `^e/edge\s+\S+\s+\S+\s+v1\s+\S+\s+6d23h$`, lines[5])

	// --within: the window's edges, a prefix, JSON.
	assert.Contains(t, s.ok("", "expiring", "--within", "8d"), "e/outside")
	assert.NotContains(t, s.ok("", "expiring", "--within", "167h"), "e/edge")
	assert.Contains(t, s.ok("", "expiring", "--within", "167h"), "e/inside")
	within1h := s.ok("", "expiring", "--within", "1h")
	assert.Contains(t, within1h, "e/soon")
	assert.Contains(t, within1h, "e/gone")
	assert.NotContains(t, within1h, "f/soon")
	assert.Equal(t, "nothing expires within 1h\n", s.ok("", "expiring", "x/", "--within", "1h"))
	assert.Equal(t, "nothing expires within 1d12h\n", s.ok("", "expiring", "x/", "--within", "36h"))

	arr := decodeArray(t, s.ok("", "expiring", "e/", "--json", "--within", "2h"))
	require.Len(t, arr, 2)
	assert.Equal(t, "e/gone", arr[0]["path"])
	assert.Equal(t, "e/soon", arr[1]["path"])
	assert.NotContains(t, arr[0], "value")
	assert.Equal(t, keys(decodeArray(t, s.ok("", "list", "e/soon", "--json"))[0]), keys(arr[1]), "the list --json shape")
	mustTime(t, arr[1]["expires_at"])

	assert.Contains(t, s.fails(exitUsage, "", "expiring", "--within", "soon"), `expiring: invalid --within: "soon" is not a duration`)
	assert.Contains(t, s.fails(exitUsage, "", "expiring", "a", "b"), "expiring: wrong number of arguments: want [PREFIX]")
}

func TestFormatLeft(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * 24 * time.Hour:                         "7d",
		3*24*time.Hour + 4*time.Hour + time.Hour/2: "3d4h",
		5*time.Hour + 12*time.Minute + time.Second: "5h12m",
		2 * time.Hour:                              "2h",
		42*time.Minute + 59*time.Second:            "42m",
		42 * time.Second:                           "42s",
		time.Millisecond:                           "0s",
	} {
		assert.Equal(t, want, formatLeft(d), "formatLeft(%v)", d)
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("one\n", "set", "r/x", "--type", "api_key", "--tier", "standard", "--tag", "team=a")

	// From stdin, with a grace period: the old value stays readable as "previous".
	out := s.ok("two\n", "rotate", "r/x", "--grace", "15m")
	assert.Regexp(t, `^rotated r/x to v2 \(previous v1 readable until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\n$`, out)
	assert.Equal(t, "two", s.ok("", "get", "r/x"))
	assert.Equal(t, "one", s.ok("", "get", "r/x", "--version", "previous"))
	assert.Equal(t, "one", s.ok("", "get", "r/x", "--version", "v1"))
	m := s.getJSON("r/x")
	assert.Equal(t, "v2", m["version"])
	assert.Equal(t, "api_key", m["type"], "metadata is kept")
	assert.Equal(t, map[string]any{"team": "a"}, m["tags"])

	lines := strings.Split(strings.TrimSuffix(s.ok("", "versions", "r/x"), "\n"), "\n")
	require.Len(t, lines, 3)
	assert.Regexp(t, `^VERSION\s+CREATED_AT\s+CREATED_BY\s+ACTIVE\s+STATE$`, lines[0])
	assert.Regexp(t, `^v1\s+\S+\s+tester\s+no\s+previous \(grace until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$`, lines[1])
	assert.Regexp(t, `^v2\s+\S+\s+tester\s+yes\s+active$`, lines[2])
	vs := decodeArray(t, s.ok("", "versions", "r/x", "--json"))
	require.Len(t, vs, 2)
	assert.Equal(t, true, vs[0]["is_previous"])
	grace := mustTime(t, vs[0]["grace_ends_at"])
	assert.WithinDuration(t, time.Now().Add(15*time.Minute), grace, time.Minute)
	assert.Equal(t, false, vs[1]["is_previous"])
	assert.Nil(t, vs[1]["grace_ends_at"])

	// A VALUE argument, --json, no grace: nothing is "previous" any more.
	r := decodeObject(t, s.ok("", "rotate", "r/x", "three", "--json", "--actor", "alice"))
	assert.Equal(t, "v3", r["version"])
	assert.Equal(t, "v2", r["replaced"])
	assert.Nil(t, r["grace_ends_at"])
	assert.NotContains(t, r, "previous_version")
	assert.NotContains(t, r, "value")
	assert.Equal(t, "three", s.ok("", "get", "r/x"))
	stderr := s.fails(exitNotFound, "", "get", "r/x", "--version", "previous")
	assert.Equal(t, "ass: get r/x previous: secret not found: no previous version in a grace period\n", stderr)
	vs = decodeArray(t, s.ok("", "versions", "r/x", "--json"))
	require.Len(t, vs, 3)
	assert.Equal(t, "alice", vs[2]["created_by"])
	assert.Regexp(t, `v2\s+\S+\s+tester\s+no\s+inactive\n`, s.ok("", "versions", "r/x"))

	// --value, "-" for stdin with --raw, --json with grace.
	assert.Equal(t, "rotated r/x to v4 (replaced v3)\n", s.ok("", "rotate", "r/x", "--value", "four"))
	r = decodeObject(t, s.ok("five\n", "rotate", "r/x", "-", "--raw", "--grace", "2h", "--json"))
	assert.Equal(t, "v5", r["version"])
	assert.Equal(t, "v4", r["replaced"])
	assert.Equal(t, "v4", r["previous_version"])
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), mustTime(t, r["grace_ends_at"]), time.Minute)
	assert.Equal(t, "five\n", s.ok("", "get", "r/x"))
	assert.Equal(t, "four", s.ok("", "get", "r/x", "--version", "previous"))
	assert.Equal(t, "four", s.getJSON("r/x", "--version", "previous")["value"])

	// A grace period that has ended.
	s.ok("six\n", "rotate", "r/x", "--grace", "1s")
	time.Sleep(1100 * time.Millisecond)
	stderr = s.fails(exitNotFound, "", "get", "r/x", "--version", "previous")
	assert.Contains(t, stderr, "ass: get r/x previous: secret not found: the grace period of previous version v5 ended at")
	assert.Regexp(t, `v5\s+\S+\s+tester\s+no\s+previous \(grace ended \S+Z\)\n`, s.ok("", "versions", "r/x"))
	assert.Equal(t, "five\n", s.ok("", "get", "r/x", "--version", "v5"), "still readable by its version")

	// Failures: a missing secret (exit 3), usage errors (exit 2); nothing changes.
	assert.Equal(t, "ass: rotate r/none: secret not found\n", s.fails(exitNotFound, canary+"\n", "rotate", "r/none"))
	s.fails(exitNotFound, "", "rotate", "r/none", canary, "--grace", "15m")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rotate"}, "rotate: wrong number of arguments: want PATH [VALUE|-]"},
		{[]string{"rotate", "r/x", canary, "extra"}, "rotate: wrong number of arguments"},
		{[]string{"rotate", "r/x", canary, "--value", canary}, "rotate: give the value as VALUE or --value, not both"},
		{[]string{"rotate", "r/x", "-", "--value", canary}, "not both"},
		{[]string{"rotate", "r/x", "--value", canary, "--raw"}, "--raw applies to a value read from stdin"},
		{[]string{"rotate", "r/x", canary, "--grace", "soon"}, `rotate: invalid --grace: "soon" is not a duration`},
		{[]string{"rotate", "r/x", canary, "--grace", "0s"}, `rotate: invalid --grace: "0s" is not a positive duration`},
		{[]string{"rotate", "r/x", canary, "--bogus"}, "rotate: unknown flag --bogus"},
		{[]string{"rotate", "r/x", "--bogus"}, "rotate: argument 2 is an unknown flag (not shown"},
		{[]string{"rotate", "r/x", "--value"}, "rotate: flag --value needs a value"},
	} {
		stderr := s.fails(exitUsage, "", tc.args...)
		assert.Contains(t, stderr, tc.want, "ass %q", tc.args)
		assert.Contains(t, stderr, `(see "ass help rotate")`)
	}
	assert.Contains(t, s.fails(exitUsage, "", "rotate", canary+"/x!", "v"), "rotate: invalid path: segment 2")
	assert.Equal(t, "six", s.ok("", "get", "r/x"), "failed rotations changed the secret")
	assert.Len(t, decodeArray(t, s.ok("", "versions", "r/x", "--json")), 6)

	// Audited as secret.rotated, by the person running ass.
	evs := auditLines(t, s.ok("", "audit", "--path", "r/x", "--event", "secret.rotated", "--json"))
	require.Len(t, evs, 5)
	assert.Equal(t, map[string]any{"kind": "human", "id": "alice"}, evs[1]["actor"])
	assert.Equal(t, "v3", evs[1]["version"])
}

func TestLifecycleRunOnce(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok(canary, "set", "l/gone", "--expires-in", "1s")
	s.ok(canary, "set", "l/later", "--expires-in", "30d")
	time.Sleep(1100 * time.Millisecond)
	assert.Equal(t, "notices sent 0, expired 1, rotated 0, failed 0, pruned 0 versions\n", s.ok("", "lifecycle", "run", "--once"))
	// Recorded once, however many passes run.
	rep := decodeObject(t, s.ok("", "lifecycle", "run", "--once", "--json"))
	assert.Equal(t, map[string]any{"checked": float64(2), "sent": []any{}, "expired": []any{}, "failed": float64(0)}, rep["expiry"])
	assert.Contains(t, rep, "rotation")
	evs := auditLines(t, s.ok("", "audit", "--event", "secret.expired", "--json"))
	require.Len(t, evs, 1)
	assert.Equal(t, "l/gone", evs[0]["path"])
	assert.Equal(t, map[string]any{"kind": "system", "id": "scheduler"}, evs[0]["actor"])

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lifecycle"}, "lifecycle: wrong number of arguments: want run"},
		{[]string{"lifecycle", "walk", "--once"}, `lifecycle: unknown lifecycle subcommand "walk" (want run)`},
		{[]string{"lifecycle", "run", "--once", "--interval", "1m"}, "lifecycle: --interval does not apply to --once"},
		{[]string{"lifecycle", "run", "--interval", "0s"}, "lifecycle: invalid --interval"},
	} {
		assert.Contains(t, s.fails(exitUsage, "", tc.args...), tc.want, "ass %q", tc.args)
	}
}

// TestLifecycleRunUntilSignal runs the scheduler and stops it with SIGINT
// and SIGTERM: exit 0, nothing printed.
func TestLifecycleRunUntilSignal(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok(canary, "set", "l/gone", "--expires-in", "1s")
	time.Sleep(1100 * time.Millisecond)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(assBin, "lifecycle", "run", "--interval", "100ms")
		cmd.Env = []string{"ASS_HOME=" + s.home, "USER=tester", "HOME=" + filepath.Dir(s.home)}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Start())
		time.Sleep(700 * time.Millisecond) // several passes
		require.NoError(t, cmd.Process.Signal(sig))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			assert.NoError(t, err, "%v: stderr %q", sig, stderr.String())
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%v did not stop ass lifecycle run", sig)
		}
		assert.Empty(t, stdout.String())
		assert.Empty(t, stderr.String())
	}
	evs := auditLines(t, s.ok("", "audit", "--event", "secret.expired", "--json"))
	assert.Len(t, evs, 1, "the passes recorded the expiry once")
}

// TestSetAuditsOnce: set of a new path leaves one secret.created event, of
// an existing path one secret.updated; the actor is the person (human)
// named by --actor, also recorded as created_by.
func TestSetAuditsOnce(t *testing.T) {
	// changes drops the secret.metadata_read event of set's look-up (every
	// read is audited): set writes one change event.
	changes := func(evs []map[string]any) []map[string]any {
		out := evs[:0]
		for _, e := range evs {
			if e["event"] != "secret.metadata_read" {
				out = append(out, e)
			}
		}
		return out
	}
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok(canary, "set", "a/new", "--actor", "alice", "--tag", "k=v")
	evs := changes(auditLines(t, s.ok("", "audit", "--path", "a/new", "--json")))
	require.Len(t, evs, 1, "%v", evs)
	assert.Equal(t, "secret.created", evs[0]["event"])
	assert.Equal(t, "allowed", evs[0]["outcome"])
	assert.Equal(t, map[string]any{"kind": "human", "id": "alice"}, evs[0]["actor"])

	s.ok("two\n", "set", "a/new", "--tag", "x=y", "--actor", "bob")
	evs = changes(auditLines(t, s.ok("", "audit", "--path", "a/new", "--json")))
	require.Len(t, evs, 2, "%v", evs)
	assert.Equal(t, "secret.updated", evs[1]["event"])
	assert.Equal(t, "allowed", evs[1]["outcome"])
	assert.Equal(t, map[string]any{"kind": "human", "id": "bob"}, evs[1]["actor"])
	assert.Equal(t, map[string]any{"k": "v", "x": "y"}, s.getJSON("a/new")["tags"], "tags merged")

	vs := decodeArray(t, s.ok("", "versions", "a/new", "--json"))
	assert.Equal(t, "alice", vs[0]["created_by"])
	assert.Equal(t, "bob", vs[1]["created_by"])
	assert.Equal(t, "alice", s.getJSON("a/new")["created_by"])

	// The default actor ($USER here) is a person too.
	s.ok("", "set", "a/other", "v")
	evs = changes(auditLines(t, s.ok("", "audit", "--path", "a/other", "--json")))
	require.Len(t, evs, 1)
	assert.Equal(t, map[string]any{"kind": "human", "id": "tester"}, evs[0]["actor"])
	for _, e := range auditLines(t, s.ok("", "audit", "--json")) {
		assert.NotEqual(t, "service", e["actor"].(map[string]any)["kind"], "event %v", e)
	}
	// update --tag reads the metadata without a secret.listed event.
	s.ok("", "update", "a/other", "--tag", "z=1")
	evs = changes(auditLines(t, s.ok("", "audit", "--path", "a/other", "--json")))
	require.Len(t, evs, 2, "%v", evs)
	assert.Equal(t, "secret.updated", evs[1]["event"])
	assert.Equal(t, "ass: update a/none: secret not found\n", s.fails(exitNotFound, "", "update", "a/none", "--tag", "z=1"))
}

func TestLifecycleHelp(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	main := s.ok("", "help")
	for _, want := range []string{"expiring", "rotate", "lifecycle"} {
		assert.Contains(t, main, "\n  "+want+" ", "ass help")
	}
	for cmd, wants := range map[string][]string{
		"expiring":  {"--within DURATION", "LEFT", "expired"},
		"rotate":    {"--grace DURATION", "--value VALUE", "--raw", "--version previous", "exits\n3"},
		"lifecycle": {"--once", "--interval DURATION", "retention"},
		"versions":  {"STATE", "previous", "pruned", "is_previous", "grace_ends_at"},
		"get":       {`"previous"`},
	} {
		text := s.ok("", "help", cmd)
		for _, w := range wants {
			assert.Contains(t, text, w, "ass help %s", cmd)
		}
	}
	assert.NoDirExists(t, s.home)
}
