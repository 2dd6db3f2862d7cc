package agentvault_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
)

// approvedToken requests a token for scopes, has alice and carol approve
// it, and redeems it as bob.
func approvedToken(t *testing.T, v *agentvault.AgentVault, scopes ...string) *agentvault.Token {
	t.Helper()
	id := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: scopes})
	_, err := v.Approve(alice, id)
	require.NoError(t, err)
	if a, err := v.GetApproval(ctx, id); err == nil && a.State != agentvault.ApprovalApproved {
		_, err = v.Approve(carol, id)
		require.NoError(t, err)
	}
	tok, err := v.RedeemApproval(bob, id)
	require.NoError(t, err)
	return tok
}

// TestSessionCannotLowerTier: a write token approved at critical may not
// lower the secret's tier (the laundering that let a standard token,
// issued without approval, read every critical version).
func TestSessionCannotLowerTier(t *testing.T) {
	for _, from := range []agentvault.AccessTier{agentvault.TierCritical, agentvault.TierSensitive} {
		t.Run(string(from), func(t *testing.T) {
			v, _ := newVault(t)
			createTier(t, v, "pay/key", "critical-era", from)
			w := approvedToken(t, v, "secrets:write:pay/*")
			s := v.Session(w.Value.Reveal())

			for _, to := range []agentvault.AccessTier{agentvault.TierStandard, agentvault.TierSensitive} {
				if to.Rank() >= from.Rank() {
					continue
				}
				_, err := s.UpdateSecret(ctx, "pay/key", agentvault.UpdateSecretInput{Tier: to})
				assert.ErrorIs(t, err, agentvault.ErrTierDenied, "Session.UpdateSecret(Tier %s) of a %s secret", to, from)
				val := agentvault.StringValue("new")
				_, err = s.UpdateSecret(ctx, "pay/key", agentvault.UpdateSecretInput{Tier: to, Value: &val})
				assert.ErrorIs(t, err, agentvault.ErrTierDenied, "with a value too")
			}
			m, err := v.GetMetadata(ctx, "pay/key")
			require.NoError(t, err)
			assert.Equal(t, from, m.Tier, "tier unchanged")
			assert.Equal(t, "v1", m.Version, "nothing written")

			// Raising (or keeping) the tier through the session is fine.
			_, err = s.UpdateSecret(ctx, "pay/key", agentvault.UpdateSecretInput{Tier: from})
			require.NoError(t, err)

			// No standard token, issued without approval, reads it.
			r := requireApproval(t, v, bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:pay/*"}})
			assert.NotEmpty(t, r)
		})
	}
}

// TestLoweredTierKeepsVersionFloors: the owner lowers a critical secret to
// standard (audited as secret.tier_lowered); a standard token then reads
// the versions written after, never the critical-era ones, "previous"
// included; a critical token reads them all.
func TestLoweredTierKeepsVersionFloors(t *testing.T) {
	v, b := newVault(t)
	createTier(t, v, "pay/key", "crit-1", agentvault.TierCritical)
	val := agentvault.StringValue("crit-2")
	_, err := v.UpdateSecret(ctx, "pay/key", agentvault.UpdateSecretInput{Value: &val})
	require.NoError(t, err)

	m, err := v.UpdateSecret(alice, "pay/key", agentvault.UpdateSecretInput{Tier: agentvault.TierStandard})
	require.NoError(t, err)
	assert.Equal(t, agentvault.TierStandard, m.Tier)
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{Event: agentvault.EventSecretTierLowered})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, "pay/key", evs[0].Path)
	assert.Equal(t, agentvault.TierStandard, evs[0].Tier)
	assert.Equal(t, "from critical to standard", evs[0].Reason)
	assert.Equal(t, agentvault.Actor{Kind: agentvault.ActorHuman, ID: "alice"}, evs[0].Actor)

	vs, err := v.ListVersions(ctx, "pay/key")
	require.NoError(t, err)
	require.Len(t, vs, 2)
	assert.Equal(t, agentvault.TierCritical, vs[0].MinTier, "ListVersions shows v1's floor")
	assert.Equal(t, agentvault.TierCritical, vs[1].MinTier, "ListVersions shows v2's floor")

	stdValue := requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:pay/*"}}).Value.Reveal()
	std := v.Session(stdValue)
	for _, ver := range []string{"", "v1", "v2"} {
		var opts []agentvault.GetOption
		if ver != "" {
			opts = append(opts, agentvault.AtVersion(ver))
		}
		_, err := std.GetSecret(ctx, "pay/key", opts...)
		assert.ErrorIs(t, err, agentvault.ErrTierDenied, "standard token reads critical-era %q", ver)
	}

	// A value written after the lowering is standard; the critical-era
	// version stays closed as "previous" during a grace period.
	val = agentvault.StringValue("std-3")
	_, err = v.UpdateSecret(ctx, "pay/key", agentvault.UpdateSecretInput{Value: &val, GracePeriod: 3600e9})
	require.NoError(t, err)
	s, err := std.GetSecret(ctx, "pay/key")
	require.NoError(t, err)
	assert.Equal(t, "std-3", s.Value.Reveal())
	_, err = std.GetSecret(ctx, "pay/key", agentvault.AtVersion(agentvault.PreviousVersion))
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "previous is a critical-era version")

	// Nor may a standard delete token destroy the critical-era versions.
	del := v.Session(requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:delete:pay/*"}}).Value.Reveal())
	assert.ErrorIs(t, del.DeleteSecret(ctx, "pay/key"), agentvault.ErrTierDenied)

	// Floors survive a reopen (they are in the authenticated record), and
	// raising then lowering again keeps the highest floor.
	_, err = v.UpdateSecret(ctx, "pay/key", agentvault.UpdateSecretInput{Tier: agentvault.TierSensitive})
	require.NoError(t, err)
	_, err = v.UpdateSecret(ctx, "pay/key", agentvault.UpdateSecretInput{Tier: agentvault.TierStandard})
	require.NoError(t, err)
	_, err = std.GetSecret(ctx, "pay/key", agentvault.AtVersion("v3"))
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "v3 was written at standard, then the tier was sensitive")
	createTier(t, v, "vault/critical", "c", agentvault.TierCritical)
	crit := v.Session(approvedToken(t, v, "secrets:read:pay/*", "secrets:read:vault/critical").Value.Reveal())
	for ver, want := range map[string]string{"v1": "crit-1", "v2": "crit-2", "v3": "std-3"} {
		s, err := v.GetSecret(ctx, "pay/key", agentvault.AtVersion(ver))
		require.NoError(t, err, "the owner reads %s", ver)
		assert.Equal(t, want, s.Value.Reveal())
		s, err = crit.GetSecret(ctx, "pay/key", agentvault.AtVersion(ver))
		require.NoError(t, err, "a critical token reads %s", ver)
		assert.Equal(t, want, s.Value.Reveal())
	}
	reopened, err := agentvault.New(b, testKey(t))
	require.NoError(t, err)
	defer reopened.Close()
	_, err = reopened.Session(stdValue).GetSecret(ctx, "pay/key", agentvault.AtVersion("v1"))
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "after a reopen")
}

// TestWriteTokenCannotLaunderTierThroughOtherWrites: a hostile agent whose
// write token was approved only at standard tries every other write a
// Session offers to reach a lowered secret's critical-era value: import
// with Overwrite and a standard default tier, rotate, and rollback to the
// critical-era version. None changes the tier, none is allowed on a secret
// whose stored versions are above the token, and a standard read token
// never reads the critical-era value, active or not.
func TestWriteTokenCannotLaunderTierThroughOtherWrites(t *testing.T) {
	v, _ := newVault(t)
	createTier(t, v, "pay/KEY", "crit-era", agentvault.TierCritical)
	// The owner lowers the tier: v1 keeps its critical floor.
	val := agentvault.StringValue("std-era")
	_, err := v.UpdateSecret(ctx, "pay/KEY", agentvault.UpdateSecretInput{Tier: agentvault.TierStandard, Value: &val})
	require.NoError(t, err)

	w := v.Session(requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:write:pay/*"}}).Value.Reveal())
	_, err = w.Rollback(ctx, "pay/KEY", "v1")
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "rollback to the critical-era version through a standard write token")
	_, err = w.RotateSecret(ctx, "pay/KEY", agentvault.RotateOptions{Value: &val})
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "rotate a secret holding a critical-era version")
	_, err = w.ImportEnv(ctx, strings.NewReader("KEY=y\n"), agentvault.ImportOptions{Namespace: "pay", Tier: agentvault.TierStandard, Overwrite: true})
	assert.Error(t, err, "import over a secret holding a critical-era version")

	m, err := v.GetMetadata(ctx, "pay/KEY")
	require.NoError(t, err)
	assert.Equal(t, "v2", m.Version, "nothing written, nothing rolled back")
	assert.Equal(t, agentvault.TierStandard, m.Tier)

	// Even once the owner rolls back, a standard reader never gets v1.
	_, err = v.Rollback(ctx, "pay/KEY", "v1")
	require.NoError(t, err)
	r := v.Session(requestToken(t, v, agentvault.TokenRequest{Scopes: []string{"secrets:read:pay/*"}}).Value.Reveal())
	_, err = r.GetSecret(ctx, "pay/KEY")
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "the active critical-era version through a standard read token")
	_, err = r.GetSecret(ctx, "pay/KEY", agentvault.AtVersion("v1"))
	assert.ErrorIs(t, err, agentvault.ErrTierDenied, "v1 by number")
}
