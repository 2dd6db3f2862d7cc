package agentvault

import "fmt"

// AccessTier says how much protection a secret needs. Tiers are ordered:
// standard < sensitive < critical. A tier gates token issuance (approval),
// never the owner's direct access through an AgentVault.
type AccessTier string

// The access tiers.
const (
	// TierStandard: low-risk credentials; tokens are issued at once.
	TierStandard AccessTier = "standard"
	// TierSensitive: elevated risk; token requests need an approval unless
	// the vault's policy lets a request waive it. The default tier.
	TierSensitive AccessTier = "sensitive"
	// TierCritical: maximum protection; token requests always need approval.
	TierCritical AccessTier = "critical"
)

var tierRanks = map[AccessTier]uint8{TierStandard: 1, TierSensitive: 2, TierCritical: 3}

// Rank orders tiers: 1 standard, 2 sensitive, 3 critical, 0 for an unknown tier.
func (t AccessTier) Rank() int { return int(tierRanks[t]) }

// Valid reports whether t is one of the three tiers.
func (t AccessTier) Valid() bool { return tierRanks[t] != 0 }

// ParseAccessTier returns the tier named s, or an error wrapping ErrInvalidInput.
func ParseAccessTier(s string) (AccessTier, error) {
	t := AccessTier(s)
	if !t.Valid() {
		return "", fmt.Errorf("%w: unknown tier %q (want standard, sensitive or critical)", ErrInvalidInput, truncate(s, 32))
	}
	return t, nil
}

var tiersByRank = [...]AccessTier{1: TierStandard, 2: TierSensitive, 3: TierCritical}

func tierFromRank(r uint8) (AccessTier, bool) {
	if r == 0 || int(r) >= len(tiersByRank) {
		return "", false
	}
	return tiersByRank[r], true
}
