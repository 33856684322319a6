package store

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/internal/synth"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// synthetic returns n plausible incidents, deterministic for a seed.
func synthetic(n int, seed uint64) []*recordv1.Incident {
	r := rand.New(rand.NewPCG(seed, 7))
	countries := []string{"IDN", "THA", "MYS", "AUS", "MMR", "AFG", "LKA", "BGD", "VNM", "PHL"}
	subdivisions := map[string]string{"IDN": "ID-RI", "THA": "TH-90", "MYS": "MY-01", "AUS": "AU-WA"}
	iccs := []string{"08051", "07023", "0204"}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	out := make([]*recordv1.Incident, n)
	for i := range out {
		at := pick(countries[:4])
		inc := &recordv1.Incident{
			NationalRef:     fmt.Sprintf("%s-%07d", at, i),
			ReportingAgency: "National Police",
			DetectedOn:      time.Date(2015+r.IntN(11), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format("2006-01-02"),
			DetectedAt:      &recordv1.Place{Country: at, Subdivision: subdivisions[at], Type: recordv1.LocationType(1 + r.IntN(5)), Name: "place"},
			IccsCodes:       []string{pick(iccs)},
			Route:           &recordv1.Route{Origin: pick(countries[4:]), Transit: []string{pick(countries[:4])}, Destination: "AUS"},
			TransportMode:   recordv1.TransportMode(1 + r.IntN(4)),
			Methods:         []recordv1.Method{recordv1.Method(1 + r.IntN(7))},
			Fee:             &recordv1.Fee{AmountPerPerson: float64(500 + r.IntN(10000)), Currency: "USD", Method: recordv1.PaymentMethod_PAYMENT_METHOD_CASH},
			Harm:            &recordv1.Harm{Deaths: int32(r.IntN(2))},
		}
		for range 1 + r.IntN(8) {
			inc.Migrants = append(inc.Migrants, &recordv1.Person{
				Citizenship: pick(countries[4:]), Sex: recordv1.Sex(1 + r.IntN(2)), Age: proto.Int32(int32(18 + r.IntN(40))),
			})
		}
		if r.IntN(2) == 0 {
			inc.Suspects = append(inc.Suspects, &recordv1.Person{
				Citizenship: at, Sex: recordv1.Sex_SEX_MALE, Role: recordv1.SuspectRole(1 + r.IntN(7)), LegalStatus: recordv1.LegalStatus(1 + r.IntN(5)),
			})
		}
		out[i] = inc
	}
	return out
}

// benchData is synthetic(n, 1), or with VRS_BENCH_DATA=synth the heavier
// records of internal/synth (about 2.5 KB and 29 persons each) that the
// bench command imports.
func benchData(b *testing.B, n int) []*recordv1.Incident {
	if os.Getenv("VRS_BENCH_DATA") != "synth" {
		return synthetic(n, 1)
	}
	g, err := synth.New(synth.Options{Country: "IDN", Seed: 1,
		From: time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	out := make([]*recordv1.Incident, n)
	for i := range out {
		out[i] = g.At(i)
	}
	return out
}

func benchSize(b *testing.B) int {
	if s := os.Getenv("VRS_BENCH_INCIDENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1_000_000
}

// BenchmarkBulkLoad measures the offline import path against a raw
// kv.Batch write of the same stored values, serialized and compressed
// beforehand (no validation, no classification, no encoding, no undo log,
// no index). Run with
//
//	go test -run '^$' -bench BulkLoad -benchtime 1x ./node/store/
//
// (VRS_BENCH_INCIDENTS sets the size, default 1,000,000; VRS_BENCH_DATA=synth
// uses the bench command's heavier records.) Each run is timed until the
// DB is closed: Badger flushes its memtables and finishes compactions in
// the background, and a run timed only until the last commit would leave
// out a share of the work that grows with the memtable size.
func BenchmarkBulkLoad(b *testing.B) {
	n := benchSize(b)
	incs := benchData(b, n)
	// CPU time is reported beside wall time: on a shared machine the wall
	// clock says more about the neighbours than about this code.
	var cpuStart time.Duration
	report := func(b *testing.B, start time.Time) {
		wall := time.Since(start)
		cpu := cpuTime() - cpuStart
		rate := float64(n) / wall.Seconds()
		b.ReportMetric(rate, "incidents/s")
		b.ReportMetric(float64(n)/cpu.Seconds(), "incidents/cpu-s")
		fmt.Printf("%-34s %9d incidents %10.0f incidents/s (wall %6.2fs, cpu %6.2fs = %5.1f µs/incident on %d cores)\n",
			b.Name(), n, rate, wall.Seconds(), cpu.Seconds(), float64(cpu.Microseconds())/float64(n), runtime.GOMAXPROCS(0))
	}
	// "synced" is the DB as the node opens it (every commit synced);
	// "bulk" as vrs-node import opens it (OpenDataDirBulk).
	opens := []struct {
		name string
		open func(b *testing.B, dir string) *kv.DB
	}{
		{"synced", func(b *testing.B, dir string) *kv.DB { return openDB(b, dir) }},
		{"bulk", func(b *testing.B, dir string) *kv.DB {
			db, err := OpenDataDirBulk(dir, logging.Discard())
			if err != nil {
				b.Fatal(err)
			}
			return db
		}},
	}
	for _, o := range opens {
		b.Run("store.BulkLoad-"+o.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				db := o.open(b, dir)
				s, err := New(Config{DB: db, Logger: logging.Discard()})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cpuStart = cpuTime()
				start := time.Now()
				res, err := s.BulkLoad(b.Context(), incs)
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				report(b, start)
				if res.Created != n {
					b.Fatalf("created %d", res.Created)
				}
				b.StopTimer()
				reportSize(b, dir)
			}
		})
	}
	b.Run("store.BulkLoad-again", func(b *testing.B) {
		// Re-importing the same file: every incident is read and compared,
		// nothing is written.
		for range b.N {
			b.StopTimer()
			db := openDB(b, b.TempDir())
			s, err := New(Config{DB: db, Logger: logging.Discard()})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.BulkLoad(b.Context(), incs); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			cpuStart = cpuTime()
			start := time.Now()
			res, err := s.BulkLoad(b.Context(), incs)
			if err != nil {
				b.Fatal(err)
			}
			report(b, start)
			if res.Unchanged != n {
				b.Fatalf("unchanged %d", res.Unchanged)
			}
			b.StopTimer()
			_ = db.Close()
		}
	})
	// The raw path writes the values the store writes (compressed), but
	// encodes them with the clock stopped.
	now := timestamppb.Now()
	c, err := newCodec()
	if err != nil {
		b.Fatal(err)
	}
	vals := make([][]byte, n)
	for i, inc := range incs {
		v, err := marshalStored(inc, 1, now, now)
		if err != nil {
			b.Fatal(err)
		}
		vals[i] = c.pack(v)
	}
	for _, o := range opens {
		b.Run("raw-kv.Batch-"+o.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				db := o.open(b, dir)
				b.StartTimer()
				cpuStart = cpuTime()
				start := time.Now()
				wb := db.NewBatch()
				for i, inc := range incs {
					if err := wb.Put(recKey(inc.GetNationalRef()), vals[i]); err != nil {
						b.Fatal(err)
					}
				}
				if err := wb.Flush(); err != nil {
					b.Fatal(err)
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				report(b, start)
				b.StopTimer()
				reportSize(b, dir)
			}
		})
	}
}

// reportSize prints the size of a closed store's directory.
func reportSize(b *testing.B, dir string) {
	b.Helper()
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			size += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("%-34s %9.1f MB on disk\n", b.Name(), float64(size)/(1<<20))
}

func TestSyntheticIsValid(t *testing.T) {
	incs := synthetic(500, 3)
	s, _ := openStore(t, t.TempDir(), newClock())
	s.now = time.Now
	if _, err := s.BulkLoad(t.Context(), incs); err != nil {
		t.Fatal(err)
	}
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
