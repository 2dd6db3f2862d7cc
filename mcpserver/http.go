package mcpserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPHandler serves srv over the streamable HTTP transport to clients
// that present "Authorization: Bearer <bearer>" and connect from a
// loopback address; others get 401 or 403 and reach no tool. The SDK's
// DNS-rebinding protection (a loopback connection must name a loopback
// Host) stays on. bearer must not be empty.
func HTTPHandler(srv *mcp.Server, bearer string) (http.Handler, error) {
	if bearer == "" {
		return nil, fmt.Errorf("%w: empty bearer", ErrInvalidOptions)
	}
	want := sha256.Sum256([]byte(bearer))
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !ap.Addr().Unmap().IsLoopback() {
			http.Error(w, "forbidden: loopback clients only", http.StatusForbidden)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		g := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(g[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="agentvault"`)
			http.Error(w, "unauthorized: send Authorization: Bearer <the server's token>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}), nil
}

// CheckLoopback returns an error unless addr is host:port with a loopback
// IP host (127.0.0.1, ::1) or "localhost": the HTTP transport never listens
// on a network interface.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("%w: --http %q is not HOST:PORT (e.g. 127.0.0.1:8765)", ErrInvalidOptions, trunc(addr, 64))
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("%w: --http %q is not a loopback address (use 127.0.0.1:PORT)", ErrInvalidOptions, trunc(addr, 64))
	}
	return nil
}
