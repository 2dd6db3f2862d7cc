package agentvault_test

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/internal/faultbackend"
)

// Fault injection at every storage write of every operation: each
// operation is run once to count its writes, then once per write and per
// fault, with that one write failing. Each time: the error is clear (it
// wraps the cause, names no value), or the failed write was an audit event
// (fail-open by default); nothing half-written is served; the values
// before the operation stay readable unless the operation removed them;
// the audit chains verify; and the next write succeeds.

var faultKinds = []struct {
	name  string
	err   error
	cause error
	after bool
}{
	{"ENOSPC", faultbackend.ErrNoSpace, syscall.ENOSPC, false},
	{"EIO", faultbackend.ErrIO, syscall.EIO, false},
	{"timeout", faultbackend.ErrTimeout, nil, false},
	{"EIO after the write landed", faultbackend.ErrIO, syscall.EIO, true},
}

const (
	faultOld1 = "sk-fault-old-one"
	faultOld2 = "sk-fault-old-two"
	faultNew  = "sk-fault-new-value"
)

type faultOp struct {
	name    string
	removes bool // may remove app/s or its versions
	run     func(v *agentvault.AgentVault, raw string) error
}

var faultOps = []faultOp{
	{"create", false, func(v *agentvault.AgentVault, _ string) error {
		_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "app/new", Value: agentvault.StringValue(faultNew), Tier: agentvault.TierStandard})
		return err
	}},
	{"update", false, func(v *agentvault.AgentVault, _ string) error {
		val := agentvault.StringValue(faultNew)
		_, err := v.UpdateSecret(ctx, "app/s", agentvault.UpdateSecretInput{Value: &val})
		return err
	}},
	{"rollback", false, func(v *agentvault.AgentVault, _ string) error {
		_, err := v.Rollback(ctx, "app/s", "v1")
		return err
	}},
	{"rotate", false, func(v *agentvault.AgentVault, _ string) error {
		val := agentvault.StringValue(faultNew)
		_, err := v.RotateSecret(ctx, "app/s", agentvault.RotateOptions{Value: &val})
		return err
	}},
	{"delete", true, func(v *agentvault.AgentVault, _ string) error { return v.DeleteSecret(ctx, "app/s") }},
	{"prune", true, func(v *agentvault.AgentVault, _ string) error {
		_, err := v.PruneVersions(ctx, "app/s")
		return err
	}},
	{"import", false, func(v *agentvault.AgentVault, _ string) error {
		_, err := v.ImportEnv(ctx, strings.NewReader("A="+faultNew+"\ns="+faultNew+"\n"), agentvault.ImportOptions{Namespace: "app", Overwrite: true, Tier: agentvault.TierStandard})
		return err
	}},
	{"rewrap", false, func(v *agentvault.AgentVault, _ string) error {
		_, err := v.Rewrap(ctx, agentvault.RewrapOptions{})
		return err
	}},
	{"token use", false, func(v *agentvault.AgentVault, raw string) error {
		_, err := v.Session(raw).GetSecret(ctx, "tok/x")
		return err
	}},
}

// faultSetup makes app/s (v1, v2), tok/x and a token with 2 uses under key
// k1, and returns the vault for the operation, under key k2 (so Rewrap has
// work), writing through a fault injector.
func faultSetup(t *testing.T, inner backend.Backend, op faultOp) (*agentvault.AgentVault, *faultbackend.Backend, string) {
	t.Helper()
	var opts []agentvault.Option // only the prune operation gets a policy (else updates prune too)
	if op.name == "prune" {
		opts = append(opts, agentvault.WithRetention(agentvault.RetentionPolicy{MaxVersions: 1}))
	}
	setup, err := agentvault.New(inner, crashKeyring(t, "k1"))
	require.NoError(t, err)
	createTier(t, setup, "app/s", faultOld1, agentvault.TierStandard)
	update(t, setup, "app/s", faultOld2)
	createTier(t, setup, "tok/x", crashTokenValue, agentvault.TierStandard)
	tok := requestToken(t, setup, agentvault.TokenRequest{Scopes: []string{"secrets:read:tok/*"}, MaxUses: 2})
	require.NoError(t, setup.Close())
	fb := faultbackend.New(inner)
	v, err := agentvault.New(fb, crashKeyring(t, "k2"), opts...)
	require.NoError(t, err)
	return v, fb, tok.Value.Reveal()
}

type faultTally struct{ cases, reported, auditOnly, orphaned int }

// TestFaultInjectedStorage runs every operation with each of its writes
// failing in each way, on the memory and the file backend.
func TestFaultInjectedStorage(t *testing.T) {
	for _, kind := range []string{"memory", "file"} {
		t.Run(kind, func(t *testing.T) {
			fresh := func() backend.Backend {
				if kind == "memory" {
					return membackend.New()
				}
				b, err := filebackend.Open(t.TempDir())
				require.NoError(t, err)
				t.Cleanup(func() { b.Close() })
				return b
			}
			var lines []string
			for _, op := range faultOps {
				inner := fresh()
				v, fb, raw := faultSetup(t, inner, op)
				before := fb.Calls(faultbackend.OpPut) + fb.Calls(faultbackend.OpDelete)
				require.NoError(t, op.run(v, raw), "%s without a fault", op.name)
				writes := fb.Calls(faultbackend.OpPut) + fb.Calls(faultbackend.OpDelete) - before
				require.NotZero(t, writes, "%s writes nothing", op.name)
				var tally faultTally
				for n := 1; n <= writes; n++ {
					for _, fk := range faultKinds {
						name := fmt.Sprintf("%s: write %d of %d fails with %s", op.name, n, writes, fk.name)
						checkFault(t, name, fresh(), op, n, fk.err, fk.cause, fk.after, &tally)
					}
				}
				lines = append(lines, fmt.Sprintf("%s: %d writes, %d faults injected, %d reported as errors, %d tolerated (audit event lost, fail-open), %d left an orphan version record", op.name, writes, tally.cases, tally.reported, tally.auditOnly, tally.orphaned))
			}
			t.Logf("fault injection (%s backend):\n%s", kind, strings.Join(lines, "\n"))
		})
	}
}

func checkFault(t *testing.T, name string, inner backend.Backend, op faultOp, n int, ferr, cause error, after bool, tally *faultTally) {
	t.Helper()
	v, fb, raw := faultSetup(t, inner, op)
	fb.Inject(&faultbackend.Fault{Nth: n, Err: ferr, After: after})
	err := op.run(v, raw)
	fb.Inject(nil)
	tally.cases++
	key := fb.FiredKey()
	orphan := ""
	if err != nil {
		tally.reported++
		if cause != nil {
			assert.ErrorIs(t, err, cause, "%s: the error wraps the cause", name)
		} else {
			assert.ErrorIs(t, err, ferr, "%s: the error wraps the cause", name)
		}
		for _, secret := range []string{faultOld1, faultOld2, faultNew, raw} {
			assert.NotContains(t, err.Error(), secret, "%s: the error names a value", name)
		}
	} else if fb.FiredOp() == faultbackend.OpDelete && strings.HasPrefix(key, "sv/") {
		// Removing a version record after its secret's head no longer
		// names it (delete, prune) is cleanup: a failure leaves an orphan
		// that Doctor lists and RunOnce removes, never a lost or wrong value.
		tally.orphaned++
		if !after { // the delete did not happen: the record is left over
			orphan = key
		}
	} else {
		assert.True(t, strings.HasPrefix(key, "audit"), "%s: the operation succeeded although its write to %q failed", name, key)
		tally.auditOnly++
	}
	require.NoError(t, v.Close())

	// A fresh vault on the same storage, no faults.
	w, err2 := agentvault.New(inner, crashKeyring(t, "k2"))
	require.NoError(t, err2, "%s: New after the fault", name)
	defer w.Close()
	known := map[string]bool{faultOld1: true, faultOld2: true, faultNew: true, crashTokenValue: true}
	for _, p := range []string{"app/s", "app/new", "app/A", "tok/x"} {
		vs, err := w.ListVersions(ctx, p)
		if errors.Is(err, agentvault.ErrNotFound) {
			assert.False(t, p == "app/s" && !op.removes, "%s: app/s lost", name)
			continue
		}
		require.NoError(t, err, "%s: ListVersions(%s) after the fault", name, p)
		for _, vi := range vs {
			if vi.Pruned {
				assert.True(t, op.removes, "%s: %s %s pruned", name, p, vi.Version)
				continue
			}
			s, err := w.GetSecret(ctx, p, agentvault.AtVersion(vi.Version))
			require.NoError(t, err, "%s: GetSecret(%s, %s) after the fault", name, p, vi.Version)
			assert.True(t, known[s.Value.Reveal()], "%s: %s %s reads a value never written", name, p, vi.Version)
			if p == "app/s" && vi.Version == "v1" {
				assert.Equal(t, faultOld1, s.Value.Reveal(), "%s: the previous value", name)
			}
		}
	}
	_, err = w.VerifyAudit(ctx)
	require.NoError(t, err, "%s: VerifyAudit after the fault", name)
	if orphan != "" {
		rep, err := w.Doctor(ctx)
		require.NoError(t, err, "%s: Doctor after the fault", name)
		assert.Contains(t, rep.OrphanVersions, orphan, "%s: Doctor lists the orphan left behind", name)
		assert.True(t, rep.Sound(), "%s: an orphan does not make the vault unsound", name)
	}
	val := agentvault.StringValue("sk-fault-next")
	m, err := w.UpdateSecret(ctx, "tok/x", agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err, "%s: the next write", name)
	assert.Equal(t, "sk-fault-next", get(t, w, "tok/x", agentvault.AtVersion(m.Version)).Value.Reveal(), "%s: the next write reads back", name)
}
