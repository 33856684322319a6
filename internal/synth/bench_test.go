package synth

import (
	"io"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
)

var benchOpts = Options{
	Country: "MYS",
	Seed:    42,
	From:    time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC),
	To:      time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC),
}

// BenchmarkWrite measures generating and encoding JSON Lines end to end.
func BenchmarkWrite(b *testing.B) {
	o := benchOpts
	o.Records = b.N
	b.ReportAllocs()
	b.ResetTimer()
	if err := Write(io.Discard, o); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkNext measures generation alone.
func BenchmarkNext(b *testing.B) {
	g, err := New(benchOpts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkMarshal measures protojson encoding alone.
func BenchmarkMarshal(b *testing.B) {
	g, err := New(benchOpts)
	if err != nil {
		b.Fatal(err)
	}
	inc := g.Next()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = protojson.MarshalOptions{}.MarshalAppend(buf[:0], inc)
	}
}
