package federation

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
)

type nopAnswerer struct{}

func (nopAnswerer) Hello() *federationv1.Hello { return &federationv1.Hello{} }
func (nopAnswerer) Answer(context.Context, string, *federationv1.Task) (*federationv1.Answer, error) {
	return &federationv1.Answer{}, nil
}

func TestNewRequires(t *testing.T) {
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	for name, cfg := range map[string]Config{
		"no address":  {Answerer: nopAnswerer{}, DialOptions: dial},
		"no answerer": {HubAddr: "127.0.0.1:1", DialOptions: dial},
		"no dial":     {HubAddr: "127.0.0.1:1", Answerer: nopAnswerer{}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
}

func TestBackoffFullJitter(t *testing.T) {
	c, err := New(Config{HubAddr: "x:1", Answerer: nopAnswerer{}, DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		BackoffBase: 100 * time.Millisecond, BackoffMax: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for attempt := range 64 {
		ceil := min(2*time.Second, 100*time.Millisecond<<min(attempt, 20))
		var lo, hi time.Duration = time.Hour, 0
		for range 200 {
			d := c.backoff(attempt)
			lo, hi = min(lo, d), max(hi, d)
			if d <= 0 || d > ceil+time.Millisecond {
				t.Fatalf("attempt %d: wait %v outside (0, %v]", attempt, d, ceil)
			}
		}
		// Full jitter spreads the waits over the whole range, which is what
		// keeps nodes from reconnecting together after a hub restart.
		if attempt >= 3 && hi-lo < ceil/4 {
			t.Errorf("attempt %d: waits %v..%v are not spread over [0, %v)", attempt, lo, hi, ceil)
		}
	}
}

func TestRunSurvivesUnreachableHub(t *testing.T) {
	c, err := New(Config{HubAddr: "127.0.0.1:1", Answerer: nopAnswerer{},
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run: %v, want nil after ctx ends", err)
	}
	if c.Connected() {
		t.Error("connected to nothing")
	}
}
