package agentvault_test

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/filebackend"
)

// TestCloseDuringWritesLosesNothing closes the vault while 32 goroutines
// update existing secrets on the file backend, then reopens it: no record
// may fail its MAC (a write sealed with a wiped key), and every version
// an update acknowledged must read back with its value.
func TestCloseDuringWritesLosesNothing(t *testing.T) {
	const rounds, workers, secrets = 100, 32, 4
	if testing.Short() {
		t.Skip("100 rounds on the file backend")
	}
	k := testKey(t)
	for round := 0; round < rounds; round++ {
		dir := memTempDir(t)
		fb, err := filebackend.Open(dir)
		require.NoError(t, err)
		v, err := agentvault.New(fb, k)
		require.NoError(t, err)
		for i := 0; i < secrets; i++ {
			create(t, v, fmt.Sprintf("app/s%d", i), "init")
		}

		type ack struct{ path, version, value string }
		var (
			mu    sync.Mutex
			acked []ack
			done  atomic.Int32
			wg    sync.WaitGroup
		)
		start := make(chan struct{})
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				<-start
				for i := 0; ; i++ {
					path := fmt.Sprintf("app/s%d", (w+i)%secrets)
					val := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					sv := agentvault.StringValue(val)
					m, err := v.UpdateSecret(ctx, path, agentvault.UpdateSecretInput{Value: &sv})
					if errors.Is(err, agentvault.ErrClosed) {
						return
					}
					if !assert.NoError(t, err, "UpdateSecret(%q)", path) {
						return
					}
					mu.Lock()
					acked = append(acked, ack{path, m.Version, val})
					mu.Unlock()
					done.Add(1)
				}
			}(w)
		}
		close(start)
		// Close once a few updates have landed, with the rest in flight.
		for done.Load() < workers/4 {
			runtime.Gosched()
		}
		require.NoError(t, v.Close())
		wg.Wait()
		require.NoError(t, fb.Close())

		fb, err = filebackend.Open(dir)
		require.NoError(t, err)
		v, err = agentvault.New(fb, k)
		require.NoError(t, err)
		for i := 0; i < secrets; i++ {
			path := fmt.Sprintf("app/s%d", i)
			_, err := v.GetSecret(ctx, path)
			require.NoError(t, err, "round %d: GetSecret(%q) after reopen", round, path)
		}
		for _, a := range acked {
			s, err := v.GetSecret(ctx, a.path, agentvault.AtVersion(a.version))
			require.NoError(t, err, "round %d: GetSecret(%q, %s) of an acknowledged update", round, a.path, a.version)
			require.Equal(t, a.value, s.Value.Reveal(), "round %d: %s %s", round, a.path, a.version)
		}
		// Every acknowledged update was audited, under an intact key.
		_, err = v.VerifyAudit(ctx)
		require.NoError(t, err, "round %d: VerifyAudit after reopen", round)
		evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretUpdated})
		require.NoError(t, err)
		audited := map[string]bool{}
		for _, e := range evs {
			if e.Outcome == agentvault.OutcomeAllowed {
				audited[e.Path+" "+e.Version] = true
			}
		}
		for _, a := range acked {
			require.True(t, audited[a.path+" "+a.version], "round %d: update %s %s not audited", round, a.path, a.version)
		}
		require.NoError(t, v.Close())
		require.NoError(t, fb.Close())
	}
}

// TestClosedVaultRefusesEveryOperation checks that every public operation
// of a closed vault and of its Sessions fails with ErrClosed (each one
// enters the gate Close drains before wiping the keys).
func TestClosedVaultRefusesEveryOperation(t *testing.T) {
	v, _ := newVault(t)
	create(t, v, "a/b", "x")
	val := agentvault.StringValue("y")
	s := v.Session(agentvault.TokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	require.NoError(t, v.Close())

	calls := map[string]func() error{
		"CreateSecret": func() error {
			_, err := v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "a/c", Value: val})
			return err
		},
		"GetSecret":   func() error { _, err := v.GetSecret(ctx, "a/b"); return err },
		"GetMetadata": func() error { _, err := v.GetMetadata(ctx, "a/b"); return err },
		"UpdateSecret": func() error {
			_, err := v.UpdateSecret(ctx, "a/b", agentvault.UpdateSecretInput{Value: &val})
			return err
		},
		"DeleteSecret": func() error { return v.DeleteSecret(ctx, "a/b") },
		"ListSecrets":  func() error { _, err := v.ListSecrets(ctx, agentvault.ListFilter{}); return err },
		"ListVersions": func() error { _, err := v.ListVersions(ctx, "a/b"); return err },
		"Rollback":     func() error { _, err := v.Rollback(ctx, "a/b", "v1"); return err },
		"RotateSecret": func() error { _, err := v.RotateSecret(ctx, "a/b", agentvault.RotateOptions{}); return err },
		"SetRotationSchedule": func() error {
			_, err := v.SetRotationSchedule(ctx, "a/b", 0, 0)
			return err
		},
		"RotateDue":        func() error { _, err := v.RotateDue(ctx); return err },
		"CheckExpirations": func() error { _, err := v.CheckExpirations(ctx); return err },
		"PruneVersions":    func() error { _, err := v.PruneVersions(ctx, "a/b"); return err },
		"RunOnce":          func() error { _, err := v.RunOnce(ctx); return err },
		"RemoveOrphans":    func() error { _, err := v.RemoveOrphans(ctx); return err },
		"Rewrap":           func() error { _, err := v.Rewrap(ctx, agentvault.RewrapOptions{}); return err },
		"ImportEnv": func() error {
			_, err := v.ImportEnv(ctx, strings.NewReader("A=1\n"), agentvault.ImportOptions{Namespace: "imp"})
			return err
		},
		"QueryAudit":     func() error { _, err := v.QueryAudit(ctx, agentvault.AuditQuery{}); return err },
		"VerifyAudit":    func() error { _, err := v.VerifyAudit(ctx); return err },
		"VerifyAuditLog": func() error { _, err := v.VerifyAuditLog(strings.NewReader("")); return err },
		"RequestToken": func() error {
			_, err := v.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:x/*"}})
			return err
		},
		"RevokeToken":    func() error { return v.RevokeToken(ctx, "acc_000000000000000000000000") },
		"ListTokens":     func() error { _, err := v.ListTokens(ctx); return err },
		"Approve":        func() error { _, err := v.Approve(ctx, "apr_x"); return err },
		"Deny":           func() error { _, err := v.Deny(ctx, "apr_x", ""); return err },
		"CancelApproval": func() error { _, err := v.CancelApproval(ctx, "apr_x"); return err },
		"GetApproval":    func() error { _, err := v.GetApproval(ctx, "apr_x"); return err },
		"ListApprovals":  func() error { _, err := v.ListApprovals(ctx); return err },
		"RedeemApproval": func() error { _, err := v.RedeemApproval(ctx, "apr_x"); return err },
		"ApproveSigned":  func() error { _, err := v.ApproveSigned(ctx, "apr_x", []byte("sig")); return err },
		"DenySigned":     func() error { _, err := v.DenySigned(ctx, "apr_x", "", []byte("sig")); return err },
		"CancelSigned":   func() error { _, err := v.CancelSigned(ctx, "apr_x", []byte("sig")); return err },
		"ApprovalStatement": func() error {
			_, err := v.ApprovalStatement(ctx, "apr_x", agentvault.DecisionApprove)
			return err
		},
		"AddApprover": func() error {
			_, err := v.AddApprover(ctx, agentvault.ApproverInput{Name: "a", Keys: []string{"x"}})
			return err
		},
		"RemoveApprover": func() error { return v.RemoveApprover(ctx, "a") },
		"ListApprovers":  func() error { _, err := v.ListApprovers(ctx); return err },
		"CreateAgent": func() error {
			_, _, err := v.CreateAgent(ctx, agentvault.CreateAgentInput{Name: "a", Scopes: []string{"secrets:read:x/*"}})
			return err
		},
		"UpdateAgent":       func() error { _, err := v.UpdateAgent(ctx, "agt_x", agentvault.UpdateAgentInput{}); return err },
		"ListAgents":        func() error { _, err := v.ListAgents(ctx); return err },
		"Session.GetSecret": func() error { _, err := s.GetSecret(ctx, "a/b"); return err },
		"Session.ListSecrets": func() error {
			_, err := s.ListSecrets(ctx, agentvault.ListFilter{})
			return err
		},
		"Session.CreateSecret": func() error {
			_, err := s.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "a/d", Value: val})
			return err
		},
		"Session.UpdateSecret": func() error {
			_, err := s.UpdateSecret(ctx, "a/b", agentvault.UpdateSecretInput{Value: &val})
			return err
		},
		"Session.DeleteSecret": func() error { return s.DeleteSecret(ctx, "a/b") },
		"Session.Check":        func() error { _, err := s.Check(ctx); return err },
		"Session.GetMetadata":  func() error { _, err := s.GetMetadata(ctx, "a/b"); return err },
		"Session.ListVersions": func() error { _, err := s.ListVersions(ctx, "a/b"); return err },
		"Session.Rollback":     func() error { _, err := s.Rollback(ctx, "a/b", "v1"); return err },
		"Session.RotateSecret": func() error {
			_, err := s.RotateSecret(ctx, "a/b", agentvault.RotateOptions{Value: &val})
			return err
		},
		"Session.ImportEnv": func() error {
			_, err := s.ImportEnv(ctx, strings.NewReader("A=1\n"), agentvault.ImportOptions{Namespace: "imp"})
			return err
		},
		"Doctor": func() error { _, err := v.Doctor(ctx); return err },
	}
	calls["Run"] = func() error { return v.Run(ctx) }
	for name, call := range calls {
		assert.ErrorIs(t, call(), agentvault.ErrClosed, "%s after Close", name)
	}

	// Every exported method is in the table (or needs no key): a new
	// operation must enter the gate too.
	noKeys := map[string]bool{"Close": true, "Session": true, "MaxValueSize": true, "Now": true, "Session.Now": true,
		"Session.Accessor": true, "Session.String": true, "Session.GoString": true}
	for prefix, typ := range map[string]reflect.Type{"": reflect.TypeOf(v), "Session.": reflect.TypeOf(s)} {
		for i := 0; i < typ.NumMethod(); i++ {
			name := prefix + typ.Method(i).Name
			_, listed := calls[name]
			assert.True(t, listed || noKeys[name], "%s is not checked after Close", name)
		}
	}
}

// memTempDir is t.TempDir on a memory file system when there is one
// (/dev/shm), so that a test of many file-backend rounds measures the
// vault, not fsync.
func memTempDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "agentvault-test-")
		if err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}
