package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/kms/localkms"
)

var rewrapCommand = &command{
	name:    "rewrap",
	summary: "re-wrap every data key under the current --kms key",
	details: `Re-wraps the data key of every version of every secret, and the vault's own
key, under the --kms key's current primary key. Values are not re-encrypted
and never leave memory. Safe to interrupt and to run again: keys already
current are skipped, and every value stays readable at every point.

Use it after rotating a local key file (ass key rotate does both), or to move
the vault to another key provider: --from-kms names the key that protected
the vault until now and --kms the new one, for example
  ass rewrap --from-kms local://$HOME/.agentvault/key --kms awskms://alias/vault?region=eu-west-1
A missing local:// --kms key file is created (a new random key) for the
move. Afterwards the vault opens with the new --kms alone (set ASS_KMS),
and the old key is no longer needed.

Prints "Rewrapped N data keys in M secrets (K already current)"; on a
terminal, progress is shown on stderr meanwhile. --json prints
{"secrets","rewrapped","current","key_id"}.`,
	maxArgs: 0,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		from := fs.String("from-kms", "", "key `URL` that protected the vault until now (local://FILE, env://VAR, awskms://…, gcpkms://…)")
		return func(c *cli, _ []string) (rerr error) {
			var opts []openOption
			if *from != "" {
				cfg, err := c.config()
				if err != nil {
					return err
				}
				if *from == cfg.kms {
					return usagef("--from-kms names the same key as --kms (to rewrap under a rotated local key, run \"ass rewrap\" alone)")
				}
				opts = append(opts, withPreviousKMS(*from), withNewLocalKey())
			}
			s, err := c.open(opts...)
			if err != nil {
				return err
			}
			defer s.Close()
			if s.keyCreated != "" && !c.g.json {
				if _, err := fmt.Fprintf(c.stdout, "Created key file %s (key id %s)\n", s.keyCreated, s.keys.KeyID()); err != nil {
					return err
				}
			}
			res, err := c.rewrap(s)
			bad, err := c.skipUnreadable("rewrap", err)
			if err != nil {
				return err
			}
			defer func() {
				if rerr == nil {
					rerr = damaged("rewrap", bad, "record")
				}
			}()
			if c.g.json {
				return writeJSON(c.stdout, rewrapJSON{RewrapResult: res, KeyID: s.keys.KeyID(), CreatedKeyFile: s.keyCreated})
			}
			if _, err := fmt.Fprintln(c.stdout, rewrapSummary(res)); err != nil {
				return err
			}
			cfg, _ := c.config()
			switch {
			case *from != "" && bad > 0:
				// A copy of a skipped record restored from a backup still
				// has its data keys under the old key.
				_, err = fmt.Fprintf(c.stdout, "The vault now opens with --kms %s, but keep %s: the %s not rewrapped, restored from a backup, will need it\n",
					redactURL(cfg.kms), redactURL(*from), plural(bad, "record"))
			case *from != "":
				_, err = fmt.Fprintf(c.stdout, "The vault now opens with --kms %s alone: %s is no longer needed\n", redactURL(cfg.kms), redactURL(*from))
			}
			return err
		}
	},
}

var keyCommand = &command{
	name:    "key",
	args:    "rotate",
	summary: "rotate the local key file and rewrap",
	details: `ass key rotate adds a new random key to the --kms local:// key file, makes it
the primary key (earlier keys are kept, for decrypting only), then rewraps
every data key under it, as "ass rewrap" does, and prints the new key id.
If the rewrap is interrupted, every value still reads: run "ass rewrap" to
finish it.

Only local:// key files can be rotated here. Cloud KMS keys rotate in the
cloud provider (AWS and GCP keep earlier key versions for decrypting); to
move to a new key altogether, use "ass rewrap --from-kms OLD --kms NEW".

--json prints {"key_id","secrets","rewrapped","current"}.`,
	minArgs: 1, maxArgs: 1,
	define: func(*flag.FlagSet) func(*cli, []string) error {
		return func(c *cli, args []string) (rerr error) {
			if args[0] != "rotate" {
				return usagef("unknown subcommand %q (want rotate)", truncate(args[0], 32))
			}
			cfg, err := c.config()
			if err != nil {
				return err
			}
			file, ok := strings.CutPrefix(cfg.kms, "local://")
			if !ok {
				scheme, _, _ := strings.Cut(cfg.kms, "://")
				return usagef("key rotate works on local:// key files only, not %s:// (rotate a cloud key in its provider; to move to a new key, use \"ass rewrap --from-kms OLD --kms NEW\")", truncate(scheme, 32))
			}
			// Open the vault first: the key file must be this vault's key.
			s, err := c.open()
			if err != nil {
				return err
			}
			s.Close()
			id, err := localkms.RotateKeyFile(file)
			if err != nil {
				return fmt.Errorf("key rotate: %w", err)
			}
			again := fmt.Sprintf(`the key file now has primary key %s (earlier keys kept), but the rewrap failed: run "ass rewrap" to finish`, id)
			s, err = c.open()
			if err != nil {
				return fmt.Errorf("key rotate: %s: %s", again, describe(err))
			}
			defer s.Close()
			res, err := c.rewrap(s)
			bad, err := c.skipUnreadable("key rotate", err)
			if err != nil {
				return fmt.Errorf("key rotate: %s: %s", again, describe(err))
			}
			defer func() {
				if rerr == nil {
					rerr = damaged("key rotate", bad, "record")
				}
			}()
			if c.g.json {
				return writeJSON(c.stdout, rewrapJSON{RewrapResult: res, KeyID: id})
			}
			_, err = fmt.Fprintf(c.stdout, "Rotated key file %s: new primary key %s\n%s\n", file, id, rewrapSummary(res))
			return err
		}
	},
}

// rewrapJSON is "ass rewrap --json" and "ass key rotate --json".
type rewrapJSON struct {
	*agentvault.RewrapResult
	KeyID          string `json:"key_id"`
	CreatedKeyFile string `json:"created_key_file,omitempty"`
}

func rewrapSummary(res *agentvault.RewrapResult) string {
	return fmt.Sprintf("Rewrapped %s in %s (%d already current)",
		plural(res.Rewrapped, "data key"), plural(res.Secrets, "secret"), res.Current)
}

// rewrap runs Rewrap, showing progress on a terminal's stderr.
func (c *cli) rewrap(s *session) (*agentvault.RewrapResult, error) {
	var p *rewrapProgress
	if c.stderrTTY {
		p = &rewrapProgress{w: c.stderr, every: 100 * time.Millisecond}
		defer p.finish()
	}
	var opts agentvault.RewrapOptions
	if p != nil {
		opts.Progress = p.update
	}
	return s.vault.Rewrap(c.ctx, opts)
}

// rewrapProgress shows "ass: rewrapping… 120/500 secrets" on one terminal
// line, at most every `every`, and erases it at the end.
type rewrapProgress struct {
	w     io.Writer
	every time.Duration
	last  time.Time
	shown bool
}

func (p *rewrapProgress) update(done, total int) {
	now := time.Now()
	if done != total && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	fmt.Fprintf(p.w, "\rass: rewrapping… %d/%d secrets", done, total)
	p.shown = true
}

func (p *rewrapProgress) finish() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
