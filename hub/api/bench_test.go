package api

import (
	"testing"

	"connectrpc.com/connect"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

// BenchmarkGetRegionalPicture is the handler alone (no transport) serving
// the cached picture to an operator.
func BenchmarkGetRegionalPicture(b *testing.B) {
	f, def := repFixture()
	svc := NewReportService(&genRuns{repRuns: f}, def, DefaultReportOptions())
	ctx := as(b, "spiffe://vrs.local/operator/alice")
	req := connect.NewRequest(&hubv1.GetRegionalPictureRequest{})
	for b.Loop() {
		if _, err := svc.GetRegionalPicture(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
