package agentvault_test

import (
	"errors"
	"testing"

	"github.com/agentvault/agentvault"
)

// FuzzApproveSignature: whatever bytes are presented as a signature,
// ApproveSigned never panics and never counts an approval unless they are
// a registered approver's valid signature over the statement.
func FuzzApproveSignature(f *testing.F) {
	s := newSignedSetup(f)
	_, err := s.v.RequestToken(bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:prod/*"}})
	var are *agentvault.ApprovalRequiredError
	if !errors.As(err, &are) {
		f.Fatalf("RequestToken err = %v, want *ApprovalRequiredError", err)
	}
	id := are.ApprovalID
	valid := sign(f, s.v, id, agentvault.DecisionApprove, s.alice)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"))
	f.Add([]byte("SSHSIG\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, sig []byte) {
		a, err := s.v.ApproveSigned(ctx, id, sig)
		if err == nil {
			if len(a.Votes) != 1 || a.Votes[0].Approver.ID != "alice" || a.Votes[0].Fingerprint == "" {
				t.Fatalf("ApproveSigned accepted %q as %+v", sig, a.Votes)
			}
		}
	})
}
