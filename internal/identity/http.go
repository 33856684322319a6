package identity

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"
)

// RateLimit is a per-identity token bucket: each verified caller may make
// PerSecond requests a second on average, in bursts of up to Burst.
// PerSecond <= 0 disables the limit.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// HTTPMiddleware is the one authorization point of a connect-go server
// (DESIGN §9) whose TLS is s.ServerTLS. For each request it takes the
// caller's verified SPIFFE ID from the TLS connection (refusing requests
// without one), re-checks the caller's certificate against the CRL and
// dates in force now (CheckPeer; so a connection opened before a
// revocation is refused on its next request), authorizes the
// URL path as the procedure against p, applies the per-identity rate limit,
// and passes the request on with the ID in its context (FromContext).
// Refusals are answered in the caller's protocol by connect-go's
// ErrorWriter: gRPC and gRPC-Web get an empty 200 with grpc-status 7
// (permission denied), 16 (unauthenticated) or 8 (rate limited); Connect
// streaming gets an end-of-stream error; Connect unary and anything else
// gets 403, 401 or 429 with a JSON body {"code": ..., "message": ...}.
// Every refusal is logged with the caller and the procedure, never with the
// payload.
func (s *Source) HTTPMiddleware(next http.Handler, p *Policy, log hclog.Logger, limit RateLimit) http.Handler {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	server := "server"
	if p != nil && p.Server != "" {
		server = p.Server
	}
	limits := newLimiters(limit)
	ew := connect.NewErrorWriter()
	refuse := func(w http.ResponseWriter, r *http.Request, code connect.Code, msg string) {
		_ = ew.Write(w, r, connect.NewError(code, errors.New(msg)))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proc := r.URL.Path
		if r.TLS == nil {
			log.Warn("request refused", "server", server, "caller", "(no tls)", "procedure", logSafe(proc), "reason", "no tls connection")
			refuse(w, r, connect.CodeUnauthenticated, "client certificate required")
			return
		}
		id, _, err := PeerID(*r.TLS)
		if err != nil {
			log.Warn("request refused", "server", server, "caller", "(unverified)", "procedure", logSafe(proc), "reason", err.Error())
			refuse(w, r, connect.CodeUnauthenticated, "client certificate required")
			return
		}
		if err := s.CheckPeer(r.TLS.PeerCertificates); err != nil {
			log.Warn("request refused", "server", server, "caller", id.String(), "procedure", logSafe(proc), "reason", err.Error())
			refuse(w, r, connect.CodeUnauthenticated, "client certificate revoked or expired")
			return
		}
		if err := p.Authorize(id, proc); err != nil {
			var d *DeniedError
			reason := err.Error()
			if errors.As(err, &d) {
				reason = d.Reason
			}
			log.Warn("request denied", "server", server, "caller", id.String(), "procedure", logSafe(proc), "reason", reason)
			refuse(w, r, connect.CodePermissionDenied, fmt.Sprintf("%s may not call %s", id, logSafe(proc)))
			return
		}
		if !limits.allow(id, func() {
			log.Warn("request rate limited", "server", server, "caller", id.String(), "procedure", logSafe(proc))
		}) {
			refuse(w, r, connect.CodeResourceExhausted, "rate limit exceeded for "+id.String())
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// logSafe bounds an attacker-chosen path before it is logged or echoed.
func logSafe(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

// limiters keeps one token bucket per caller. The federation issues a
// bounded number of certificates, so the map stays small.
type limiters struct {
	cfg RateLimit
	mu  sync.Mutex
	m   map[ID]*limiterEntry
}

type limiterEntry struct {
	lim        *rate.Limiter
	lastLogged time.Time
}

func newLimiters(cfg RateLimit) *limiters {
	return &limiters{cfg: cfg, m: map[ID]*limiterEntry{}}
}

// allow takes a token for id; when none is left it calls logRefusal at most
// every ten seconds per caller, so a flood does not flood the log too.
func (l *limiters) allow(id ID, logRefusal func()) bool {
	if l.cfg.PerSecond <= 0 {
		return true
	}
	l.mu.Lock()
	e, ok := l.m[id]
	if !ok {
		burst := l.cfg.Burst
		if burst < 1 {
			burst = 1
		}
		e = &limiterEntry{lim: rate.NewLimiter(rate.Limit(l.cfg.PerSecond), burst)}
		l.m[id] = e
	}
	l.mu.Unlock()
	if e.lim.Allow() {
		return true
	}
	l.mu.Lock()
	now := time.Now()
	logIt := now.Sub(e.lastLogged) > 10*time.Second
	if logIt {
		e.lastLogged = now
	}
	l.mu.Unlock()
	if logIt {
		logRefusal()
	}
	return false
}
