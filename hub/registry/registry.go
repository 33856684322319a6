// Package registry is the hub's record of the states it federates: one
// hubv1.Node per country. Everything but the live connection state persists
// in the hub's store, so a restarted hub still lists every state it has seen
// (disconnected until its node attaches again).
package registry

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/hub/store"
	"github.com/vrs-federation/vrs/internal/codes"
	"github.com/vrs-federation/vrs/internal/logging"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

// ErrNotFound is returned for a country the hub has never seen.
var ErrNotFound = errors.New("node not found")

// Config holds the registry's dependencies.
type Config struct {
	// Store is the hub's store (required).
	Store *store.Store
	// Log defaults to a discarding logger.
	Log hclog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Registry tracks every state's node. It is safe for concurrent use.
type Registry struct {
	store *store.Store
	log   hclog.Logger
	now   func() time.Time

	mu    sync.Mutex
	live  map[string]time.Time // country -> connected since
	nodes map[string]*hubv1.Node
	// saved is when each node was last written; Seen writes at most once
	// per SeenPersistInterval.
	saved map[string]time.Time
}

// SeenPersistInterval bounds how often a sign of life is written to disk.
// The last-seen time is served from memory; on disk it is at most this old
// after a crash (an orderly stop writes it). Writing it with every answer
// would put one synced write per answer in the path of every run.
const SeenPersistInterval = 30 * time.Second

// New loads the persisted nodes; every node starts disconnected.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil {
		return nil, errors.New("registry: store is required")
	}
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Registry{store: cfg.Store, log: cfg.Log, now: cfg.Now, live: map[string]time.Time{}, nodes: map[string]*hubv1.Node{}, saved: map[string]time.Time{}}
	err := cfg.Store.View(func(t store.Txn) error {
		return t.Scan(store.NodePrefix, nil, func(key, value []byte) (bool, error) {
			n := &hubv1.Node{}
			if err := proto.Unmarshal(value, n); err != nil {
				return false, fmt.Errorf("decode node %s: %w", key, err)
			}
			n.Connected, n.ConnectedSince = false, nil
			r.nodes[n.GetCountry()] = n
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load registry: %w", err)
	}
	return r, nil
}

// Attached records that country's node opened a stream (replacing any
// earlier one) and introduced itself with hello; notAfter is its
// certificate's expiry.
func (r *Registry) Attached(country string, hello *federationv1.Hello, notAfter time.Time) error {
	return r.hello(country, hello, notAfter, true)
}

// Updated records a Hello repeated on an open stream (the node's agreement
// or version changed); it does not change whether the node is connected.
func (r *Registry) Updated(country string, hello *federationv1.Hello, notAfter time.Time) error {
	return r.hello(country, hello, notAfter, false)
}

func (r *Registry) hello(country string, hello *federationv1.Hello, notAfter time.Time, fresh bool) error {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	since, live := r.live[country]
	if fresh {
		since, live = now, true
		r.live[country] = now
	}
	n := r.nodeLocked(country)
	n.LastSeen = timestamppb.New(now)
	n.SoftwareVersion = hello.GetSoftwareVersion()
	n.Agreement = hello.GetAgreement()
	n.AgreementHash = hello.GetAgreement().GetHash()
	if !notAfter.IsZero() {
		n.CertificateNotAfter = timestamppb.New(notAfter)
	}
	// An update from a stream that has just been replaced or ended must not
	// mark the node connected again.
	if live {
		n.ConnectedSince = timestamppb.New(since)
		n.Connected = true
	}
	return r.persistLocked(n)
}

// Seen records a sign of life (heartbeat or answer) from country's node.
func (r *Registry) Seen(country string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	n := r.nodeLocked(country)
	n.LastSeen = timestamppb.New(now)
	if now.Sub(r.saved[country]) < SeenPersistInterval {
		return nil
	}
	return r.persistLocked(n)
}

// Detached records that country's stream ended.
func (r *Registry) Detached(country string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, country)
	n := r.nodeLocked(country)
	n.Connected, n.ConnectedSince = false, nil
	return r.persistLocked(n)
}

// Connected reports whether country's node has a stream open.
func (r *Registry) Connected(country string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.live[country]
	return ok
}

// Get returns a copy of country's node.
func (r *Registry) Get(country string) (*hubv1.Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.nodes[country]
	if !ok {
		return nil, fmt.Errorf("%s: %w", country, ErrNotFound)
	}
	return proto.CloneOf(n), nil
}

// List returns copies of every node, ordered by country code.
func (r *Registry) List() []*hubv1.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*hubv1.Node, 0, len(r.nodes))
	for _, n := range r.nodes {
		out = append(out, proto.CloneOf(n))
	}
	slices.SortFunc(out, func(a, b *hubv1.Node) int { return compare(a.GetCountry(), b.GetCountry()) })
	return out
}

// Countries returns the country code of every node seen, in order.
func (r *Registry) Countries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.nodes))
	for c := range r.nodes {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (r *Registry) nodeLocked(country string) *hubv1.Node {
	n, ok := r.nodes[country]
	if !ok {
		name, _ := codes.CountryName(country)
		n = &hubv1.Node{Country: country, Name: name}
		r.nodes[country] = n
	}
	return n
}

// persistLocked writes n without its live fields, which mean nothing after a
// restart.
func (r *Registry) persistLocked(n *hubv1.Node) error {
	p := proto.CloneOf(n)
	p.Connected, p.ConnectedSince = false, nil
	if err := r.store.Put(store.NodeKey(n.GetCountry()), p); err != nil {
		return fmt.Errorf("save node %s: %w", n.GetCountry(), err)
	}
	r.saved[n.GetCountry()] = r.now()
	return nil
}
