package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/envfile"
)

// importChunk is how many variables one ImportEnv call imports: ass
// imports in chunks and reports progress between them. Two of the
// library's write batches (256 new secrets each: one append of their
// write-ahead audit events, one batched write, one append of their
// outcome events).
const importChunk = 512

// progressMin is the number of variables above which an import shows its
// progress on a terminal.
const progressMin = 200

var importCommand = &command{
	name:      "import",
	withToken: true,
	args:      "[FILE|-]",
	summary:   "import the variables of a .env file as secrets",
	details: `Reads a .env file (FILE, or standard input when FILE is "-" or omitted) and
stores each variable KEY as the secret NS/KEY, where NS is --namespace.
--namespace is required: there is no default namespace, and an empty one is
refused, so that a mistyped command cannot scatter secrets at the top level.

The import is safe to re-run: a secret that exists is skipped, unless
--overwrite, which adds a version only where the value differs. Tier and type
apply to the secrets the import creates; existing secrets keep theirs.
--tier-prefix and --type-prefix choose them by variable name (the longest
matching prefix wins); --tier and --type apply to the other variables.

The whole input is read and checked first: a syntax error, an invalid name or
an oversized value anywhere writes nothing, and the error names the line
(never a value). Values are stored byte-exact, without $VAR expansion. A
variable defined twice takes its last value, with a warning on stderr (the
first ten by line, then a count). Variables that "ass run" will not pass to a
command without --allow-env (BASH_ENV, LD_PRELOAD, PATH, ASS_TOKEN, …) are
imported with a warning on stderr: a .env file from someone else may plant
them.

Prints "Imported N secrets, skipped M" (and ", updated K") at the end.
--dry-run writes nothing and prints the plan: one line per variable with the
action (create, update, skip, unchanged), path, tier and type (tier and type
only for secrets that would be created); --verbose prints the same lines
after a real import. On a terminal, a large import shows progress on stderr.

With --json, prints {"created","updated","skipped","dry_run","import_id","secrets":
[{"variable","line","path","type","tier","action","version"}],"warnings"};
action is created, updated, skipped or unchanged (in a dry run: what would
happen). If storage fails part-way, the error says how many variables were
done (with --json, "secrets" lists them); running the same import again
finishes the job.

With a token (ASS_TOKEN), the import goes through it: every variable's path
must be within a write scope and every created secret's tier within the
token's, all checked before anything is written; the import counts as one
use and is audited as the token.`,
	maxArgs: 1,
	define:  defineImport,
}

func defineImport(fs *flag.FlagSet) func(*cli, []string) error {
	ns := &namespacesFlag{single: true}
	var tier tierFlag
	var typ typeFlag
	tierPrefixes := newPrefixFlag(agentvault.ParseAccessTier)
	typePrefixes := newPrefixFlag(agentvault.ParseSecretType)
	fs.Var(ns, "namespace", "store variable KEY as the secret `NS`/KEY (required)")
	fs.Var(&tier, "tier", "access `TIER` of created secrets: standard, sensitive or critical (default sensitive)")
	fs.Var(tierPrefixes, "tier-prefix", "`PREFIX=TIER` for variables whose name starts with PREFIX (repeatable; longest prefix wins)")
	fs.Var(&typ, "type", "secret `TYPE` of created secrets: "+typeNames()+" (default custom)")
	fs.Var(typePrefixes, "type-prefix", "`PREFIX=TYPE` for variables whose name starts with PREFIX (repeatable; longest prefix wins)")
	dryRun := fs.Bool("dry-run", false, "print the plan and write nothing")
	overwrite := fs.Bool("overwrite", false, "add a version to existing secrets whose value differs")
	verbose := fs.Bool("verbose", false, "print one line per variable")
	return func(c *cli, args []string) error {
		if len(ns.list) == 0 {
			return usagef("--namespace is required (e.g. --namespace production)")
		}
		namespace := ns.list[0]
		f, err := c.readEnvFile(args)
		if err != nil {
			return err
		}
		entries := f.Dedup()

		s, err := c.open()
		if err != nil {
			return err
		}
		defer s.Close()
		// ImportEnv checks all this too, but per chunk: check the whole input
		// before the first chunk writes anything.
		limit := s.vault.MaxValueSize()
		for _, e := range entries {
			if err := agentvault.ValidatePath(namespace + "/" + e.Key); err != nil {
				return inputError{fmt.Errorf("import: variable %s (line %d): %s", e.Key, e.Line, libReason(err))}
			}
			if len(e.Value) > limit {
				return inputError{fmt.Errorf("import: variable %s (line %d): value is %d bytes, larger than the limit of %d",
					e.Key, e.Line, len(e.Value), limit)}
			}
		}
		for _, w := range f.Warnings {
			fmt.Fprintf(c.stderr, "ass: warning: %s\n", oneLine(w.String()))
		}
		c.warnImportNames(entries)

		opts := agentvault.ImportOptions{
			Namespace: namespace,
			Tier:      agentvault.AccessTier(tier), TierPrefixes: tierPrefixes.m,
			Type: agentvault.SecretType(typ), TypePrefixes: typePrefixes.m,
			DryRun: *dryRun, Overwrite: *overwrite,
			// The chunks are ass's own output of input already checked.
			ParseOptions: []envfile.Option{envfile.WithMaxBytes(0), envfile.WithMaxLineBytes(0)},
		}
		res, err := c.importEntries(s.p, entries, opts)
		for _, w := range f.Warnings {
			res.Warnings = append(res.Warnings, w.String())
		}
		if err != nil {
			if c.g.json {
				_ = writeJSON(c.stdout, res)
			}
			return err
		}
		if c.g.json {
			return writeJSON(c.stdout, res)
		}
		if *dryRun || *verbose {
			if err := writeImportPlan(c.stdout, res); err != nil {
				return err
			}
		}
		_, err = fmt.Fprintln(c.stdout, importSummary(res))
		return err
	}
}

// readEnvFile reads and parses the .env file named by args: a file, or
// stdin for "-" or no argument.
func (c *cli) readEnvFile(args []string) (*envfile.File, error) {
	var r io.Reader
	if len(args) == 0 || args[0] == "-" {
		if len(args) == 0 && c.stdinTTY {
			return nil, usagef(`no FILE given and standard input is a terminal: give a .env file, or pipe one in (use "-" to type it)`)
		}
		r = c.stdin
	} else {
		file, err := os.Open(args[0])
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		defer file.Close()
		r = file
	}
	f, err := envfile.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return f, nil
}

// importEntries imports entries in chunks of importChunk, showing progress
// on a terminal, and returns the combined result with the line numbers of
// the original input. Entries must have distinct keys. On failure the
// result lists what was written.
func (c *cli) importEntries(v principal, entries []envfile.Entry, opts agentvault.ImportOptions) (*agentvault.ImportResult, error) {
	if opts.ImportID == "" {
		// One import in the audit trail, however many chunks.
		opts.ImportID = newImportID()
	}
	total := &agentvault.ImportResult{DryRun: opts.DryRun, Secrets: make([]agentvault.ImportedSecret, 0, len(entries)), ImportID: opts.ImportID}
	lines := make(map[string]int, len(entries))
	for _, e := range entries {
		lines[e.Key] = e.Line
	}
	p := c.newProgress(len(entries))
	defer p.finish()
	size := importChunk
	if c.cred.token != "" {
		// Through a token, one call: the Session checks every variable
		// against the token's scopes and tier before anything is written,
		// which chunks would do only chunk by chunk.
		size = max(len(entries), 1)
	}
	for start := 0; start < len(entries); start += size {
		chunk := entries[start:min(start+size, len(entries))]
		text, err := envfile.Format(chunk)
		if err != nil {
			return total, fmt.Errorf("import: %w", err) // parsed entries always format
		}
		res, err := v.ImportEnv(c.ctx, bytes.NewReader(text), opts)
		clear(text)
		var done int
		if res != nil {
			done = len(res.Secrets)
			for _, sec := range res.Secrets {
				sec.Line = lines[sec.Variable]
				total.Secrets = append(total.Secrets, sec)
			}
			total.Created += res.Created
			total.Updated += res.Updated
			total.Skipped += res.Skipped
		}
		if err != nil {
			var failed *envfile.Entry
			if res != nil && done < len(chunk) {
				failed = &chunk[done]
			}
			return total, importError(err, opts.Namespace, failed, len(total.Secrets), len(entries))
		}
		p.update(len(total.Secrets))
	}
	return total, nil
}

// newImportID returns a random import id, "imp_" and 16 hex digits, like
// the library's own.
func newImportID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ass: crypto/rand failed: " + err.Error())
	}
	return "imp_" + hex.EncodeToString(b[:])
}

// importError restates an error of ImportEnv on one chunk for the whole
// input: the variable's line in the input, and how many variables of the
// input were done. failed is the variable that failed, if the chunk got
// that far.
func importError(err error, namespace string, failed *envfile.Entry, done, total int) error {
	// ImportEnv returns *agentvault.Error{Op: "import"} around its cause,
	// which for a variable is wrapped once more as "variable K (line N):
	// CAUSE; i of n variables done, …" (or only the latter, when CAUSE is
	// itself an *agentvault.Error). Take CAUSE.
	cause := err
	if ae, ok := cause.(*agentvault.Error); ok && ae.Op == "import" {
		cause = ae.Err
	}
	if failed != nil {
		if u := errors.Unwrap(cause); u != nil {
			cause = u
		}
	}
	if ae, ok := cause.(*agentvault.Error); ok {
		cause = libError{ae}
	}
	again := "run the import again to finish"
	if failed == nil {
		return &agentvault.Error{Op: "import", Path: namespace,
			Err: fmt.Errorf("%w; %d of %d variables done, %s", cause, done, total, again)}
	}
	return &agentvault.Error{Op: "import", Path: namespace + "/" + failed.Key,
		Err: fmt.Errorf("variable %s (line %d): %w; %d of %d variables done, %s", failed.Key, failed.Line, cause, done, total, again)}
}

// libError shows a library error nested in another without its
// "agentvault: " prefix.
type libError struct{ err *agentvault.Error }

func (e libError) Error() string { return strings.TrimPrefix(e.err.Error(), "agentvault: ") }
func (e libError) Unwrap() error { return e.err }

// importVerbs are the actions of a dry run, in the future tense.
var importVerbs = map[agentvault.ImportAction]string{
	agentvault.ImportCreated:   "create",
	agentvault.ImportUpdated:   "update",
	agentvault.ImportSkipped:   "skip",
	agentvault.ImportUnchanged: "unchanged",
}

// writeImportPlan writes one line per variable: action, path, and the tier
// and type of a created secret ("-" for an existing one, which keeps its
// own).
func writeImportPlan(w io.Writer, res *agentvault.ImportResult) error {
	rows := make([][]string, len(res.Secrets))
	for i, s := range res.Secrets {
		action := string(s.Action)
		if res.DryRun {
			action = importVerbs[s.Action]
		}
		tier, typ := string(s.Tier), string(s.Type)
		if s.Action != agentvault.ImportCreated {
			tier, typ = "", ""
		}
		rows[i] = []string{action, s.Path, tier, typ}
	}
	return writeTable(w, []string{"ACTION", "PATH", "TIER", "TYPE"}, rows)
}

// importSummary is the last line of an import: "Imported 3 secrets,
// skipped 1, updated 2", or for a dry run "Dry run: would import 3
// secrets, skip 1; nothing written".
func importSummary(res *agentvault.ImportResult) string {
	if res.DryRun {
		s := fmt.Sprintf("Dry run: would import %s, skip %d", plural(res.Created, "secret"), res.Skipped)
		if res.Updated > 0 {
			s += fmt.Sprintf(", update %d", res.Updated)
		}
		return s + "; nothing written"
	}
	s := fmt.Sprintf("Imported %s, skipped %d", plural(res.Created, "secret"), res.Skipped)
	if res.Updated > 0 {
		s += fmt.Sprintf(", updated %d", res.Updated)
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// progress shows "importing 500/10000 variables" on a terminal's stderr,
// rewriting one line, for inputs of more than progressMin variables.
type progress struct {
	w     io.Writer
	total int
	shown bool
}

func (c *cli) newProgress(total int) *progress {
	p := &progress{total: total}
	if c.stderrTTY && total > progressMin {
		p.w = c.stderr
		p.update(0)
	}
	return p
}

func (p *progress) update(done int) {
	if p.w == nil {
		return
	}
	fmt.Fprintf(p.w, "\rass: importing… %d/%d variables", done, p.total)
	p.shown = true
}

// finish erases the progress line.
func (p *progress) finish() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
