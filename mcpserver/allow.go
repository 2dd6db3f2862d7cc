package mcpserver

import (
	"fmt"
	"strings"
)

// pattern is one --allow-run pattern: literal text with '*' matching any
// run of characters (spaces included), split at the stars.
type pattern struct {
	src   string
	parts []string // len(parts)-1 stars between them
}

func parsePattern(s string) (pattern, error) {
	if strings.TrimSpace(s) == "" || strings.ContainsAny(s, "\x00\n\r") {
		return pattern{}, fmt.Errorf("%w: --allow-run pattern %q is empty or holds a control character", ErrInvalidOptions, trunc(s, 64))
	}
	return pattern{src: s, parts: strings.Split(s, "*")}, nil
}

// match reports whether the whole of s matches. Greedy leftmost matching
// of the literal parts is exact for '*'-only patterns and linear in s.
func (p pattern) match(s string) bool {
	parts := p.parts
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	mid := s[len(first) : len(s)-len(last)]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(mid, part)
		if i < 0 {
			return false
		}
		mid = mid[i+len(part):]
	}
	return true
}

// allowed reports whether argv, joined by single spaces, matches a pattern.
func (s *server) allowed(argv []string) bool {
	line := strings.Join(argv, " ")
	for _, p := range s.allow {
		if p.match(line) {
			return true
		}
	}
	return false
}

// envNameOK reports whether a variable may carry a secret into a command:
// an upper-case name, and none that changes how programs are found, loaded
// or run (PATH, LD_PRELOAD, BASH_ENV, NODE_OPTIONS, …) or that carries the
// server's own credentials (ASS_*). The list of names refused is
// necessarily incomplete; the allowlist of commands is the control.
func envNameOK(name string) bool {
	if name == "" || len(name) > 128 || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	for _, p := range deniedEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return !deniedEnv[name]
}

var deniedEnvPrefixes = []string{
	"ASS_", "LD_", "DYLD_", "BASH", "GCONV", "GLIBC_", "MALLOC_", "PYTHON", "PERL", "RUBY", "NODE_", "NPM_",
	"JAVA", "_JAVA", "JDK_", "GIT_", "LUA_", "PHP", "DOTNET_", "SSL_", "XDG_", "R_", "PIP_", "GEM_",
}

var deniedEnv = map[string]bool{
	"PATH": true, "ENV": true, "IFS": true, "CDPATH": true, "SHELLOPTS": true, "PS0": true, "PS1": true,
	"PS2": true, "PS4": true, "PROMPT_COMMAND": true, "HOME": true, "SHELL": true, "ZDOTDIR": true,
	"FPATH": true, "KSH_ENV": true, "TMPDIR": true, "LOCPATH": true, "NLSPATH": true, "HOSTALIASES": true,
	"EDITOR": true, "VISUAL": true, "PAGER": true, "LESSOPEN": true, "LESSCLOSE": true, "SSH_ASKPASS": true,
	"SUDO_ASKPASS": true, "SSH_AUTH_SOCK": true, "CLASSPATH": true, "RUBYOPT": true, "TCLLIBPATH": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "ALL_PROXY": true, "NO_PROXY": true, "FTP_PROXY": true,
	"REQUESTS_CA_BUNDLE": true, "CURL_CA_BUNDLE": true, "KUBECONFIG": true, "DOCKER_HOST": true,
	"DOCKER_CONFIG": true, "GNUPGHOME": true, "MAKEFLAGS": true, "TERMINFO": true, "TZDIR": true,
	"GOFLAGS": true, "GOTOOLCHAIN": true, "GOPROXY": true, "GOROOT": true, "GOPATH": true, "GOENV": true,
}
