package agentvault

import (
	"context"
	"fmt"

	"github.com/agentvault/agentvault/internal/record"
)

// Tier floors. Every version keeps, authenticated in its record, the tier
// in force when it was written (record.Version.Tier, set when the secret's
// tier is lowered): lowering a critical secret to standard does not expose
// its critical-era versions to standard tokens. Reading version N through a
// token needs the token's tier ≥ max(the secret's current tier, N's floor).
// Only the vault itself (AgentVault.UpdateSecret) lowers a tier, audited as
// secret.tier_lowered; through a Session a tier can only be raised.

// EventSecretTierLowered is the audit event of AgentVault.UpdateSecret
// lowering a secret's tier. Tier is the new tier; Reason says
// "from <old> to <new>". (The update itself is audited as secret.updated.)
const EventSecretTierLowered = "secret.tier_lowered"

// versionTier is the tier needed to read ver of rec through a token.
func versionTier(rec *record.Secret, ver *record.Version) AccessTier {
	t, _ := tierFromRank(max(rec.Tier, ver.Tier))
	return t
}

// highestTier is the highest tier any stored version of rec needs.
func highestTier(rec *record.Secret) AccessTier {
	r := rec.Tier
	for i := range rec.Versions {
		r = max(r, rec.Versions[i].Tier)
	}
	t, _ := tierFromRank(r)
	return t
}

// setTier changes rec's tier to rank; when that lowers it, every stored
// version keeps the old tier as its floor. It reports the tier it lowered
// from (0 when it did not lower).
func setTier(rec *record.Secret, rank uint8) (loweredFrom uint8) {
	if rank < rec.Tier {
		loweredFrom = rec.Tier
		for i := range rec.Versions {
			rec.Versions[i].Tier = max(rec.Versions[i].Tier, rec.Tier)
		}
	}
	rec.Tier = rank
	return loweredFrom
}

// validFloors checks the version floors of a decoded record.
func validFloors(rec *record.Secret) bool {
	for i := range rec.Versions {
		if f := rec.Versions[i].Tier; f != 0 {
			if _, ok := tierFromRank(f); !ok {
				return false
			}
		}
	}
	return true
}

// auditTierLowered writes the secret.tier_lowered event of an update.
func (v *AgentVault) auditTierLowered(ctx context.Context, path string, from uint8, to AccessTier) {
	if from == 0 || !v.auditing(ctx) {
		return
	}
	old, _ := tierFromRank(from)
	e := v.event(ctx, EventSecretTierLowered, auditPath(path))
	e.Tier = to
	e.finish(nil)
	e.Reason = fmt.Sprintf("from %s to %s", old, to)
	_ = v.emit(ctx, e)
}

// noTierLowering is the guard of a Session's update: the token's tier must
// cover the secret's current tier, and a new tier may not be below it.
func noTierLowering(tok *tokenRecord, in UpdateSecretInput) func(*record.Secret) error {
	return func(rec *record.Secret) error {
		cur, _ := tierFromRank(rec.Tier)
		if err := tierAllowed(tok, cur); err != nil {
			return err
		}
		if in.Tier != "" && tierRanks[in.Tier] < rec.Tier {
			return fmt.Errorf("%w: a token cannot lower a secret's tier (%s to %s); only the vault owner can (AgentVault.UpdateSecret)", ErrTierDenied, cur, in.Tier)
		}
		return nil
	}
}
