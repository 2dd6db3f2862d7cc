package main

import (
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/agentvault/agentvault"
)

var completionCommand = &command{
	name:         "completion",
	withToken:    true,
	withAgentKey: func([]string) bool { return true },
	args:         "bash | zsh | fish",
	summary:      "print a shell completion script",
	details: `Prints a script that completes ass's commands, subcommands, flags, tiers,
types, and secret paths and namespaces. Load it with:
  bash  source <(ass completion bash)       (or save it under
        ~/.local/share/bash-completion/completions/ass)
  zsh   source <(ass completion zsh)        (after compinit)
  fish  ass completion fish | source        (or save it as
        ~/.config/fish/completions/ass.fish)

Secret paths are completed by names only, never values, and through the
same access checks as "ass list": with $ASS_TOKEN set, only the paths the
token may list; with $ASS_AGENT_KEY set, none. The vault is opened with
the --backend and --kms on the command line being completed, else
$ASS_BACKEND and $ASS_KMS.`,
	minArgs: 1, maxArgs: 1,
	define: func(*flag.FlagSet) func(*cli, []string) error {
		return func(c *cli, args []string) error {
			if c.g.json {
				return usagef("--json does not apply: completion prints a shell script")
			}
			script, ok := completionScripts[args[0]]
			if !ok {
				return usagef("unknown shell %q (want bash, zsh or fish)", truncate(args[0], 32))
			}
			_, err := fmt.Fprint(c.stdout, script)
			return err
		}
	},
}

// completeCommand is the hidden command the scripts call:
// "ass __complete WORD... CURRENT" prints the candidates for CURRENT, one a
// line. It prints nothing, and exits 0, when it has none or fails.
const completeCommand = "__complete"

var completionScripts = map[string]string{
	"bash": `# bash completion for ass
_ass() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local IFS=$'\n'
    COMPREPLY=($(ass __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null))
}
complete -o default -F _ass ass
`,
	"zsh": `#compdef ass
# zsh completion for ass
_ass() {
    local -a cands
    cands=("${(@f)$(ass __complete "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null)}")
    cands=(${cands:#})
    if (( ${#cands} )); then
        compadd -a cands
    else
        _files
    fi
}
compdef _ass ass
`,
	"fish": `# fish completion for ass
function __ass_complete
    set -l words (commandline -opc)
    set -e words[1]
    ass __complete $words (commandline -ct) 2>/dev/null
end
complete -c ass -f -a '(__ass_complete)'
`,
}

// runComplete answers "ass __complete WORD... CURRENT".
func (c *cli) runComplete(args []string) int {
	if len(args) == 0 {
		return exitOK
	}
	words, cur := args[:len(args)-1], args[len(args)-1]
	for _, s := range c.complete(words, cur) {
		if strings.HasPrefix(s, cur) {
			fmt.Fprintln(c.stdout, s)
		}
	}
	return exitOK
}

// complete returns the candidates for the word cur after words (the
// command line without "ass"), unfiltered by cur.
func (c *cli) complete(words []string, cur string) []string {
	i := findCommand(words)
	if i < 0 {
		if strings.HasPrefix(cur, "-") {
			return append(flagNames(globalsOnly()), "--help", "--version")
		}
		return commandNames()
	}
	cmd := lookupCommand(words[i])
	if cmd == nil {
		return nil
	}
	fs := newFlagSet(cmd.name)
	addGlobals(fs, &c.g)
	cmd.define(fs)
	rest := append(append([]string{}, words[:i]...), words[i+1:]...)
	var pos []string
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			return nil // ass run's command: the shell's own completion
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if bf, ok := f.Value.(boolFlag); ok && bf.IsBoolFlag() {
			continue
		}
		if !hasValue {
			if j+1 == len(rest) {
				return c.completeValue(name) // cur is this flag's value
			}
			j++
			value = rest[j]
		}
		_ = fs.Set(name, value) // --backend, --kms, --token … of the line being completed
	}
	if strings.HasPrefix(cur, "-") {
		return append(flagNames(fs), "--help")
	}
	if len(pos) > 0 {
		return nil
	}
	switch {
	case cmd.passThrough:
		return nil
	case cmd == helpCommand:
		return commandNames()
	case cmd == completionCommand:
		return []string{"bash", "fish", "zsh"}
	}
	first := strings.Fields(cmd.args)
	switch {
	case len(first) == 0:
		return nil
	case first[0] == "PATH" || first[0] == "[PREFIX]":
		c.set = setFlags(fs)
		return c.secretPaths(cur, false)
	case strings.ToLower(first[0]) == first[0] && !strings.HasPrefix(first[0], "["):
		var subs []string
		for _, alt := range strings.Split(cmd.args, "|") {
			if f := strings.Fields(alt); len(f) > 0 {
				subs = append(subs, f[0])
			}
		}
		return subs
	}
	return nil
}

// completeValue completes the value of the flag name.
func (c *cli) completeValue(name string) []string {
	switch name {
	case "tier":
		return []string{"critical", "sensitive", "standard"}
	case "type":
		return strings.Split(typeNames(), ", ")
	case "actor-kind":
		return []string{"agent", "human", "service", "system", "token"}
	case "namespace", "path":
		return c.secretPaths("", true)
	}
	return nil
}

// secretPaths lists secret paths starting with cur (or, with dirs, the
// namespaces holding secrets), by name only and through the same checks as
// "ass list": nothing when list would be refused or fails.
func (c *cli) secretPaths(cur string, dirs bool) []string {
	if c.set == nil {
		c.set = map[string]bool{}
	}
	if c.readCredentials() != nil || c.admit(listCommand, nil) != nil {
		return nil
	}
	f := agentvault.ListFilter{}
	if !dirs && cur != "" {
		f.Prefix = cur
	}
	s, err := c.open()
	if err != nil {
		return nil
	}
	defer s.Close()
	ms, err := s.p.ListSecrets(c.ctx, f)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		if !dirs {
			out = append(out, m.Path)
			continue
		}
		for p := m.Path; strings.Contains(p, "/"); {
			p = p[:strings.LastIndex(p, "/")]
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

func commandNames() []string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return names
}

func globalsOnly() *flag.FlagSet {
	fs := newFlagSet("ass")
	addGlobals(fs, &globals{})
	return fs
}

// flagNames lists fs's flags as --name, sorted.
func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
	slices.Sort(names)
	return names
}
