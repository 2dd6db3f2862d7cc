package agentvault

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/agentvault/agentvault/backend"
)

// Approver is a person registered to approve token requests by signing
// their statements with an SSH key (see ApprovalStatement). Once any
// approver is registered, every approval, denial and (by someone other than
// the requester) cancellation must carry such a signature, unless the vault
// was opened with WithTrustedCallerApprovals.
type Approver struct {
	Name    string        `json:"name"`
	Keys    []ApproverKey `json:"keys"`
	Groups  []string      `json:"groups,omitempty"`
	AddedBy string        `json:"added_by"`
	AddedAt time.Time     `json:"added_at"`
}

// ApproverKey is one of an approver's SSH public keys.
type ApproverKey struct {
	Type        string `json:"type"`        // e.g. ssh-ed25519
	Fingerprint string `json:"fingerprint"` // SHA256:… as ssh-keygen -l prints it
	PublicKey   string `json:"public_key"`  // authorized_keys form: type and base64, no comment
}

// ApproverInput describes an approver to register.
type ApproverInput struct {
	// Name is 1–64 characters of A–Z a–z 0–9 . _ - @. An approver's name is
	// the actor its decisions are recorded as; it must differ from every
	// requester it is to approve for (nobody approves their own request).
	Name string
	// Keys are SSH public keys in authorized_keys form ("ssh-ed25519 AAAA…
	// comment"), at least one: ssh-ed25519, ecdsa-sha2-nistp256/384/521,
	// or ssh-rsa of at least 3072 bits (signing with rsa-sha2-256/512). A
	// key may belong to only one approver.
	Keys []string
	// Groups name the groups the approver belongs to (same characters as
	// Name), which TierRule.From may require. Optional.
	Groups []string
}

// Limits of the approver registry.
const (
	MaxApproverKeys   = 16
	MaxApproverGroups = 16
	MinApproverRSA    = 3072 // bits
)

// Errors of signed approvals. Both wrap ErrApprovalForbidden.
var (
	// ErrSignatureRequired is returned by Approve, Deny and CancelApproval
	// when approvers are registered and the call carries no signature.
	ErrSignatureRequired = fmt.Errorf("%w: a registered approver's signature is required", ErrApprovalForbidden)

	// ErrBadSignature is returned when a signature is refused: malformed,
	// made in another namespace or by a key no approver holds, or not over
	// this request's statement for this decision in this vault.
	ErrBadSignature = fmt.Errorf("%w: signature refused", ErrApprovalForbidden)
)

const approverKeyPfx = "apv/"

type approverRecord struct {
	Approver
}

// validApproverName checks an approver or group name.
func validApproverName(what, s string) error {
	ok := s != "" && len(s) <= 64
	for i := 0; ok && i < len(s); i++ {
		ok = segmentByte(s[i]) || s[i] == '@'
	}
	if !ok {
		return fmt.Errorf("%w: %s: want 1–64 characters of A-Z a-z 0-9 . _ - @", ErrInvalidInput, what)
	}
	return noCredential(what, s)
}

// parseApproverKey parses and checks one authorized_keys line.
func parseApproverKey(line string) (ApproverKey, error) {
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return ApproverKey{}, fmt.Errorf("%w: approver key: not an SSH public key in authorized_keys form", ErrInvalidInput)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return ApproverKey{}, fmt.Errorf("%w: approver key: one key per entry", ErrInvalidInput)
	}
	if err := checkApproverKeyType(pub); err != nil {
		return ApproverKey{}, err
	}
	return ApproverKey{
		Type:        pub.Type(),
		Fingerprint: ssh.FingerprintSHA256(pub),
		PublicKey:   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
	}, nil
}

func checkApproverKeyType(pub ssh.PublicKey) error {
	switch pub.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return nil
	case ssh.KeyAlgoRSA:
		cp, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return fmt.Errorf("%w: approver key: unreadable RSA key", ErrInvalidInput)
		}
		rk, ok := cp.CryptoPublicKey().(*rsa.PublicKey)
		if !ok || rk.N.BitLen() < MinApproverRSA {
			return fmt.Errorf("%w: approver key: RSA keys must have at least %d bits", ErrInvalidInput, MinApproverRSA)
		}
		return nil
	}
	return fmt.Errorf("%w: approver key: type %s not accepted (want ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa of %d+ bits)",
		ErrInvalidInput, truncate(pub.Type(), 64), MinApproverRSA)
}

// registry is the approver registry as read for one operation.
type registry struct {
	any   bool // at least one approver record exists, readable or not
	byFP  map[string][]*Approver
	names map[string]*Approver
}

// loadRegistry reads every approver. Unreadable records still make the
// registry non-empty (signatures stay required) but grant nothing.
func (v *AgentVault) loadRegistry(ctx context.Context) (*registry, []string, error) {
	keys, err := v.b.List(ctx, approverKeyPfx)
	if err != nil {
		return nil, nil, err
	}
	reg := &registry{any: len(keys) > 0, byFP: map[string][]*Approver{}, names: map[string]*Approver{}}
	items, badKeys, err := v.getReadable(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	var bad []string
	for _, k := range badKeys {
		bad = append(bad, strings.TrimPrefix(k, approverKeyPfx))
	}
	for _, it := range items {
		if it.Value == nil {
			continue
		}
		var rec approverRecord
		if err := v.openJSON("approver", it.Key, it.Value, &rec); err != nil {
			bad = append(bad, strings.TrimPrefix(it.Key, approverKeyPfx))
			continue
		}
		a := rec.Approver
		reg.names[a.Name] = &a
		for _, k := range a.Keys {
			reg.byFP[k.Fingerprint] = append(reg.byFP[k.Fingerprint], &a)
		}
	}
	return reg, bad, nil
}

// adminCaller is the caller of an administrative operation: a named actor
// or the vault's default, never an agent.
func (v *AgentVault) adminCaller(ctx context.Context, e *AuditEvent) (Actor, error) {
	if _, ok := agentKeyFromContext(ctx); ok {
		e.Actor, _, _ = v.requester(ctx) // record the refused call as the agent's
		return Actor{}, fmt.Errorf("%w: agents cannot manage approvers", ErrUnauthorized)
	}
	return v.ctxActor(ctx)
}

// AddApprover registers an approver. It fails with ErrAlreadyExists when
// the name is taken, and with ErrInvalidInput when a key is not accepted
// or already belongs to another approver. Administrative: an agent is
// refused (ErrUnauthorized). Audited as approver.added, with the first
// key's fingerprint.
func (v *AgentVault) AddApprover(ctx context.Context, in ApproverInput) (_ *Approver, err error) {
	const op = "approver add"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	e := v.event(ctx, EventApproverAdded, "")
	defer func() { _ = v.emit(ctx, e.finish(err)) }()
	who, err := v.adminCaller(ctx, e)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	if err := validApproverName("approver name", in.Name); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	e.Approver = in.Name
	if len(in.Keys) == 0 || len(in.Keys) > MaxApproverKeys {
		return nil, &Error{Op: op, Err: fmt.Errorf("%w: an approver needs 1 to %d keys", ErrInvalidInput, MaxApproverKeys)}
	}
	if len(in.Groups) > MaxApproverGroups {
		return nil, &Error{Op: op, Err: fmt.Errorf("%w: at most %d groups", ErrInvalidInput, MaxApproverGroups)}
	}
	a := Approver{Name: in.Name, AddedBy: who.ID, AddedAt: v.opts.now().UTC()}
	seen := map[string]bool{}
	for _, g := range in.Groups {
		if err := validApproverName("group", g); err != nil {
			return nil, &Error{Op: op, Err: err}
		}
		if !seen["g:"+g] {
			seen["g:"+g] = true
			a.Groups = append(a.Groups, g)
		}
	}
	sort.Strings(a.Groups)
	for i, line := range in.Keys {
		k, err := parseApproverKey(line)
		if err != nil {
			return nil, &Error{Op: op, Err: fmt.Errorf("key %d: %w", i+1, err)}
		}
		if !seen[k.Fingerprint] {
			seen[k.Fingerprint] = true
			a.Keys = append(a.Keys, k)
		}
	}
	e.Fingerprint = a.Keys[0].Fingerprint
	reg, _, err := v.loadRegistry(ctx)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	for _, k := range a.Keys {
		if owners := reg.byFP[k.Fingerprint]; len(owners) > 0 {
			return nil, &Error{Op: op, Err: fmt.Errorf("%w: key %s already belongs to approver %s", ErrInvalidInput, k.Fingerprint, owners[0].Name)}
		}
	}
	key := approverKeyPfx + a.Name
	if _, err := v.b.Put(ctx, key, v.sealJSON("approver", key, &approverRecord{a}), 0); err != nil {
		if errors.Is(err, backend.ErrConflict) {
			err = fmt.Errorf("%w: approver %s is already registered", ErrAlreadyExists, a.Name)
		}
		return nil, &Error{Op: op, Err: err}
	}
	return &a, nil
}

// RemoveApprover unregisters an approver: signatures by its keys are
// refused from then on, and the approvals it signed for requests not yet
// redeemed no longer count (RedeemApproval refuses them). Administrative;
// audited as approver.removed.
func (v *AgentVault) RemoveApprover(ctx context.Context, name string) (err error) {
	const op = "approver remove"
	if err := v.enter(); err != nil {
		return &Error{Op: op, Err: err}
	}
	defer v.leave()
	e := v.event(ctx, EventApproverRemoved, "")
	defer func() { _ = v.emit(ctx, e.finish(err)) }()
	if _, err := v.adminCaller(ctx, e); err != nil {
		return &Error{Op: op, Err: err}
	}
	if err := validApproverName("approver name", name); err != nil {
		return &Error{Op: op, Err: err}
	}
	e.Approver = name
	key := approverKeyPfx + name
	_, rev, err := v.b.Get(ctx, key)
	if err == nil {
		err = v.b.Delete(ctx, key, rev)
	}
	if errors.Is(err, backend.ErrNotFound) {
		err = fmt.Errorf("%w: no approver %s", ErrNotFound, name)
	}
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	return nil
}

// ListApprovers returns the registered approvers by name. Audited as
// approver.listed. Records that cannot be read are skipped and reported,
// by name, as an *UnreadableError alongside the others.
func (v *AgentVault) ListApprovers(ctx context.Context) (_ []Approver, err error) {
	const op = "approver list"
	if err := v.enter(); err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	defer v.leave()
	defer v.auditOp(ctx, EventApproverListed, "", &err)
	reg, bad, err := v.loadRegistry(ctx)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	out := []Approver{}
	for _, a := range reg.names {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(bad) > 0 {
		sort.Strings(bad)
		return out, &Error{Op: op, Err: &UnreadableError{Paths: bad}}
	}
	return out, nil
}
