package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentvault/agentvault"
)

var auditCommand = &command{
	name:    "audit",
	summary: "list the audit trail, or verify that it is intact",
	details: `Lists the recorded events, oldest first, in columns TIME EVENT OUTCOME ACTOR
PATH VERSION TIER REF REASON, where ACTOR is kind:id (human, service, agent,
token or system) and REF the token accessor, approval id or agent id
involved. Every operation is recorded, allowed, denied or failed; events
never hold a secret value, a token or an agent key. Filters combine.

--event takes an event name (secret.read, token.issued, approval.granted …)
or a family: secret, token, approval or agent. On this command --actor ID
(given on the command line, not $ASS_ACTOR) selects events by actor id.
--since and --until take an RFC 3339 time or a duration ago (24h, 7d).

--json prints one event per line (JSON lines) with the fields id, time,
event, actor {kind, id}, path, version, type, tier, token_accessor,
approval_id, agent_id, outcome, reason, writer, seq, prev, hash.

--verify checks every hash chain of the trail instead and prints "ok: N
events in M chains", or fails (exit 1). Every run of ass on one machine
appends to that machine's chain (named ass-HOSTNAME); each program that uses
the library writes chains of its own. A failure names the first entry that
was modified, deleted or reordered. Deleting the newest entries of a chain,
or a whole chain, is not detectable from the store alone.`,
	maxArgs: 0,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		var q agentvault.AuditQuery
		var kind actorKindFlag
		var since, until pointFlag
		fs.StringVar(&q.PathPrefix, "path", "", "only events whose path is under `PREFIX` (whole segments, as in list)")
		fs.StringVar(&q.Event, "event", "", "only `EVENT`s of that name, or of a family: secret, token, approval, agent")
		fs.Var(&kind, "actor-kind", "only actors of `KIND`: human, service, agent, token or system")
		fs.Var(&since, "since", "only events at or after `TIME`: RFC 3339, or a duration ago (24h, 7d)")
		fs.Var(&until, "until", "only events before `TIME`: RFC 3339, or a duration ago")
		fs.IntVar(&q.Limit, "limit", 0, "only the newest `N` events")
		verify := fs.Bool("verify", false, "verify the hash chains instead of listing")
		return func(c *cli, _ []string) (rerr error) {
			if *verify {
				for _, n := range []string{"path", "event", "actor-kind", "actor", "since", "until", "limit"} {
					if c.set[n] {
						return usagef("--verify checks the whole trail: --%s does not apply", n)
					}
				}
			}
			if q.Limit < 0 {
				return usagef("--limit must be 0 (all) or more")
			}
			if q.Event != "" && !strings.Contains(q.Event, ".") {
				q.Event += "." // a family
			}
			if c.set["actor"] {
				q.ActorID = c.g.actor
			}
			q.ActorKind, q.Since, q.Until = agentvault.ActorKind(kind), since.t, until.t
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			if *verify {
				rep, err := s.vault.VerifyAudit(c.ctx)
				if err != nil {
					return auditError(err)
				}
				if c.g.json {
					return writeJSON(c.stdout, map[string]any{"ok": true, "events": rep.Events, "chains": rep.Writers})
				}
				_, err = fmt.Fprintf(c.stdout, "ok: %s in %s\n", plural(rep.Events, "event"), plural(rep.Writers, "chain"))
				return err
			}
			limit := q.Limit
			if q.PathPrefix != "" {
				q.Limit = 0 // applied after the whole-segment filter
			}
			evs, err := s.vault.QueryAudit(c.ctx, q)
			bad, err := c.skipUnreadable("audit", err)
			if err != nil {
				return err
			}
			if q.PathPrefix != "" {
				evs = slices.DeleteFunc(evs, func(e agentvault.AuditEvent) bool { return !inPrefix(e.Path, q.PathPrefix) })
				if limit > 0 && len(evs) > limit {
					evs = evs[len(evs)-limit:] // the newest, oldest first
				}
			}
			defer func() {
				if rerr == nil {
					rerr = damaged("audit", bad, "audit entry")
				}
			}()
			if c.g.json { // JSON lines
				enc := json.NewEncoder(c.stdout)
				enc.SetEscapeHTML(false)
				for i := range evs {
					if err := enc.Encode(&evs[i]); err != nil {
						return err
					}
				}
				return nil
			}
			if len(evs) == 0 {
				_, err := fmt.Fprintln(c.stdout, "no events")
				return err
			}
			rows := make([][]string, len(evs))
			for i, e := range evs {
				ref := firstOf(e.TokenAccessor, e.ApprovalID, e.AgentID)
				rows[i] = []string{formatTime(e.Time), e.Event, string(e.Outcome), actorString(e.Actor),
					e.Path, e.Version, string(e.Tier), ref, e.Reason}
			}
			return writeTable(c.stdout, []string{"TIME", "EVENT", "OUTCOME", "ACTOR", "PATH", "VERSION", "TIER", "REF", "REASON"}, rows)
		}
	},
}

// auditError words a failed verification: "audit verify: chain W entry 3
// (audit/W/…) modified: hash does not verify".
func auditError(err error) error {
	var ie *agentvault.AuditIntegrityError
	if errors.As(err, &ie) {
		return fmt.Errorf("audit verify: the trail is not intact: chain %s entry %d (%s) %s: %s", ie.Writer, ie.Seq, ie.Key, ie.Problem, ie.Detail)
	}
	return err
}

// actorKindFlag is --actor-kind, checked when parsed.
type actorKindFlag agentvault.ActorKind

func (f *actorKindFlag) String() string { return string(*f) }

func (f *actorKindFlag) Set(s string) error {
	switch k := agentvault.ActorKind(s); k {
	case agentvault.ActorHuman, agentvault.ActorService, agentvault.ActorAgent, agentvault.ActorToken, agentvault.ActorSystem:
		*f = actorKindFlag(k)
		return nil
	}
	return fmt.Errorf("unknown actor kind %q (want human, service, agent, token or system)", truncate(s, 32))
}

// pointFlag is a point in time: RFC 3339, or a duration before now ("24h",
// "7d").
type pointFlag struct{ t time.Time }

func (f *pointFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *pointFlag) Set(s string) error {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		f.t = t
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a duration ago (24h, 7d)", truncate(s, 40))
	}
	f.t = time.Now().Add(-d)
	return nil
}
