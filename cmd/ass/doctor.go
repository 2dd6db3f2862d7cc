package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/agentvault/agentvault"
)

var doctorCommand = &command{
	name:    "doctor",
	summary: "check the whole vault: config and key, every record and version, the audit trail",
	details: `Checks that the vault's configuration and the --kms key belong together,
that every secret record authenticates, that every stored version's data
key unwraps and its value decrypts and authenticates, and that every audit
chain verifies (as "ass audit --verify"). Values are decrypted in memory and
wiped at once; nothing is printed of them, nothing is written, and the check
is not audited.

With --repair it then removes what provably belongs to nothing — lifecycle
claims (expiry notices, scheduled rotations) of deleted secrets, of an
expiry a secret no longer has or of a rotation already past, and orphan
version records older than 15 minutes — and lists each key it removed
("removed: KEY"); a claim in progress, one whose secret cannot be read and
a record that does not authenticate are kept. Damaged records are never removed: restore
them from a backup. The repair is audited (vault.orphans_removed).

Prints a summary, one line per problem found, and exits 0 only when all is
sound; otherwise 7 (or 1 when the vault cannot be opened at all). --json
prints {"secrets","versions","problems":[{"path","version","problem"}],
"orphan_versions","audit_events","audit_chains","audit_error","sound"} and,
with --repair, "removed":[KEY…].

Orphan version records (left by a crash between writing a version and its
secret's record, or by an interrupted delete) are listed but do not make
the vault unsound: they hold nothing readable; the lifecycle scheduler
("ass lifecycle run") and --repair remove them once they are 15 minutes old.`,
	maxArgs: 0,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		repair := fs.Bool("repair", false, "also remove what provably belongs to nothing (stale lifecycle claims, old orphan version records) and list it")
		return func(c *cli, args []string) error { return runDoctor(c, *repair) }
	},
}

// doctorJSON is "ass doctor --json".
type doctorJSON struct {
	*agentvault.DoctorReport
	Sound   bool     `json:"sound"`
	Removed []string `json:"removed,omitempty"` // --repair
}

func runDoctor(c *cli, repair bool) error {
	s, err := c.open()
	if errors.Is(err, agentvault.ErrIntegrity) {
		return &damagedError{op: "doctor", n: 1, what: "record", stopped: true, detail: "the configuration and the key do not belong together: " + describe(err)}
	}
	if err != nil {
		return err
	}
	defer s.Close()
	rep, err := s.vault.Doctor(c.ctx)
	if err != nil {
		return err
	}
	var removed []string
	if repair {
		if removed, err = s.vault.RemoveOrphans(c.ctx); err != nil {
			return err
		}
	}
	if c.g.json {
		if err := writeJSON(c.stdout, doctorJSON{DoctorReport: rep, Sound: rep.Sound(), Removed: removed}); err != nil {
			return err
		}
	} else {
		if err := writeDoctor(c, s, rep); err != nil {
			return err
		}
		if repair {
			if _, err := fmt.Fprintf(c.stdout, "repair: removed %s\n", plural(len(removed), "orphan")); err != nil {
				return err
			}
			for _, k := range removed {
				if _, err := fmt.Fprintln(c.stdout, "removed: "+k); err != nil {
					return err
				}
			}
		}
	}
	if rep.Sound() {
		return nil
	}
	n := len(rep.Problems)
	if rep.AuditError != "" {
		n++
	}
	return &damagedError{op: "doctor", n: n, what: "problem", stopped: true,
		detail: fmt.Sprintf("the vault is not sound: %s (listed on stdout); restore the damaged records from a backup", plural(n, "problem"))}
}

func writeDoctor(c *cli, s *session, rep *agentvault.DoctorReport) error {
	status := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "DAMAGED"
	}
	lines := []string{
		fmt.Sprintf("config and key: ok (key id %s)", s.keys.KeyID()),
		fmt.Sprintf("secrets:  %s: %s read, %s unreadable", status(len(rep.Problems) == 0), plural(rep.Secrets, "secret"), plural(len(rep.Problems), "problem")),
		fmt.Sprintf("versions: %d decrypted and authenticated", rep.Versions),
	}
	if rep.AuditError == "" {
		lines = append(lines, fmt.Sprintf("audit:    ok: %s in %s", plural(rep.AuditEvents, "event"), plural(rep.AuditChains, "chain")))
	} else {
		lines = append(lines, "audit:    DAMAGED: "+oneLine(rep.AuditError))
	}
	if n := len(rep.OrphanVersions); n > 0 {
		lines = append(lines, fmt.Sprintf("orphans:  %s no secret references (removed by the scheduler after 15 minutes)", plural(n, "version record")))
		for _, k := range rep.OrphanVersions {
			lines = append(lines, "  orphan "+k)
		}
	}
	for _, p := range rep.Problems {
		where := p.Path
		if p.Version != "" {
			where += " " + p.Version
		}
		lines = append(lines, fmt.Sprintf("  %s: %s", where, oneLine(p.Problem)))
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(c.stdout, l); err != nil {
			return err
		}
	}
	return nil
}
