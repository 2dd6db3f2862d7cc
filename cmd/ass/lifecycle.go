package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/agentvault/agentvault"
)

// The lifecycle commands: expiring (what expires soon), rotate (a manual
// rotation with an optional grace period) and lifecycle run (the
// scheduler: expiry records, scheduled rotations, version retention).

var expiringCommand = &command{
	name:      "expiring",
	withToken: true,
	args:      "[PREFIX]",
	summary:   "list secrets that expire soon, or have expired (metadata only)",
	details: `Lists the secrets under PREFIX (all when omitted; whole segments, as in
list) whose expiry is set and at
most --within away (default 7d), expired ones included, soonest first, in
columns PATH TYPE TIER VERSION EXPIRES LEFT, where LEFT is "3d4h", "5h12m"
or "expired". Prints "nothing expires within 7d" when none do, and exits 0
either way.

With --json, prints an array of metadata objects (the fields of get --json
without "value", like list --json); [] when none.`,
	maxArgs: 1,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		within := durationFlag(7 * 24 * time.Hour)
		fs.Var(&within, "within", "expiring within `DURATION` (default 7d): 30d, 12h …")
		return func(c *cli, args []string) (rerr error) {
			f := agentvault.ListFilter{ExpiringWithin: time.Duration(within)}
			if len(args) == 1 {
				f.Prefix = args[0]
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			ms, err := s.p.ListSecrets(c.ctx, f)
			bad, err := c.skipUnreadable("expiring", err)
			if err != nil {
				return err
			}
			ms = underPrefix(ms, f.Prefix)
			defer func() {
				if rerr == nil {
					rerr = damaged("expiring", bad, "record")
				}
			}()
			// Soonest first; ListSecrets sorts by path, which breaks ties.
			sort.SliceStable(ms, func(i, j int) bool { return ms[i].ExpiresAt.Before(ms[j].ExpiresAt) })
			if c.g.json {
				out := make([]secretJSON, len(ms))
				for i := range ms {
					out[i] = toSecretJSON(&ms[i], nil)
				}
				return writeJSON(c.stdout, out)
			}
			if len(ms) == 0 {
				_, err := fmt.Fprintf(c.stdout, "nothing expires within %s\n", formatLeft(time.Duration(within)))
				return err
			}
			now := s.vault.Now()
			rows := make([][]string, len(ms))
			for i, m := range ms {
				left := "expired"
				if now.Before(m.ExpiresAt) {
					left = formatLeft(m.ExpiresAt.Sub(now))
				}
				rows[i] = []string{m.Path, string(m.Type), string(m.Tier), m.Version, formatTime(m.ExpiresAt), left}
			}
			return writeTable(c.stdout, []string{"PATH", "TYPE", "TIER", "VERSION", "EXPIRES", "LEFT"}, rows)
		}
	},
}

// formatLeft formats a positive duration coarsely, rounded down: "3d4h",
// "7d", "5h12m", "42m", "42s".
func formatLeft(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d >= day:
		s := fmt.Sprintf("%dd", d/day)
		if h := (d % day) / time.Hour; h > 0 {
			s += fmt.Sprintf("%dh", h)
		}
		return s
	case d >= time.Hour:
		s := fmt.Sprintf("%dh", d/time.Hour)
		if m := (d % time.Hour) / time.Minute; m > 0 {
			s += fmt.Sprintf("%dm", m)
		}
		return s
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

var rotateCommand = &command{
	name:      "rotate",
	withToken: true,
	args:      "PATH [VALUE|-]",
	summary:   "replace a secret's value, optionally keeping the old one readable for a while",
	details: `Stores the new value as the next version of the existing secret at PATH and
makes it active. With --grace DURATION the replaced version stays readable
as "ass get PATH --version previous" (and by its version) until the grace
ends. Prints "rotated PATH to v2 (previous v1 readable until TIME)", or
"rotated PATH to v2 (replaced v1)" without --grace. A missing secret exits
3; a failed rotation exits 1 and leaves the previous version active.
Metadata (type, tier, tags, expiry) is unchanged.

With --json, prints the metadata object of get --json without "value", plus
"replaced" (the version that was active), "previous_version" (with --grace)
and "grace_ends_at" (null without --grace).

The value comes from VALUE, --value or, when both are omitted or VALUE is
"-", standard input (up to 64 KiB; one trailing "\n" or "\r\n" is removed
unless --raw is given; from a terminal it is read without echo until
Ctrl-D, so it may span several lines; an empty value is refused unless
--allow-empty). Prefer
stdin: VALUE and --value are visible to other users in the process list and
stay in shell history. Put "--" before a VALUE that starts with "-".`,
	minArgs: 1, maxArgs: 2, secretArgs: true,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		var grace durationFlag
		value := fs.String("value", "", "the new `VALUE` (visible in the process list: prefer stdin)")
		fs.Var(&grace, "grace", "keep the replaced version readable as \"previous\" for `DURATION`: 15m, 2h, 1d …")
		raw := fs.Bool("raw", false, "keep a trailing newline of a value read from stdin")
		allowEmpty := fs.Bool("allow-empty", false, "store an empty value (refused otherwise)")
		return func(c *cli, args []string) error {
			path := args[0]
			if err := checkPathQuietly(path); err != nil {
				return fmt.Errorf("rotate: %w", err)
			}
			var val []byte
			switch {
			case c.set["value"] && len(args) == 2:
				return usagef("give the value as VALUE or --value, not both")
			case c.set["value"] && *raw:
				return usagef("--raw applies to a value read from stdin, not to --value")
			case c.set["value"]:
				val = []byte(*value)
			case len(args) == 2 && args[1] != "-":
				val = []byte(args[1])
			default:
				v, err := c.readValue(*raw)
				if err != nil {
					return fmt.Errorf("rotate %s: %w", path, err)
				}
				val = v
			}
			defer clear(val)
			if err := checkValue(val, *allowEmpty); err != nil {
				return err
			}
			s, err := c.open()
			if err != nil {
				return err
			}
			defer s.Close()
			nv := agentvault.NewValue(val)
			res, err := s.p.RotateSecret(c.ctx, path, agentvault.RotateOptions{Value: &nv, GracePeriod: time.Duration(grace)})
			if err != nil {
				return err
			}
			if c.g.json {
				var graceEnds *time.Time
				if res.PreviousVersion != "" && !res.GraceEndsAt.IsZero() {
					t := res.GraceEndsAt.UTC()
					graceEnds = &t
				}
				return writeJSON(c.stdout, rotateJSON{
					secretJSON: toSecretJSON(&res.SecretMetadata, nil),
					Replaced:   res.Replaced, PreviousVersion: res.PreviousVersion, GraceEndsAt: graceEnds,
				})
			}
			if res.PreviousVersion != "" {
				_, err = fmt.Fprintf(c.stdout, "rotated %s to %s (previous %s readable until %s)\n",
					res.Path, res.Version, res.PreviousVersion, formatTime(res.GraceEndsAt))
			} else {
				_, err = fmt.Fprintf(c.stdout, "rotated %s to %s (replaced %s)\n", res.Path, res.Version, res.Replaced)
			}
			return err
		}
	},
}

// rotateJSON is "ass rotate --json".
type rotateJSON struct {
	secretJSON
	Replaced        string     `json:"replaced"`
	PreviousVersion string     `json:"previous_version,omitempty"`
	GraceEndsAt     *time.Time `json:"grace_ends_at"`
}

var lifecycleCommand = &command{
	name:    "lifecycle",
	args:    "run",
	summary: "run the scheduler: expiry records, scheduled rotations, version retention",
	details: `"ass lifecycle run --once" runs one pass and prints what it did:
"notices sent 0, expired 1, rotated 0, failed 0, pruned 3 versions" (--json:
the pass's report {"expiry","rotation","pruned","pruned_versions"}).
Without --once it runs a pass at once and then every --interval until
interrupted (SIGINT or SIGTERM), printing nothing; a pass that fails is
reported on stderr and retried at the next interval. Any number of
schedulers may run against one store: each action happens once.

A pass records secret.expired for secrets whose expiry has passed, applies
the retention policy (inactive versions older than 90 days are pruned; the
active version and one in its grace period never are), and attempts the
scheduled rotations that are due. ass registers no rotators: scheduled
rotations fail (audited, retried hourly) unless the application embedding
the library does them. A pass that fails exits 1 after printing the summary.

Expiry notices (7 days and 1 day before a secret expires, and when it has)
are delivered only with --webhook URL: each is POSTed as JSON, signed with
HMAC-SHA256 under the secret in the environment variable that
--webhook-secret-env names (at least 16 bytes; never on the command line,
where the process list shows it); see agentvault.WebhookNotifier and
VerifyWebhook for the format. A notice whose delivery fails is retried at the
next pass. From cron:
  ASS_HOOK_SECRET=… ass lifecycle run --once --webhook https://hooks.example/ass --webhook-secret-env ASS_HOOK_SECRET`,
	minArgs: 1, maxArgs: 1,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		once := fs.Bool("once", false, "run one pass and exit")
		interval := durationFlag(agentvault.DefaultSchedulerInterval)
		fs.Var(&interval, "interval", "pause between passes, `DURATION` (default 1m; not with --once)")
		hook := fs.String("webhook", "", "deliver expiry notices to `URL` (http or https), signed (needs --webhook-secret-env)")
		hookSecretEnv := fs.String("webhook-secret-env", "", "the environment variable `VAR` holding the webhook's HMAC secret (at least 16 bytes)")
		return func(c *cli, args []string) error {
			if args[0] != "run" {
				return usagef("unknown lifecycle subcommand %q (want run)", truncate(args[0], 32))
			}
			if *once && c.set["interval"] {
				return usagef("--interval does not apply to --once")
			}
			notify, err := c.webhookOption(*hook, *hookSecretEnv)
			if err != nil {
				return err
			}
			if !*once {
				return runScheduler(c, time.Duration(interval), notify...)
			}
			s, err := c.open(notify...)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.vault.RunOnce(c.ctx)
			if rep != nil {
				var werr error
				if c.g.json {
					werr = writeJSON(c.stdout, toLifecycleJSON(rep))
				} else {
					_, werr = fmt.Fprintln(c.stdout, lifecycleSummary(rep))
				}
				if err == nil && werr != nil {
					return werr
				}
			}
			if err != nil {
				return fmt.Errorf("lifecycle run: %s", strings.TrimPrefix(err.Error(), "agentvault: "))
			}
			return nil
		}
	},
}

// runScheduler runs the library's scheduler until SIGINT or SIGTERM.
func runScheduler(c *cli, interval time.Duration, opts ...openOption) error {
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	onError := func(err error) {
		fmt.Fprintf(c.stderr, "ass: lifecycle run: %s\n", oneLine(strings.TrimPrefix(err.Error(), "agentvault: ")))
	}
	opts = append(opts, withVaultOptions(agentvault.WithSchedulerInterval(interval), agentvault.WithSchedulerErrors(onError)))
	s, err := c.open(opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.vault.Run(ctx); err != nil && !errors.Is(err, ctx.Err()) {
		return err
	}
	return nil
}

// webhookOption is the vault option that delivers expiry notices to
// --webhook, signed with the secret in the variable --webhook-secret-env
// names; none without --webhook. The URL and the secret are never echoed.
func (c *cli) webhookOption(url, secretEnv string) ([]openOption, error) {
	switch {
	case url == "" && secretEnv == "":
		return nil, nil
	case url == "":
		return nil, usagef("--webhook-secret-env needs --webhook URL")
	case secretEnv == "":
		return nil, usagef("--webhook needs --webhook-secret-env VAR: the environment variable holding its HMAC secret")
	}
	secret := c.getenv(secretEnv)
	if secret == "" {
		return nil, usagef("--webhook-secret-env: the variable %s is unset or empty", truncate(secretEnv, 64))
	}
	n, err := agentvault.NewWebhookNotifier(url, []byte(secret))
	if err != nil {
		return nil, usagef("--webhook: %s", libReason(err))
	}
	return []openOption{withVaultOptions(agentvault.WithExpiryNotifier(n))}, nil
}

// lifecycleSummary is one line about a scheduler pass.
func lifecycleSummary(rep *agentvault.LifecycleReport) string {
	var sent, expired, rotated, failed, pruned int
	if r := rep.Expiry; r != nil {
		sent, expired, failed = len(r.Sent), len(r.Expired), r.Failed
	}
	if r := rep.Rotation; r != nil {
		rotated, failed = len(r.Rotated), failed+len(r.Failed)
	}
	for _, p := range rep.Pruned {
		pruned += len(p.Pruned)
	}
	return fmt.Sprintf("notices sent %d, expired %d, rotated %d, failed %d, pruned %s",
		sent, expired, rotated, failed, plural(pruned, "version"))
}
