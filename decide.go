package agentvault

import (
	"context"
	"fmt"
	"time"

	"github.com/hiddeco/sshsig"
)

// decider is who makes one decision on an approval request, and on what
// grounds: a registered approver's signature, or the caller's word.
type decider struct {
	who      Actor
	dec      Decision
	groups   []string // the approver's groups, when registered
	sig      *sshsig.Signature
	approver *Approver
	armored  string
	trust    string // TrustSigned, TrustTrustedCaller, or "" (no approvers registered)
}

// decider identifies who makes decision d: with a signature, the
// registered approver whose key made it (verified later, against the
// record, by verify); without one, the caller, when no approvers are
// registered or the vault trusts callers (WithTrustedCallerApprovals).
// It records the approver and fingerprint on e.
func (v *AgentVault) decider(ctx context.Context, e *AuditEvent, signature []byte, d Decision) (*decider, error) {
	reg, _, err := v.loadRegistry(ctx)
	if err != nil {
		return nil, err
	}
	if len(signature) == 0 {
		who, err := v.ctxActor(ctx)
		if err != nil {
			return nil, err
		}
		e.Actor = who
		out := &decider{who: who, dec: d}
		if !reg.any && !v.opts.access.requireSigned {
			return out, nil
		}
		if !v.opts.access.trustedCallers {
			if !reg.any {
				return nil, fmt.Errorf("%w: the vault requires signed approvals (WithRequireSignedApprovals) and no approver is registered", ErrSignatureRequired)
			}
			return nil, fmt.Errorf("%w: approvers are registered, and %s gave no signature over the %s statement (ApprovalStatement; ass approvals statement ID); a name alone is not accepted",
				ErrSignatureRequired, who.ID, d)
		}
		if a := reg.names[who.ID]; a != nil {
			out.groups = a.Groups
		}
		out.trust = TrustTrustedCaller
		e.Approver = who.ID
		return out, nil
	}
	sig, a, err := parseSignature(signature, reg)
	if err != nil {
		return nil, err
	}
	who := Actor{Kind: ActorHuman, ID: a.Name}
	e.Actor, e.Approver, e.Fingerprint = who, a.Name, fingerprintOf(sig)
	return &decider{who: who, dec: d, groups: a.Groups, sig: sig, approver: a,
		armored: string(sshsig.Armor(sig)), trust: TrustSigned}, nil
}

// verify checks the signature, if any, against r's statement for the
// decision.
func (d *decider) verify(v *AgentVault, r *approvalRecord) error {
	if d.sig == nil {
		return nil
	}
	return verifySignature(d.sig, d.approver, v.statement(r, d.dec))
}

// eligible checks the approver against the rules' From lists.
func (d *decider) eligible(r *approvalRecord) error {
	for _, from := range r.From {
		ok := false
		for _, f := range from {
			if f == d.who.ID {
				ok = true
			}
			for _, g := range d.groups {
				if f == "group:"+g {
					ok = true
				}
			}
		}
		if !ok {
			return fmt.Errorf("%w: the policy for this request takes approvals only from %v; %s is not one of them", ErrApprovalForbidden, from, d.who.ID)
		}
	}
	return nil
}

// vote is the approval d makes.
func (d *decider) vote(now time.Time) Vote {
	vt := Vote{Approver: d.who, At: now.UTC(), Trust: d.trust, Signature: d.armored}
	if d.sig != nil {
		vt.Fingerprint = fingerprintOf(d.sig)
	}
	return vt
}

// decision is the record of a denial or cancellation, or nil when there is
// nothing to record beyond DecidedBy (no approvers registered).
func (d *decider) decision(now time.Time) *Vote {
	if d.trust == "" {
		return nil
	}
	vt := d.vote(now)
	return &vt
}

// note is what the audit reason adds about the grounds of the decision.
func (d *decider) note() string {
	if d.trust == "" {
		return ""
	}
	return "; " + d.trust
}

// signedVotesStand checks, at redemption, that every signed vote's key
// still belongs to the approver it was counted for.
func signedVotesStand(reg *registry, votes []Vote) error {
	for _, vt := range votes {
		if vt.Trust != TrustSigned {
			continue
		}
		ok := false
		for _, a := range reg.byFP[vt.Fingerprint] {
			ok = ok || a.Name == vt.Approver.ID
		}
		if !ok {
			return fmt.Errorf("%w: the approval by %s no longer counts: key %s is no longer a registered approver's", ErrApprovalForbidden, vt.Approver.ID, vt.Fingerprint)
		}
	}
	return nil
}
