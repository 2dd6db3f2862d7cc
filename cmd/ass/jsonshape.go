package main

import (
	"time"

	"github.com/agentvault/agentvault"
)

// The library's types marshal as the vault stores them. These wrappers give
// ass --json honest shapes: durations as strings ("10m0s"), no zero times,
// and the states and counts a listing's reader would otherwise compute. A
// wrapper field shadows the embedded field of the same JSON name; every
// other field of the library type passes through unchanged.

// tokenInfoJSON is a token in "ass token list --json": state is active,
// expired, spent or revoked, as in the text listing.
type tokenInfoJSON struct {
	agentvault.TokenInfo
	State string `json:"state"`
}

func toTokenInfoJSON(ts []agentvault.TokenInfo, now time.Time) []tokenInfoJSON {
	out := make([]tokenInfoJSON, len(ts))
	for i, t := range ts {
		out[i] = tokenInfoJSON{TokenInfo: t, State: tokenState(t, now)}
	}
	return out
}

// approvalJSON is an approval request: ttl and delay as duration strings,
// ready_at only once the request is approved.
type approvalJSON struct {
	agentvault.Approval
	TTL     string     `json:"ttl"`
	Delay   string     `json:"delay"`
	ReadyAt *time.Time `json:"ready_at,omitempty"`
}

func toApprovalJSON(a *agentvault.Approval) approvalJSON {
	return approvalJSON{Approval: *a, TTL: a.TTL.String(), Delay: a.Delay.String(), ReadyAt: utcOrNil(a.ReadyAt)}
}

func toApprovalsJSON(as []agentvault.Approval) []approvalJSON {
	out := make([]approvalJSON, len(as))
	for i := range as {
		out[i] = toApprovalJSON(&as[i])
	}
	return out
}

// lifecycleJSON is "ass lifecycle run --once --json": pruned is always a
// list, and pruned_versions counts the versions it holds.
type lifecycleJSON struct {
	*agentvault.LifecycleReport
	Pruned         []agentvault.PruneResult `json:"pruned"`
	PrunedVersions int                      `json:"pruned_versions"`
}

func toLifecycleJSON(rep *agentvault.LifecycleReport) lifecycleJSON {
	out := lifecycleJSON{LifecycleReport: rep, Pruned: rep.Pruned}
	if out.Pruned == nil {
		out.Pruned = []agentvault.PruneResult{}
	}
	for _, p := range rep.Pruned {
		out.PrunedVersions += len(p.Pruned)
	}
	return out
}
