package agentvault

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// SignatureNamespace is the SSHSIG namespace of approval signatures:
// ssh-keygen -Y sign -n agentvault-approval.
const SignatureNamespace = "agentvault-approval"

// StatementVersion is the first line of the statement format signed today.
const StatementVersion = "agentvault approval statement v1"

// MaxSignatureLen bounds the signature Approve, Deny and CancelApproval
// accept (an armored RSA-8192 signature is under 3 KiB).
const MaxSignatureLen = 16 << 10

// Decision is what an approver's signature decides.
type Decision string

// The decisions a statement can carry.
const (
	DecisionApprove Decision = "approve"
	DecisionDeny    Decision = "deny"
	DecisionCancel  Decision = "cancel"
)

// statement is the canonical text an approver signs. Every line is
// "field: value"; a list field repeats its line, in stored order. Values
// come from validated records (no control characters); any that held one
// would be quoted, so no value can forge a line. The format is frozen:
// a change gets a new version line.
func (v *AgentVault) statement(r *approvalRecord, d Decision) []byte {
	var b bytes.Buffer
	line := func(k, val string) {
		if strings.IndexFunc(val, controlRune) >= 0 || strings.TrimSpace(val) != val {
			val = strconv.Quote(val)
		}
		b.WriteString(k + ": " + val + "\n")
	}
	b.WriteString(StatementVersion + "\n")
	line("namespace", SignatureNamespace)
	line("vault", hex.EncodeToString(v.id[:]))
	line("approval", r.ID)
	line("decision", string(d))
	line("requester", string(r.RequestedBy.Kind)+":"+r.RequestedBy.ID)
	line("tier", string(r.Tier))
	for _, s := range r.Scopes {
		line("scope", s)
	}
	for _, ip := range r.AllowedIPs {
		line("allowed-ip", ip)
	}
	line("token-ttl", time.Duration(r.TTL).String())
	line("token-max-uses", strconv.Itoa(r.MaxUses))
	line("request-expires", timeUTC(r.requestExpires()).Format(time.RFC3339))
	return b.Bytes()
}

// requestExpires is when the request stops being open for decisions.
func (r *approvalRecord) requestExpires() int64 {
	if r.RequestExpiresAt != 0 {
		return r.RequestExpiresAt
	}
	return r.ExpiresAt // a record written before the field existed
}

func validDecision(d Decision) error {
	switch d {
	case DecisionApprove, DecisionDeny, DecisionCancel:
		return nil
	}
	return fmt.Errorf("%w: decision must be approve, deny or cancel", ErrInvalidInput)
}

// ApprovalStatement returns the statement an approver signs to make
// decision d on request id: the canonical text (see StatementVersion) that
// names this vault, the request, its requester, scopes, tier, token TTL
// and uses, its expiry and the decision. Sign it with SignStatement, or
// with ssh-keygen -Y sign -n agentvault-approval -f KEY FILE, and pass the
// signature to Approve, Deny or CancelApproval. Audited as approval.read.
func (v *AgentVault) ApprovalStatement(ctx context.Context, id string, d Decision) (_ []byte, err error) {
	const op = "approval statement"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	defer v.auditOp(ctx, EventApprovalRead, id, &err)
	if err := validDecision(d); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	rec, _, err := v.loadApproval(ctx, id)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	return v.statement(rec, d), nil
}

// SignStatement signs a statement with signer in the SSHSIG format, as
// ssh-keygen -Y sign -n agentvault-approval does, and returns the armored
// signature ("-----BEGIN SSH SIGNATURE-----"). signer may hold a key read
// from a file (ssh.ParsePrivateKey) or one in ssh-agent (agent.NewClient's
// Signers).
func SignStatement(statement []byte, signer ssh.Signer) ([]byte, error) {
	sig, err := sshsig.Sign(bytes.NewReader(statement), signer, sshsig.HashSHA512, SignatureNamespace)
	if err != nil {
		return nil, fmt.Errorf("agentvault: sign statement: %w", err)
	}
	return sshsig.Armor(sig), nil
}

// signedBy is a verified signature: who made it, with which key.
type signedBy struct {
	approver    *Approver
	fingerprint string
	armored     string
}

// parseSignature reads an armored or binary SSHSIG signature and finds
// the registered approver whose key made it. It does not verify it.
func parseSignature(raw []byte, reg *registry) (*sshsig.Signature, *Approver, error) {
	if len(raw) > MaxSignatureLen {
		return nil, nil, fmt.Errorf("%w: signature is over %d bytes", ErrBadSignature, MaxSignatureLen)
	}
	var sig *sshsig.Signature
	var err error
	if t := bytes.TrimSpace(raw); bytes.HasPrefix(t, []byte("-----BEGIN")) {
		sig, err = sshsig.Unarmor(t)
	} else {
		sig, err = sshsig.ParseSignature(raw)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: not an SSH signature (want the .sig file ssh-keygen -Y sign writes)", ErrBadSignature)
	}
	if sig.Namespace != SignatureNamespace {
		return nil, nil, fmt.Errorf("%w: made for namespace %q, want %q (ssh-keygen -Y sign -n %s)",
			ErrBadSignature, truncate(sig.Namespace, 64), SignatureNamespace, SignatureNamespace)
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	owners := reg.byFP[fp]
	switch {
	case len(owners) == 0:
		return nil, nil, fmt.Errorf("%w: key %s is not a registered approver's", ErrBadSignature, fp)
	case len(owners) > 1:
		return nil, nil, fmt.Errorf("%w: key %s is registered to more than one approver", ErrBadSignature, fp)
	}
	return sig, owners[0], nil
}

// verifySignature checks that sig, made by the key of approver a, is over
// statement.
func verifySignature(sig *sshsig.Signature, a *Approver, statement []byte) error {
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	for _, k := range a.Keys {
		if k.Fingerprint != fp {
			continue
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.PublicKey))
		if err != nil {
			return fmt.Errorf("%w: approver %s's key %s cannot be read", ErrBadSignature, a.Name, fp)
		}
		if err := sshsig.Verify(bytes.NewReader(statement), sig, pub, sig.HashAlgorithm, SignatureNamespace); err != nil {
			return fmt.Errorf("%w: the signature by %s (%s) is not over this request's statement for this decision in this vault", ErrBadSignature, a.Name, fp)
		}
		return nil
	}
	return fmt.Errorf("%w: key %s is not a registered approver's", ErrBadSignature, fp)
}

func fingerprintOf(sig *sshsig.Signature) string { return ssh.FingerprintSHA256(sig.PublicKey) }
