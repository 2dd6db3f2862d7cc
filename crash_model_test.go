package agentvault_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/agentvault/agentvault"
)

// crashModel is what the kill -9 campaign's parent knows for certain: the
// operations the child acknowledged, and the one in flight when it died.
type crashModel struct {
	secrets map[string]*crashSecret
	tokens  map[string]*crashToken // by accessor
	acked   map[crashEventKey]int  // audit events every acknowledged operation owes
	tokenAc string                 // accessor of the current run's token
	stats   crashStats
}

type crashSecret struct {
	exists   bool
	versions map[uint32]string // acknowledged (or adopted, see recover) versions still stored
	last     uint32            // the highest version number written
	active   string
}

type crashToken struct{ max, acked int }

type crashEventKey struct{ event, path, version, accessor string }

type crashStats struct {
	Kills, ServerKills, Acked, InFlight, VersionsChecked, Adopted, TempFiles int
}

func newCrashModel() *crashModel {
	m := &crashModel{secrets: map[string]*crashSecret{}, tokens: map[string]*crashToken{}, acked: map[crashEventKey]int{}}
	return m
}

func (m *crashModel) secret(p string) *crashSecret {
	s := m.secrets[p]
	if s == nil {
		s = &crashSecret{versions: map[uint32]string{}}
		m.secrets[p] = s
	}
	return s
}

func (m *crashModel) owe(event, path, version string) {
	m.acked[crashEventKey{event, path, version, ""}]++
}

// addVersion records version n of p with val, which must be the next
// number: a version number reused or skipped is a finding.
func (s *crashSecret) addVersion(p, version, val string) error {
	n, err := agentvault.ParseVersion(version)
	if err != nil {
		return fmt.Errorf("%s: acknowledged version %q: %w", p, version, err)
	}
	if n != s.last+1 {
		return fmt.Errorf("%s: acknowledged %s after v%d: version number reused or skipped", p, version, s.last)
	}
	s.versions[n], s.last, s.exists = val, n, true
	return nil
}

// apply records one acknowledged operation.
func (m *crashModel) apply(l crashLine) error {
	m.stats.Acked++
	s := m.secret(l.Path)
	switch l.Op {
	case "create":
		if s.exists {
			return fmt.Errorf("%s: create acknowledged over an existing secret", l.Path)
		}
		*s = crashSecret{versions: map[uint32]string{}}
		m.owe(agentvault.EventSecretCreated, l.Path, l.Version)
		s.active = l.Version
		return s.addVersion(l.Path, l.Version, l.Value)
	case "update", "rotate":
		ev := agentvault.EventSecretUpdated
		if l.Op == "rotate" {
			ev = agentvault.EventSecretRotated
		}
		m.owe(ev, l.Path, l.Version)
		s.active = l.Version
		return s.addVersion(l.Path, l.Version, l.Value)
	case "rollback":
		m.owe(agentvault.EventSecretRolledBack, l.Path, l.Version)
		s.active = l.Version
	case "delete":
		m.owe(agentvault.EventSecretDeleted, l.Path, "")
		*s = crashSecret{versions: map[uint32]string{}}
	case "token_use":
		m.acked[crashEventKey{agentvault.EventSecretRead, l.Path, l.Version, m.tokenAc}]++
		m.tokens[m.tokenAc].acked++
		if l.Value != crashTokenValue {
			return fmt.Errorf("token read %s = %q, want %q", l.Path, l.Value, crashTokenValue)
		}
	case "import":
		for _, it := range l.Items {
			parts := strings.SplitN(it, "=", 3)
			p, version, val := parts[0], parts[1], parts[2]
			is := m.secret(p)
			n, err := agentvault.ParseVersion(version)
			if err != nil {
				return err
			}
			m.owe(agentvault.EventSecretImported, p, version)
			is.active = version
			if n == is.last && is.versions[n] == val { // unchanged
				continue
			}
			if err := is.addVersion(p, version, val); err != nil {
				return err
			}
		}
	case "prune":
		for _, version := range l.Pruned {
			n, _ := agentvault.ParseVersion(version)
			delete(s.versions, n)
		}
	case "rewrap":
		m.owe(agentvault.EventVaultRewrapped, "", "")
	default:
		return fmt.Errorf("unknown operation %q", l.Op)
	}
	return nil
}

const crashTokenValue = "token-target-value"

// crashPathsAll lists every path the workload writes.
func crashPathsAll() []string {
	ps := append([]string(nil), crashPaths...)
	for _, k := range crashImportVars {
		ps = append(ps, crashImportNS+"/"+k)
	}
	return ps
}

// touches reports whether the in-flight operation inf may have changed p.
func touches(inf *crashLine, p string) bool {
	if inf == nil {
		return false
	}
	if inf.Op == "import" {
		return strings.HasPrefix(p, crashImportNS+"/")
	}
	return inf.Path == p
}

// inflightValue is the value the in-flight operation was writing to p.
func inflightValue(inf *crashLine, p string) string {
	if inf.Op == "import" {
		return inf.Value + "-" + strings.TrimPrefix(p, crashImportNS+"/")
	}
	return inf.Value
}

// check compares the store, as a freshly opened vault sees it, with the
// model, after a kill during inf (nil: nothing in flight). pruned holds
// the (path, version) pairs the audit trail records as pruned. It updates
// the model with what the in-flight operation is found to have done.
func (m *crashModel) check(v *agentvault.AgentVault, inf *crashLine, pruned map[crashEventKey]bool) error {
	for _, p := range crashPathsAll() {
		if err := m.checkSecret(v, p, inf, pruned); err != nil {
			return err
		}
	}
	return nil
}

func (m *crashModel) checkSecret(v *agentvault.AgentVault, p string, inf *crashLine, pruned map[crashEventKey]bool) error {
	s := m.secret(p)
	amb := touches(inf, p)
	meta, err := v.GetMetadata(ctx, p)
	switch {
	case errors.Is(err, agentvault.ErrNotFound):
		if s.exists && !(amb && inf.Op == "delete") {
			return fmt.Errorf("%s: acknowledged secret lost (active %s, %d versions)", p, s.active, len(s.versions))
		}
		*s = crashSecret{versions: map[uint32]string{}}
		return nil
	case err != nil:
		return fmt.Errorf("%s: GetMetadata after the crash: %w", p, err)
	}
	if !s.exists && !(amb && (inf.Op == "create" || inf.Op == "import")) {
		return fmt.Errorf("%s: exists after the crash, but no create of it was acknowledged or in flight", p)
	}
	if !s.exists {
		*s = crashSecret{versions: map[uint32]string{}, exists: true}
	}
	vs, err := v.ListVersions(ctx, p)
	if err != nil {
		return fmt.Errorf("%s: ListVersions after the crash: %w", p, err)
	}
	listed := map[uint32]bool{}
	for _, vi := range vs {
		n, err := agentvault.ParseVersion(vi.Version)
		if err != nil {
			return err
		}
		listed[n] = true
		want, known := s.versions[n]
		if vi.Pruned {
			if known && !amb && !pruned[crashEventKey{agentvault.EventSecretVersionPruned, p, vi.Version, ""}] {
				return fmt.Errorf("%s: acknowledged %s pruned without a secret.version_pruned event", p, vi.Version)
			}
			delete(s.versions, n)
			continue
		}
		got, err := v.GetSecret(ctx, p, agentvault.AtVersion(vi.Version))
		if err != nil {
			return fmt.Errorf("%s: GetSecret(%s) after the crash: %w", p, vi.Version, err)
		}
		m.stats.VersionsChecked++
		switch {
		case known && got.Value.Reveal() != want:
			return fmt.Errorf("%s: %s reads %q, acknowledged %q", p, vi.Version, got.Value.Reveal(), want)
		case known:
		case amb && n == s.last+1 && got.Value.Reveal() == inflightValue(inf, p):
			// The in-flight write landed: a later writer must number after it.
			s.versions[n], s.last = got.Value.Reveal(), n
			m.stats.Adopted++
		default:
			return fmt.Errorf("%s: %s (value %q) was never acknowledged nor in flight (last acknowledged v%d)", p, vi.Version, got.Value.Reveal(), s.last)
		}
	}
	for n := range s.versions {
		if !listed[n] {
			return fmt.Errorf("%s: acknowledged v%d lost", p, n)
		}
	}
	if meta.Version != s.active {
		landed := amb && (inf.Op == "rollback" && meta.Version == inf.Version ||
			inf.Op != "rollback" && meta.Version == agentvault.FormatVersion(s.last))
		if !landed {
			return fmt.Errorf("%s: active version %s, acknowledged %s", p, meta.Version, s.active)
		}
		s.active = meta.Version
	}
	return nil
}

// checkAudit verifies the chains and that every acknowledged operation has
// its allowed event. It returns the pruned versions the trail records.
func (m *crashModel) checkAudit(v *agentvault.AgentVault) (map[crashEventKey]bool, error) {
	if _, err := v.VerifyAudit(ctx); err != nil {
		return nil, fmt.Errorf("VerifyAudit after the crash: %w", err)
	}
	evs, err := v.QueryAudit(ctx, agentvault.AuditQuery{})
	if err != nil {
		return nil, fmt.Errorf("QueryAudit after the crash: %w", err)
	}
	have := map[crashEventKey]int{}
	pruned := map[crashEventKey]bool{}
	for _, e := range evs {
		if e.Outcome != agentvault.OutcomeAllowed {
			continue
		}
		have[crashEventKey{e.Event, e.Path, e.Version, e.TokenAccessor}]++
		if e.Event == agentvault.EventSecretVersionPruned {
			pruned[crashEventKey{e.Event, e.Path, e.Version, ""}] = true
		}
	}
	for k, n := range m.acked {
		if have[k] < n {
			return nil, fmt.Errorf("audit: %d acknowledged %s (path %q, version %q, token %q), %d events", n, k.event, k.path, k.version, k.accessor, have[k])
		}
	}
	return pruned, nil
}

// checkTokens: no token was accepted more often than its MaxUses, nor less
// often than the uses acknowledged.
func (m *crashModel) checkTokens(v *agentvault.AgentVault) error {
	infos, err := v.ListTokens(ctx)
	if err != nil {
		return fmt.Errorf("ListTokens after the crash: %w", err)
	}
	for _, ti := range infos {
		tk := m.tokens[ti.Accessor]
		if tk == nil {
			continue
		}
		if ti.Uses > tk.max || ti.Uses < tk.acked {
			return fmt.Errorf("token %s: %d uses recorded, %d acknowledged, max %d", ti.Accessor, ti.Uses, tk.acked, tk.max)
		}
	}
	return nil
}
