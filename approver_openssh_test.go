package agentvault_test

import (
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/internal/sshtest"
)

// fileSigner reads an ssh-keygen private key file.
func fileSigner(t *testing.T, k sshtest.Key) ssh.Signer {
	t.Helper()
	pem, err := os.ReadFile(k.Path)
	require.NoError(t, err)
	s, err := ssh.ParsePrivateKey(pem)
	require.NoError(t, err)
	return s
}

// TestSignedApprovalOpenSSHInterop: for each accepted key type, a
// signature made by ssh-keygen -Y sign is accepted, and one made by
// SignStatement verifies with ssh-keygen -Y verify against an
// allowed_signers file.
func TestSignedApprovalOpenSSHInterop(t *testing.T) {
	for _, kt := range []struct {
		typ  string
		bits int
	}{{"ed25519", 0}, {"ecdsa", 256}, {"ecdsa", 384}, {"ecdsa", 521}, {"rsa", 3072}} {
		t.Run(kt.typ+"-"+strconv.Itoa(kt.bits), func(t *testing.T) {
			alice := sshtest.GenKey(t, kt.typ, kt.bits, "alice@laptop")
			carol := sshtest.GenKey(t, kt.typ, kt.bits, "carol@laptop")
			v, _ := newVault(t)
			createTier(t, v, "prod/db", "pw", agentvault.TierCritical)
			for name, k := range map[string]sshtest.Key{"alice": alice, "carol": carol} {
				_, err := v.AddApprover(ctx, agentvault.ApproverInput{Name: name, Keys: []string{k.Public}})
				require.NoError(t, err, "AddApprover(%s, %s)", name, kt.typ)
			}
			id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:prod/*"}})
			st, err := v.ApprovalStatement(ctx, id, agentvault.DecisionApprove)
			require.NoError(t, err)

			// ssh-keygen's signature, accepted.
			a, err := v.ApproveSigned(ctx, id, sshtest.Sign(t, alice, sshtest.Namespace, st))
			require.NoError(t, err, "ApproveSigned(ssh-keygen -Y sign)")
			assert.Equal(t, "alice", a.Votes[0].Approver.ID)

			// ssh-keygen signing in another namespace, refused.
			_, err = v.ApproveSigned(ctx, id, sshtest.Sign(t, carol, "file", st))
			assert.ErrorIs(t, err, agentvault.ErrBadSignature, "ssh-keygen -Y sign -n file")

			// Ours, verified by ssh-keygen, then accepted.
			ours, err := agentvault.SignStatement(st, fileSigner(t, carol))
			require.NoError(t, err)
			out, err := sshtest.Verify(t, carol, "carol", sshtest.Namespace, st, ours)
			require.NoError(t, err, "ssh-keygen -Y verify: %s", out)
			out, err = sshtest.Verify(t, carol, "carol", "file", st, ours)
			assert.Error(t, err, "ssh-keygen -Y verify in another namespace: %s", out)
			out, err = sshtest.Verify(t, carol, "carol", sshtest.Namespace, append(st, 'x'), ours)
			assert.Error(t, err, "ssh-keygen -Y verify of another message: %s", out)
			a, err = v.ApproveSigned(ctx, id, ours)
			require.NoError(t, err)
			assert.Equal(t, agentvault.ApprovalApproved, a.State)
		})
	}
}

// TestSignedApprovalThroughSSHAgent signs with the key a real ssh-agent
// holds, on a private socket.
func TestSignedApprovalThroughSSHAgent(t *testing.T) {
	alice := sshtest.GenKey(t, "ed25519", 0, "alice")
	carolRSA := sshtest.GenKey(t, "rsa", 3072, "carol")
	other := sshtest.GenKey(t, "ed25519", 0, "other")
	ag := sshtest.StartAgent(t, other, alice, carolRSA)

	v, _ := newVault(t)
	createTier(t, v, "prod/db", "pw", agentvault.TierCritical)
	_, err := v.AddApprover(ctx, agentvault.ApproverInput{Name: "alice", Keys: []string{alice.Public}})
	require.NoError(t, err)
	_, err = v.AddApprover(ctx, agentvault.ApproverInput{Name: "carol", Keys: []string{carolRSA.Public}})
	require.NoError(t, err)
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:prod/*"}})
	st, err := v.ApprovalStatement(ctx, id, agentvault.DecisionApprove)
	require.NoError(t, err)

	conn, err := net.Dial("unix", ag.Socket)
	require.NoError(t, err)
	defer conn.Close()
	signers, err := agent.NewClient(conn).Signers()
	require.NoError(t, err)
	require.Len(t, signers, 3)
	byFP := map[string]ssh.Signer{}
	for _, s := range signers {
		byFP[ssh.FingerprintSHA256(s.PublicKey())] = s
	}
	for _, k := range []sshtest.Key{other, alice, carolRSA} {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Public))
		require.NoError(t, err)
		s := byFP[ssh.FingerprintSHA256(pub)]
		require.NotNil(t, s, "the agent holds %s", k.Path)
		sig, err := agentvault.SignStatement(st, s)
		require.NoError(t, err)
		_, err = v.ApproveSigned(ctx, id, sig)
		if k == other {
			assert.ErrorIs(t, err, agentvault.ErrBadSignature, "the agent's unregistered key")
			continue
		}
		require.NoError(t, err, "ApproveSigned(agent signature by %s)", k.Path)
		out, verr := sshtest.Verify(t, k, "x", sshtest.Namespace, st, sig)
		assert.NoError(t, verr, "ssh-keygen -Y verify of the agent's signature: %s", out)
	}
	a, err := v.GetApproval(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, agentvault.ApprovalApproved, a.State)
	_, err = v.RedeemApproval(bob, id)
	require.NoError(t, err)
}
