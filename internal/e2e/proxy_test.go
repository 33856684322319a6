package e2e

import (
	"net"
	"sync"
	"testing"
	"time"
)

// relMode is what a relProxy does with traffic.
type relMode int

const (
	// relPass forwards every byte at once.
	relPass relMode = iota
	// relDrop is a network partition: bytes on open connections are held
	// back (as TCP would keep retransmitting them) and new connections are
	// accepted but not connected upstream. Heal delivers what was held, so
	// the two ends find out about the partition only from their own
	// heartbeats and timeouts, as on a real network.
	relDrop
	// relCut resets every open connection and refuses new ones (closed at
	// once), like a firewall rule or a pulled cable that both ends notice.
	relCut
)

// relProxy is a TCP proxy a test controls: it sits between a node and the
// hub's federation listener and can delay, drop (partition) or cut the
// link, and switch its upstream to another server.
type relProxy struct {
	ln net.Listener

	mu       sync.Mutex
	cond     *sync.Cond
	upstream string
	mode     relMode
	delay    time.Duration
	conns    map[*relProxyConn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// relProxyConn is one proxied connection: the accepted client side and the
// dialed upstream side.
type relProxyConn struct {
	client, up net.Conn
	once       sync.Once
}

func (c *relProxyConn) close() {
	c.once.Do(func() {
		_ = c.client.Close()
		if c.up != nil {
			_ = c.up.Close()
		}
	})
}

// relStartProxy listens on a loopback port and forwards to upstream until
// the test ends.
func relStartProxy(t testing.TB, upstream string) *relProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &relProxy{ln: ln, upstream: upstream, conns: map[*relProxyConn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Go(p.accept)
	t.Cleanup(p.Close)
	return p
}

// Addr is the address clients dial.
func (p *relProxy) Addr() string { return p.ln.Addr().String() }

// SetUpstream makes new connections go to addr; open ones are left alone
// (Cut them to force a redial).
func (p *relProxy) SetUpstream(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upstream = addr
}

// Delay adds d before every forwarded chunk, in both directions.
func (p *relProxy) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Drop starts a partition (see relDrop).
func (p *relProxy) Drop() { p.setMode(relDrop) }

// Cut resets every open connection and refuses new ones until Heal.
func (p *relProxy) Cut() {
	p.setMode(relCut)
	p.mu.Lock()
	conns := make([]*relProxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Heal ends a partition or a cut: held bytes flow again and new
// connections pass.
func (p *relProxy) Heal() { p.setMode(relPass) }

func (p *relProxy) setMode(m relMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	p.cond.Broadcast()
}

// Close stops the proxy and every connection through it.
func (p *relProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.cond.Broadcast()
	conns := make([]*relProxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range conns {
		c.close()
	}
	p.wg.Wait()
}

// waitPass blocks while the link is partitioned; it returns false when the
// connection must end (cut or proxy closed).
func (p *relProxy) waitPass() (delay time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == relDrop && !p.closed {
		p.cond.Wait()
	}
	return p.delay, !p.closed && p.mode == relPass
}

func (p *relProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed || p.mode == relCut {
			p.mu.Unlock()
			_ = client.Close()
			continue
		}
		c := &relProxyConn{client: client}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *relProxy) serve(c *relProxyConn) {
	defer func() {
		c.close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	// A connection opened during a partition is held before it reaches
	// the upstream at all.
	if _, ok := p.waitPass(); !ok {
		return
	}
	p.mu.Lock()
	addr := p.upstream
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	c.up = up
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(c, up, c.client) })
	wg.Go(func() { p.pipe(c, c.client, up) })
	wg.Wait()
}

// pipe copies src to dst chunk by chunk, honouring the mode and delay
// before each chunk; either side ending ends the whole connection.
func (p *relProxy) pipe(c *relProxyConn, dst, src net.Conn) {
	defer c.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			delay, ok := p.waitPass()
			if !ok {
				return
			}
			if delay > 0 {
				time.Sleep(delay)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			// EOF, a reset or our own Close: the connection is over.
			return
		}
	}
}
