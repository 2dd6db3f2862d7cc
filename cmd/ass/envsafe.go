package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/agentvault/agentvault/envfile"
)

// This file is the one place that decides which variable names "ass run"
// may put into a command's environment, and which of the human's own
// variables it keeps from the command. "ass import" uses it to warn.
//
// The threat: a principal that may only write secrets (a write-only token
// for production/*, or a .env file someone hands over) creates
// production/BASH_ENV or production/LD_PRELOAD. Injected into a command,
// such a variable runs the writer's code as the human who typed "ass run",
// with every secret of the namespace in its environment. So run never
// injects a name that changes how programs are found, loaded or run, or
// where they send data, unless the human names it with --allow-env.

// envReason says why run leaves a secret's name out of the environment.
type envReason int

const (
	envOK        envReason = iota
	envBadName             // not [A-Z_][A-Z0-9_]*
	envDangerous           // on the denylist
	envOwn                 // ass's own configuration or credential
)

// envReasonText is how the warnings of run and import describe each reason.
var envReasonText = map[envReason]string{
	envBadName:   "whose name is not an upper-case variable name ([A-Z_][A-Z0-9_]*)",
	envDangerous: "whose name changes how programs are found, loaded or run",
	envOwn:       "whose name is ass's own configuration or credential",
}

// deniedEnv are the variable names run never injects without --allow-env:
// each changes how a program (or a program it starts) is found, loaded or
// run, which configuration it reads, or where it sends data. The list is
// necessarily incomplete; names not on it reach the command.
var deniedEnv = map[string]bool{
	// Where programs and libraries are found.
	"PATH": true, "GCONV_PATH": true, "GLIBC_TUNABLES": true, "LOCPATH": true, "NLSPATH": true,
	"HOSTALIASES": true, "RESOLV_HOST_CONF": true, "MALLOC_CHECK_": true, "TMPDIR": true, "TZDIR": true,
	"TERMINFO": true, "TERMINFO_DIRS": true,
	// Shells: startup files, functions, prompts, word splitting, tracing.
	"BASH_ENV": true, "ENV": true, "SHELLOPTS": true, "BASHOPTS": true, "PS0": true, "PS1": true,
	"PS2": true, "PS3": true, "PS4": true, "PROMPT_COMMAND": true, "IFS": true, "CDPATH": true,
	"GLOBIGNORE": true, "EXECIGNORE": true, "FIGNORE": true, "ZDOTDIR": true, "FPATH": true,
	"INPUTRC": true, "HISTFILE": true, "HISTCONTROL": true, "BASH_XTRACEFD": true,
	"BASH_LOADABLES_PATH": true, "BASH_COMPAT": true, "POSIXLY_CORRECT": true, "KSH_ENV": true,
	// Whose files are read: home, shell and configuration directories.
	"HOME": true, "SHELL": true, "XDG_CONFIG_HOME": true, "XDG_CONFIG_DIRS": true,
	"XDG_DATA_HOME": true, "XDG_DATA_DIRS": true,
	// Programs that other programs start.
	"EDITOR": true, "VISUAL": true, "PAGER": true, "MANPAGER": true, "BROWSER": true,
	"LESSOPEN": true, "LESSCLOSE": true, "LESSKEY": true, "SSH_ASKPASS": true, "SUDO_ASKPASS": true,
	"SUDO_EDITOR": true, "RSYNC_RSH": true, "CVS_RSH": true, "TAR_OPTIONS": true, "SSH_AUTH_SOCK": true,
	"GNUPGHOME": true, "KUBECONFIG": true, "DOCKER_HOST": true, "DOCKER_CONFIG": true,
	"AWS_CONFIG_FILE": true, "MAKEFLAGS": true, "MFLAGS": true, "FCEDIT": true,
	"SYSTEMD_PAGER": true, "SYSTEMD_EDITOR": true,
	// Compilers and build tools.
	"CC": true, "CXX": true, "CPP": true, "LD": true, "AR": true, "CFLAGS": true, "CXXFLAGS": true,
	"CPPFLAGS": true, "LDFLAGS": true, "RUSTC": true, "RUSTC_WRAPPER": true, "RUSTDOC": true,
	"RUSTFLAGS": true, "CARGO_HOME": true, "CARGO_BUILD_RUSTC_WRAPPER": true,
	// Language runtimes: options, startup code, module search paths.
	"NODE_OPTIONS": true, "NODE_PATH": true, "NODE_REPL_EXTERNAL_MODULE": true,
	"PYTHONPATH": true, "PYTHONHOME": true, "PYTHONSTARTUP": true, "PYTHONINSPECT": true,
	"PYTHONBREAKPOINT": true, "PYTHONUSERBASE": true, "PYTHONEXECUTABLE": true, "PYTHONWARNINGS": true,
	"PYTHONSAFEPATH": true, "PERL5OPT": true, "PERL5LIB": true, "PERLLIB": true, "PERL5DB": true,
	"RUBYOPT": true, "RUBYLIB": true, "GEM_HOME": true, "GEM_PATH": true, "BUNDLE_GEMFILE": true,
	"JAVA_TOOL_OPTIONS": true, "_JAVA_OPTIONS": true, "JDK_JAVA_OPTIONS": true, "CLASSPATH": true,
	"JAVA_HOME": true, "JAVA_OPTS": true, "JRE_HOME": true, "GRADLE_OPTS": true, "MAVEN_OPTS": true,
	"ANT_OPTS": true, "SBT_OPTS": true, "CATALINA_OPTS": true, "PERL_MB_OPT": true, "PERL_MM_OPT": true,
	"GOFLAGS": true, "GOTOOLCHAIN": true, "GOPROXY": true, "GOROOT": true, "GOPATH": true, "GOENV": true,
	"PHPRC": true, "PHP_INI_SCAN_DIR": true, "LUA_INIT": true, "LUA_PATH": true, "LUA_CPATH": true,
	"TCLLIBPATH": true, "R_PROFILE": true, "R_PROFILE_USER": true, "R_ENVIRON": true, "R_ENVIRON_USER": true,
	"DOTNET_STARTUP_HOOKS": true, "DOTNET_ADDITIONAL_DEPS": true, "PIP_INDEX_URL": true, "PIP_EXTRA_INDEX_URL": true, "PIP_CONFIG_FILE": true,
	// Where network traffic goes and which certificates are trusted.
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "ALL_PROXY": true, "NO_PROXY": true, "FTP_PROXY": true,
	"SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "REQUESTS_CA_BUNDLE": true, "CURL_CA_BUNDLE": true,
	"CURL_HOME": true, "NODE_EXTRA_CA_CERTS": true, "NODE_TLS_REJECT_UNAUTHORIZED": true,
	"PYTHONHTTPSVERIFY": true, "SSLKEYLOGFILE": true, "OPENSSL_CONF": true, "OPENSSL_ENGINES": true,
	"OPENSSL_MODULES": true, "WGETRC": true,
}

// deniedEnvPrefixes are families of names denied like deniedEnv: the
// dynamic linker (LD_, DYLD_), glibc's allocator (MALLOC_), exported shell
// functions (BASH_FUNC_), git (GIT_SSH_COMMAND, GIT_CONFIG_*,
// GIT_EXEC_PATH …), npm configuration (NPM_CONFIG_SCRIPT_SHELL …) and .NET
// profilers. ASS_ is ass's own (see envOwn).
var deniedEnvPrefixes = []string{"LD_", "DYLD_", "BASH_FUNC_", "GIT_", "COR_", "CORECLR_", "MALLOC_", "NPM_CONFIG_"}

// upperEnvName reports whether name matches [A-Z_][A-Z0-9_]*.
func upperEnvName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// envPolicy decides which names run injects and which of the inherited
// variables it drops. The zero value allows nothing extra.
type envPolicy struct {
	allow  map[string]bool // --allow-env NAME
	keyVar string          // the variable an env:// key URL names, if any
}

// newEnvPolicy returns the policy for a vault whose key URL is kmsURL, with
// the names the human allowed.
func newEnvPolicy(kmsURL string, allow []string) envPolicy {
	p := envPolicy{allow: make(map[string]bool, len(allow))}
	for _, n := range allow {
		p.allow[n] = true
	}
	if rest, ok := strings.CutPrefix(kmsURL, "env://"); ok {
		p.keyVar = rest
	}
	return p
}

// check says whether run may inject the variable name, and if not, why.
func (p envPolicy) check(name string) envReason {
	if p.allow[name] {
		return envOK
	}
	if p.own(name) {
		return envOwn
	}
	return envNameReason(name)
}

// own reports whether name is ass's own configuration or credential:
// ASS_* (ASS_TOKEN, ASS_AGENT_KEY, ASS_KMS, a Redis password in
// ASS_BACKEND …) or the variable holding the master key of an env:// URL.
func (p envPolicy) own(name string) bool {
	return strings.HasPrefix(name, "ASS_") || (p.keyVar != "" && name == p.keyVar)
}

// envNameReason is check without --allow-env and without ass's own names
// beyond ASS_*: what import warns about.
func envNameReason(name string) envReason {
	switch {
	case !upperEnvName(name):
		return envBadName
	case strings.HasPrefix(name, "ASS_"):
		return envOwn
	case deniedEnv[name]:
		return envDangerous
	}
	for _, pre := range deniedEnvPrefixes {
		if strings.HasPrefix(name, pre) {
			return envDangerous
		}
	}
	return envOK
}

// inherited returns base (KEY=VALUE strings, the human's environment)
// without ass's own variables, unless allowed: the command must not be able
// to open the vault as the human.
func (p envPolicy) inherited(base []string) []string {
	out := make([]string, 0, len(base))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if p.own(k) && !p.allow[k] {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// refusedNames groups secret paths (or variable names) by the reason
// their name was refused.
type refusedNames map[envReason][]string

func (r refusedNames) add(why envReason, what string) { r[why] = append(r[why], what) }

// each calls f once per reason, in a fixed order (the most dangerous
// first), with the reason's text and its list: sorted, at most ten, then a
// count.
func (r refusedNames) each(f func(n int, why, list string)) {
	for _, why := range []envReason{envDangerous, envOwn, envBadName} {
		items := r[why]
		if len(items) == 0 {
			continue
		}
		sort.Strings(items)
		const show = 10
		list := strings.Join(items[:min(len(items), show)], ", ")
		if len(items) > show {
			list += " and " + strconv.Itoa(len(items)-show) + " more"
		}
		f(len(items), envReasonText[why], list)
	}
}

// allowEnvFlag collects repeatable --allow-env NAME flags.
type allowEnvFlag struct{ list []string }

func (f *allowEnvFlag) String() string { return strings.Join(f.list, ",") }

func (f *allowEnvFlag) Set(s string) error {
	if !envfile.ValidKey(s) {
		return errors.New("not a variable name (want e.g. PATH)")
	}
	f.list = append(f.list, s)
	return nil
}

// warnImportNames warns on stderr about imported variables whose names
// "ass run" refuses to inject (see envNameReason): a .env file from
// someone else may plant BASH_ENV or LD_PRELOAD. Names that are merely not
// upper-case are common and not reported.
func (c *cli) warnImportNames(entries []envfile.Entry) {
	refused := refusedNames{}
	for _, e := range entries {
		if why := envNameReason(e.Key); why == envDangerous || why == envOwn {
			refused.add(why, e.Key+" (line "+strconv.Itoa(e.Line)+")")
		}
	}
	refused.each(func(n int, why, list string) {
		fmt.Fprintf(c.stderr, "ass: warning: import: %s %s; \"ass run\" will not pass them without --allow-env NAME: %s\n",
			plural(n, "variable"), why, oneLine(list))
	})
}

// shellName reports whether name matches [A-Za-z_][A-Za-z0-9_]*, the
// names a shell can assign: sourcing "a.b=1" runs a command "a.b=1".
func shellName(name string) bool {
	return upperEnvName(strings.ToUpper(name))
}
