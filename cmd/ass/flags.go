package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/envfile"
)

// globals are the flags every command accepts, before or after its name.
type globals struct {
	backend  string
	kms      string
	actor    string
	json     bool
	token    string
	clientIP clientIPFlag
}

// globalFlagNames are the flags registered by addGlobals: help output lists
// them apart from a command's own flags.
var globalFlagNames = map[string]bool{"backend": true, "kms": true, "actor": true, "json": true, "token": true, "client-ip": true}

// globalValueFlags are the global flags that take a value.
var globalValueFlags = map[string]bool{"backend": true, "kms": true, "actor": true, "token": true, "client-ip": true}

// addGlobals registers the global flags on fs. Defaults come from the
// environment later (see resolve), so that "not given" can be told apart.
func addGlobals(fs *flag.FlagSet, g *globals) {
	fs.StringVar(&g.backend, "backend", "", "storage `URL`: file://DIR or mem:// (default file://$ASS_HOME/store; env ASS_BACKEND)")
	fs.StringVar(&g.kms, "kms", "", "key `URL`: local://FILE or env://VAR (default local://$ASS_HOME/key; env ASS_KMS)")
	fs.StringVar(&g.actor, "actor", "", "`NAME` recorded as created_by (default $ASS_ACTOR, else $USER, else \"cli\")")
	fs.BoolVar(&g.json, "json", false, "print JSON instead of text")
	fs.StringVar(&g.token, "token", "", "act through the scoped `TOKEN` (ast_tok_…; env ASS_TOKEN, preferred: flags are visible in the process list)")
	fs.Var(&g.clientIP, "client-ip", clientIPUsage)
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

type boolFlag interface{ IsBoolFlag() bool }

// parseArgs parses args against fs with flags and positional arguments in
// any order (stdlib flag stops at the first positional argument). "--" ends
// the flags: everything after it is positional. Both -name and --name work,
// and a value may follow as --name=value or as the next argument.
//
// A flag may be given once, unless its usage says it is repeatable: a
// repeated single-valued flag (--version v2 --version v1) is an error, not
// "the last one wins".
//
// When secretArgs is set (the command takes a secret value as an argument),
// an unknown flag is reported by position, never by its text, while it may
// be that value (one that starts with "-"): until maxArgs positional
// arguments have been seen.
func parseArgs(fs *flag.FlagSet, args []string, secretArgs bool, maxArgs int) ([]string, error) {
	var pos []string
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name := a[1:]
		if name[0] == '-' {
			name = name[1:]
		}
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		f := fs.Lookup(name)
		if name == "" || name[0] == '-' || f == nil {
			if secretArgs && len(pos) < maxArgs {
				return nil, fmt.Errorf("argument %d is an unknown flag (not shown; if it is a value that starts with \"-\", put \"--\" before it)", i+1)
			}
			return nil, fmt.Errorf("unknown flag %s", truncate(a, 40))
		}
		if seen[name] && !repeatable(f) {
			return nil, fmt.Errorf("flag --%s given more than once (it takes one value)", name)
		}
		seen[name] = true
		if bf, ok := f.Value.(boolFlag); ok && bf.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 == len(args) {
				return nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if err := fs.Set(name, value); err != nil {
			if _, ok := f.Value.(boolFlag); ok {
				return nil, fmt.Errorf("flag --%s takes no value (or =true/=false)", name)
			}
			return nil, fmt.Errorf("invalid --%s: %v", name, err)
		}
	}
	return pos, nil
}

// repeatable reports whether f may be given more than once: its usage
// says so, as the help shows it ("(repeatable)").
func repeatable(f *flag.Flag) bool {
	return strings.Contains(f.Usage, "repeatable")
}

// wantsHelp reports whether args ask for help (-h, -help, --help) before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// tagsFlag collects repeatable --tag KEY=VALUE flags. A later tag with the
// same key wins.
type tagsFlag map[string]string

func (t tagsFlag) String() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + t[k]
	}
	return strings.Join(keys, ",")
}

func (t tagsFlag) Set(s string) error {
	k, v, err := parseTag(s)
	if err != nil {
		return err
	}
	t[k] = v
	return nil
}

// parseTag splits "KEY=VALUE" at the first '='. The key must not be empty;
// the value may be.
func parseTag(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%q is not KEY=VALUE", truncate(s, 40))
	}
	if strings.TrimSpace(k) == "" {
		return "", "", fmt.Errorf("%q has an empty key (want KEY=VALUE)", truncate(s, 40))
	}
	return k, v, nil
}

// durationFlag is a positive duration: a Go duration (36h, 90m, 1h30m) or a
// whole number of days (90d).
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}

// parseDuration parses a Go duration ("36h", "1h30m", "90s") or a whole
// number of days ("90d"). The result must be positive.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration (want e.g. 90d, 36h, 15m or 1h30m)", truncate(s, 40))
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if days == "" || strings.TrimLeft(days, "0123456789") != "" {
			return 0, bad
		}
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("%q is too long a duration", truncate(s, 40))
		}
		if n == 0 {
			return 0, fmt.Errorf("%q is not a positive duration", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", truncate(s, 40))
	}
	return d, nil
}

// timeFlag is an RFC 3339 time such as 2027-01-31T00:00:00Z.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time (want e.g. 2027-01-31T00:00:00Z)", truncate(s, 40))
	}
	f.t = t
	return nil
}

// tierFlag is an access tier, checked when the flag is parsed.
type tierFlag agentvault.AccessTier

func (f *tierFlag) String() string { return string(*f) }

func (f *tierFlag) Set(s string) error {
	t, err := agentvault.ParseAccessTier(s)
	if err != nil {
		return errors.New(libReason(err))
	}
	*f = tierFlag(t)
	return nil
}

// typeFlag is a secret type, checked when the flag is parsed.
type typeFlag agentvault.SecretType

func (f *typeFlag) String() string { return string(*f) }

func (f *typeFlag) Set(s string) error {
	t, err := agentvault.ParseSecretType(s)
	if err != nil {
		return errors.New(libReason(err))
	}
	*f = typeFlag(t)
	return nil
}

// libReason is a library error's message without its package prefix and
// sentinel text: "unknown tier "x" (want …)".
func libReason(err error) string {
	s := strings.TrimPrefix(err.Error(), "agentvault: ")
	return strings.TrimPrefix(s, strings.TrimPrefix(agentvault.ErrInvalidInput.Error(), "agentvault: ")+": ")
}

// secretFlags are the metadata flags of set and create.
type secretFlags struct {
	typ         typeFlag
	tier        tierFlag
	tags        tagsFlag
	description string
	expiresIn   durationFlag
	expiresAt   timeFlag
}

func (s *secretFlags) add(fs *flag.FlagSet) {
	s.tags = tagsFlag{}
	fs.Var(&s.typ, "type", "secret `TYPE`: "+typeNames()+" (default custom)")
	fs.Var(&s.tier, "tier", "access `TIER`: standard, sensitive or critical (default sensitive)")
	fs.Var(s.tags, "tag", "add tag `KEY=VALUE` (repeatable)")
	fs.StringVar(&s.description, "description", "", "describe the secret with `TEXT` (up to 1 KiB; not secret)")
	fs.Var(&s.expiresIn, "expires-in", "expire after `DURATION`: 90d, 36h, 15m …")
	fs.Var(&s.expiresAt, "expires-at", "expire at `TIME` (RFC 3339, e.g. 2027-01-31T00:00:00Z)")
}

// checkExpiry rejects more than one of the expiry flags.
func checkExpiry(set map[string]bool, names ...string) error {
	var given []string
	for _, n := range names {
		if set[n] {
			given = append(given, "--"+n)
		}
	}
	if len(given) > 1 {
		return fmt.Errorf("%s cannot be combined", strings.Join(given, " and "))
	}
	return nil
}

func typeNames() string {
	ts := agentvault.SecretTypes()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// truncate shortens s for a message, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// namespacesFlag collects --namespace NS flags in the order given. import
// and export take one (single); run takes several. A trailing "/" is
// dropped; an empty namespace is refused, so that an unset shell variable
// ("--namespace $NS") cannot put secrets at the top level of the vault.
type namespacesFlag struct {
	list   []string
	single bool
}

func (f *namespacesFlag) String() string { return strings.Join(f.list, ",") }

func (f *namespacesFlag) Set(s string) error {
	if f.single && len(f.list) > 0 {
		return errors.New("given more than once (this command takes one namespace)")
	}
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return errors.New("empty namespace (want e.g. production or production/app)")
	}
	if err := agentvault.ValidatePath(s); err != nil {
		return errors.New(libReason(err))
	}
	f.list = append(f.list, s)
	return nil
}

// prefixFlag collects repeatable --tier-prefix or --type-prefix PREFIX=VALUE
// flags into a map; a later flag with the same prefix wins. PREFIX must be
// the start of a valid variable name, VALUE is checked by parse.
type prefixFlag[T any] struct {
	m     map[string]T
	parse func(string) (T, error)
}

func newPrefixFlag[T any](parse func(string) (T, error)) *prefixFlag[T] {
	return &prefixFlag[T]{m: map[string]T{}, parse: parse}
}

func (f *prefixFlag[T]) String() string {
	if f == nil {
		return ""
	}
	keys := make([]string, 0, len(f.m))
	for k := range f.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%s=%v", k, f.m[k])
	}
	return strings.Join(keys, ",")
}

func (f *prefixFlag[T]) Set(s string) error {
	p, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q is not PREFIX=VALUE", truncate(s, 40))
	}
	if p == "" {
		return fmt.Errorf("%q has an empty prefix (want PREFIX=VALUE, e.g. DB_=critical)", truncate(s, 40))
	}
	// Every non-empty start of a valid variable name is itself a valid name.
	if !envfile.ValidKey(p) {
		return fmt.Errorf("prefix %q can never match a variable name (A-Z a-z 0-9 _ . -, not starting with a digit, '.' or '-')", truncate(p, 40))
	}
	t, err := f.parse(v)
	if err != nil {
		return errors.New(libReason(err))
	}
	f.m[p] = t
	return nil
}
